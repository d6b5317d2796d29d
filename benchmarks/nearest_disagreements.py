"""Where a backend and the nearest-reference baseline disagree on theory, site by site.

The same repeated grouped CV as ``benchmarks/accuracy.py`` (5-fold by mineral, seeds
0..N-1, augmented training rows, unaugmented test spectra, each element on its default
grid). For one element and target it counts, over the repeats, the held-out sites that the
nearest reference gets right and the backend wrong ("nearest only") and the reverse
("backend only"), and names for each the mineral (CV group) of the training spectrum the
nearest reference answered from. Where the nearest reference's lead comes from a near-twin
in another group (a compound of the same study under another formula), that shows here.

    .venv/bin/python benchmarks/nearest_disagreements.py Ni cn [Zn cn ...] [--backend lightgbm] [--repeats 5]
        [--write docs/validation/nearest_disagreements.md]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from validation_page import emit, provenance

from larch_motif.baselines import NearestReferenceBaseline
from larch_motif.database import open_database
from larch_motif.spectra import preprocessing_for
from larch_motif.training import (
    augmentation_for,
    cross_validate,
    grouped_folds,
    select_sites,
    site_features,
    training_set,
)


def nearest_answers(ts, fold_seed: int) -> dict[str, tuple[str, str]]:
    """Site id -> (the nearest reference's answer, the mineral (CV group) of the training
    spectrum it answers from), for every held-out site of the folds of ``fold_seed``: the
    baseline fitted as ``cross_validate`` fits it, on the fold's unaugmented training spectra."""
    answers = {}
    for train, test in grouped_folds(ts.groups, ts.augmented, fold_seed=fold_seed):
        ref = train[~ts.augmented[train]]
        best = ref[NearestReferenceBaseline().fit(ts.X[ref], ts.y[ref]).similarity(ts.X[test]).argmax(axis=1)]
        answers.update(zip(ts.site_ids[test], zip(ts.y[best], ts.groups[best])))
    return answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cells", nargs="+", metavar="ELEMENT TARGET",
                        help="one or more element and target pairs: Ni cn [Zn cn ...]")
    parser.add_argument("--backend", default="lightgbm")
    parser.add_argument("--repeats", type=int, default=5, help="shuffled fold assignments (seeds 0..N-1)")
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    if len(args.cells) % 2 or any(t not in ("cn", "motif") for t in args.cells[1::2]):
        parser.error(f"cells must be element and target pairs with target cn or motif, got {args.cells}")
    sections = [disagreements(el, target, args.backend, args.repeats)
                for el, target in zip(args.cells[::2], args.cells[1::2])]
    if args.write is None:
        print("\n\n".join(sections))
        return 0
    emit("\n".join(["# Where the trees and the nearest reference disagree", "",
                     provenance() + f". The repeated grouped CV of the theory table (5-fold by mineral, seeds "
                     f"0-{args.repeats - 1}, augmented training rows, unaugmented test spectra, each element on "
                     "its default grid): the held-out sites that one of the backend and the nearest-reference "
                     "baseline gets right and the other wrong, counted over the repeats (site-repeats), with "
                     "the mineral (CV group) of the training spectrum the nearest reference answered from. "
                     "The share of the accuracy is site-repeats / (repeats x sites).", "",
                     "\n\n".join(sections), ""]), args.write)
    return 0


def disagreements(element: str, target: str, backend: str, repeats: int) -> str:
    """The Markdown section of one element and target: a table and the two totals."""
    with open_database(None) as store:
        sites = select_sites(store.site_spectra(element))
        augmentation = augmentation_for(store.calculation(element))
    prep = preprocessing_for(element)
    ts = training_set(sites, target, prep, augmentation, site_features(sites, prep, augmentation))
    group_of = dict(zip(ts.site_ids, ts.groups))
    counts: Counter = Counter()
    for seed in range(repeats):
        run = cross_validate(ts, backend, fold_seed=seed, return_predictions=True)["predictions"]
        nearest = nearest_answers(ts, seed)
        for site, truth, other in zip(run["site_id"], run["true"], run["predicted"]):
            answer, source = nearest[site]
            if (answer == truth) != (other == truth):
                who = "nearest only" if answer == truth else "backend only"
                counts[(who, group_of[site], truth, answer, other, source)] += 1
    n_sites = int((~ts.augmented).sum())
    lines = [f"## {element} {target}", "",
             f"{backend} against the nearest reference, {repeats} repeats of {n_sites} sites.", "",
             f"| right for | mineral | true | nearest reference | {backend} | nearest reference answered from | site-repeats |",
             "|---|---|---|---|---|---|---|"]
    for (who, mineral, truth, answer, other, src), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1])):
        lines.append(f"| {who} | {mineral} | {truth} | {answer} | {other} | {src} | {n} |")
    lines.append("")
    for who in ("nearest only", "backend only"):
        total = sum(n for k, n in counts.items() if k[0] == who)
        lines.append(f"- {who}: {total} site-repeats ({total / repeats / n_sites:.3f} of the accuracy)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
