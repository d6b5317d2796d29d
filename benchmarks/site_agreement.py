"""The CN answer where the site-averaged CN disagrees with it, on held-out theory compounds.

``predict`` answers a spectrum with a CN class (``cn``) and, beside it, the site-averaged CN of a
regressor trained on compound spectra (``cn_site_average``). Where the two are 0.5 CN or more
apart (``prediction.SITE_AVERAGE_TOLERANCE``) they cannot both be right for a compound whose sites
share one CN; the finding ``cn_site_average_disagree`` caps the CN confidence at
``prediction.SITE_AVERAGE_DISAGREEMENT_CONFIDENCE``. This measures what that rests on.

Grouped 5-fold CV by mineral (one shuffled assignment of minerals to folds, ``--seed``), the
default backend, each element's default grids: per fold, the CN classifier is trained on the
site spectra of the other minerals (augmented, derived structures where the element learns them,
as the shipped models) and the site-average regressor on their compound spectra (augmented as
shipped); both answer the held-out minerals' compound spectra (multiplicity-weighted over the
absorber sites, as a measured spectrum of the compound is). Compounds whose sites share one CN
are scored: how often the CN answer is right where the two agree and where they disagree, and at
a model probability (top class, before tempering and calibration) >= 0.9. Compounds with sites
of different CN (mixed) are counted: how many disagree, how many at p >= 0.9.

    .venv/bin/python benchmarks/site_agreement.py [--elements Fe Mn] [--seed 0]
        [--write docs/validation/site_agreement.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from validation_page import emit, provenance

from larch_motif.database import open_database
from larch_motif.models import MotifClassifier
from larch_motif.prediction import SITE_AVERAGE_DISAGREEMENT_CONFIDENCE, SITE_AVERAGE_TOLERANCE
from larch_motif.spectra import preprocessing_for
from larch_motif.training import (
    DEFAULT_BACKEND,
    DEFAULT_SITE_DOMAIN,
    SiteAverageRegressor,
    augmentation_for,
    cv_group,
    derived_pool,
    select_compounds,
    select_sites,
    shape_components_for,
    site_features,
    training_set_with_derived,
)

FIELDS = ("pure", "agree", "agree_right", "disagree", "disagree_right", "disagree_hi", "disagree_hi_right",
          "mixed", "mixed_disagree", "mixed_disagree_hi")


def fold_of(groups: np.ndarray, cv: int, seed: int) -> dict[str, int]:
    """A fold number for every mineral in ``groups``: the minerals shuffled with ``seed`` and dealt
    round the ``cv`` folds, so that the classifier's sites and the regressor's compounds of one
    mineral are held out together."""
    minerals = np.unique(groups)
    np.random.default_rng(seed).shuffle(minerals)
    return {str(g): k % cv for k, g in enumerate(minerals)}


def held_out(element: str, backend: str, seed: int, cv: int = 5) -> list[dict]:
    """``{truth (site-averaged CN), cn (class answer), p (top probability), site_average}`` for
    every held-out compound spectrum of ``element``."""
    with open_database(None) as store:
        rows = store.site_spectra(element)
        sites = select_sites(rows)
        compounds = select_compounds(store.compound_spectra(element), rows, DEFAULT_SITE_DOMAIN)
        calculation = store.calculation(element)
    prep = preprocessing_for(element)
    derived, _ = derived_pool(element, "cn")
    ts = training_set_with_derived(sites, "cn", prep, augmentation_for(calculation, "cn"), derived)
    mean = site_features(compounds, preprocessing_for(element, target="cn_mean"),
                         augmentation_for(calculation, "cn_mean"))
    y_mean = np.array([compounds[k]["cn_mean"] for k in mean.site_index], float)
    g_mean = np.array([cv_group(compounds[k]) for k in mean.site_index])
    plain = site_features(compounds, prep, None)  # the compound spectra on the classifier's grid
    g_plain = np.array([cv_group(compounds[k]) for k in plain.site_index])
    folds = fold_of(np.concatenate([ts.groups, g_mean]), cv, seed)
    f_cls, f_mean, f_test = (np.array([folds[str(g)] for g in a]) for a in (ts.groups, g_mean, g_plain))
    unaugmented = {int(s): j for j, s in enumerate(mean.site_index) if not mean.augmented[j]}
    out = []
    for k in range(cv):
        test = np.flatnonzero(f_test == k)
        if not test.size:
            continue
        train = f_cls != k
        clf = MotifClassifier(backend, None, random_state=0, shape_components=shape_components_for(backend)).fit(
            ts.X[train], ts.y[train], sample_weight=None if ts.weights is None else ts.weights[train],
            shape_rows=~ts.augmented[train])
        reg = SiteAverageRegressor(backend, None, 0).fit(mean.X[f_mean != k], y_mean[f_mean != k])
        proba = clf.predict_proba(plain.X[test])
        site_average = reg.predict(mean.X[[unaugmented[int(plain.site_index[i])] for i in test]])
        for i, p, s in zip(test, proba, site_average):
            out.append({"truth": float(compounds[plain.site_index[i]]["cn_mean"]),
                        "cn": str(np.asarray(clf.classes_)[p.argmax()]), "p": float(p.max()), "site_average": float(s)})
    return out


def count(answers: list[dict], tolerance: float = SITE_AVERAGE_TOLERANCE, high: float = 0.9) -> dict[str, int]:
    """The ``FIELDS`` counts of ``held_out``'s answers."""
    c = dict.fromkeys(FIELDS, 0)
    for a in answers:
        disagree = abs(a["site_average"] - float(a["cn"])) >= tolerance
        hi = a["p"] >= high
        if abs(a["truth"] - round(a["truth"])) > 1e-6:
            c["mixed"] += 1
            c["mixed_disagree"] += disagree
            c["mixed_disagree_hi"] += disagree and hi
            continue
        right = float(a["cn"]) == a["truth"]
        c["pure"] += 1
        if disagree:
            c["disagree"] += 1
            c["disagree_right"] += right
            c["disagree_hi"] += hi
            c["disagree_hi_right"] += hi and right
        else:
            c["agree"] += 1
            c["agree_right"] += right
    return c


def _share(n: int, of: int) -> str:
    return f"{n} of {of} ({n / of:.2f})" if of else "-"


def render(counts: dict[str, dict], args: argparse.Namespace) -> str:
    total = {f: sum(c[f] for c in counts.values()) for f in FIELDS}
    lines = ["# The CN answer where the site-averaged CN disagrees", "",
             provenance() + f". Grouped 5-fold CV by mineral (minerals shuffled to folds with seed {args.seed}), "
             f"{args.backend}, held-out compound spectra (multiplicity-weighted over the absorber sites). "
             f"Disagree: the site-averaged CN is {SITE_AVERAGE_TOLERANCE} or more from the CN answer. "
             "p: the classifier's top probability (before tempering and calibration). Pure: compounds whose "
             "sites share one CN (the CN answer is right or wrong); mixed: sites of different CN.", "",
             "| element | pure compounds | CN right where they agree | disagree | CN right where they disagree "
             "| disagree at p >= 0.9: right | mixed | mixed that disagree (at p >= 0.9) |",
             "|---|---|---|---|---|---|---|---|"]
    for el, c in [*counts.items(), ("all", total)]:
        lines.append(f"| {el} | {c['pure']} | {_share(c['agree_right'], c['agree'])} | {c['disagree']} | "
                     f"{_share(c['disagree_right'], c['disagree'])} | {_share(c['disagree_hi_right'], c['disagree_hi'])} "
                     f"| {c['mixed']} | {c['mixed_disagree']} ({c['mixed_disagree_hi']}) |")
    lines += ["", f"`predict` caps the CN confidence of a disagreeing answer at "
              f"`prediction.SITE_AVERAGE_DISAGREEMENT_CONFIDENCE` = {SITE_AVERAGE_DISAGREEMENT_CONFIDENCE:g}, "
              "the share right where they disagree, rounded (finding `cn_site_average_disagree`).", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="*", default=None, help="default: all bundled")
    parser.add_argument("--seed", type=int, default=0, help="shuffle of minerals to folds")
    parser.add_argument("--backend", default=DEFAULT_BACKEND)
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    with open_database(None) as store:
        elements = args.elements or [el for el, _ in store.elements()]
    counts = {}
    for el in elements:
        counts[el] = count(held_out(el, args.backend, args.seed))
        print(el, counts[el], file=sys.stderr, flush=True)
    emit(render(counts, args), args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
