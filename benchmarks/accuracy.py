"""Grouped-CV accuracy of every backend and baseline, for every element of the bundled database.

The same computation as ``larch-motif demo`` (``larch_motif.demo.compare_methods``: grouped
5-fold CV by mineral on the anion-coordinated sites, augmented training rows, scores on the
unaugmented site spectra), for CN and motif of each element; prints a Markdown table of
accuracy, balanced accuracy and mean Brier score (0 sure and right, 2 sure and wrong), and a
second table that pairs each backend with the nearest-reference baseline site by site: the
sites only the backend gets right, those only the baseline gets right, and the two-sided
exact McNemar p-value of that split (how likely so uneven a split is if both were equally
good; a small database makes differences of a few sites no evidence either way).

``--group-by family`` makes the folds stricter: sites are grouped by structure type
(``structures.structure_family``: space group and cation:anion ratio, read again from
the AMCSD CIFs), so a held-out compound has no isostructural relative of other chemistry in its
training folds, as a measured compound of a new structure type would not.

``--no-augmentation`` trains the backends on the unaugmented spectra only, to show what the
augmentation (which the transfer to measurements needs) costs on theory.

Every method sees the features of the element's default models (``spectra.preprocessing_for``);
``--grid-max-eV`` sets the upper end of the feature grid (eV above E0) instead, for every
element and method, to compare representations on the same folds; ``--grid-min-eV`` its lower
end (eV relative to E0, e.g. -12 to take in the 1s->3d pre-edge).

``--derivative`` appends d(norm)/dE on the same grid to the features of every method (as the
short-scan window models do), to compare that representation on the same folds.

``--repeats N`` repeats the comparison on N assignments of the groups to folds (shuffled with
seeds 0..N-1; without it the assignment of ``GroupKFold``, the demo's): the cells are then means
over the repeats, and a second table counts, for each backend and baseline, the repeats in
which the backend's accuracy is above, level with or below the baseline's. With a few hundred
sites, moving one mineral to another fold moves a score by a site or two, so a lead that
holds in most repeats says more than one that holds in one assignment.

Each finished repeat of an element and target is kept (``validation_page.Checkpoint``, under
``benchmarks/checkpoints/accuracy/``), so a run that stops resumes where it stopped, in this session
or a later one, as long as the package's code and data, this script and the arguments are the same.

    .venv/bin/python benchmarks/accuracy.py [--elements Fe Mn] [--group-by family] [--no-augmentation]
        [--grid-max-eV 100] [--grid-min-eV -12] [--derivative] [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from scipy.stats import binomtest
from validation_page import Checkpoint, emit, provenance

from larch_motif.database import open_database
from larch_motif.demo import compare_methods
from larch_motif.spectra import Preprocessing, preprocessing_for
from larch_motif.structures import amcsd_entries, structure_family
from larch_motif.training import augmentation_for, derived_pool, select_sites, site_features


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="*", default=None, help="default: all bundled")
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--group-by", choices=("mineral", "family"), default="mineral",
                        help="CV groups: mineral name (as the demo) or structure type")
    parser.add_argument("--no-augmentation", action="store_true",
                        help="train on the unaugmented spectra only (what augmentation costs on theory)")
    parser.add_argument("--grid-max-eV", type=float, default=None,
                        help="upper end of the feature grid (eV above E0); default: the element's default")
    parser.add_argument("--grid-min-eV", type=float, default=None,
                        help="lower end of the feature grid (eV relative to E0); default: the element's default")
    parser.add_argument("--derivative", action="store_true",
                        help="append d(norm)/dE to every method's features (Preprocessing.derivative)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="shuffled assignments of the groups to folds (default 1: GroupKFold's own)")
    parser.add_argument("--backends", nargs="*", default=None,
                        help="backends to cross-validate beside the baselines (default: every built-in one)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--write", type=Path, default=None, help="also write the page there (Markdown)")
    args = parser.parse_args()
    with open_database(None) as store:
        elements = args.elements or [el for el, _ in store.elements()]
        sites = {el: select_sites(store.site_spectra(el)) for el in elements}
        augmentations = {el: None if args.no_augmentation else augmentation_for(store.calculation(el))
                         for el in elements}
    if args.group_by == "family":
        for el in elements:
            group_by_family(sites[el], el)
    seeds = [None] if args.repeats <= 1 else list(range(args.repeats))
    checkpoint = Checkpoint(Path(__file__).name, {k: v for k, v in vars(args).items()
                                                   if k not in ("elements", "json", "write")})
    table: dict = {}
    for el in elements:
        t0 = time.perf_counter()
        augmentation = augmentations[el]
        table[el] = {"n_sites": len(sites[el]), "n_groups": len({s["mineral"] for s in sites[el]})}
        prep = preprocessing_for(el) if args.grid_max_eV is None else Preprocessing(grid_max_eV=args.grid_max_eV)
        if args.derivative:
            prep = dataclasses.replace(prep, derivative=True)
        if args.grid_min_eV is not None:
            prep = dataclasses.replace(prep, grid_min_eV=args.grid_min_eV)
        computed = site_features(sites[el], prep, augmentation)
        table[el]["grid_max_eV"] = prep.grid_max_eV
        table[el]["grid_min_eV"] = prep.grid_min_eV
        for target in ("cn", "motif"):
            derived = derived_pool(el, target)[0]  # as the default models train (training.DERIVED_ELEMENTS)
            backends = {} if args.backends is None else {"backends": tuple(args.backends)}
            runs = []
            for k, seed in enumerate(seeds):
                piece = f"{el}_{target}_seed{seed}"
                run = checkpoint.get(piece)
                if run is None:
                    run = compact(compare_methods(sites[el], target, prep, augmentation, args.cv,
                                                  computed=computed, fold_seed=seed, derived=derived, **backends),
                                  predictions=k == 0)
                    checkpoint.put(piece, run)
                runs.append(run)
            table[el][target] = mean_over_repeats(runs)
            table[el][target]["paired"] = paired_with(runs[0], "baseline:nearest_reference")
            table[el][target]["repeats"] = lead_counts(runs)
        table[el]["seconds"] = round(time.perf_counter() - t0, 1)
        print(f"{el}: done in {table[el]['seconds']} s (pieces kept in {checkpoint.folder})", file=sys.stderr)
    if args.json:
        print(json.dumps(table, indent=1))
        return 0
    lines: list[str] = ["# Theory: grouped cross-validation per element", "",
                        provenance() + ". Measured-spectrum checks: `docs/validation/measured.md`; "
                        "elements without a measured file here are checked on theory only.", ""]

    def out(text: str) -> None:
        lines.extend(text.split("\n"))

    methods = [m for m in table[elements[0]]["cn"] if m not in ("best", "paired", "repeats")]
    out("| element (sites) | target | " + " | ".join(m.replace("baseline:", "") for m in methods) + " |")
    out("|---|---|" + "---|" * len(methods))
    for el in elements:
        for target in ("cn", "motif"):
            cells = []
            for m in methods:
                r = table[el][target].get(m)
                cells.append("-" if r is None else
                             f"{r['accuracy']:.3f} ({r['balanced_accuracy']:.2f}; {r['brier']:.3f}/{r['brier_calibrated']:.3f})")
            out(f"| {el} ({table[el]['n_sites']}) | {target} | " + " | ".join(cells) + " |")
    groups = ", ".join(f"{el} {table[el]['n_groups']}" for el in elements)
    folds = ("GroupKFold's assignment of groups to folds" if args.repeats <= 1 else
             f"means over {args.repeats} shuffled assignments of groups to folds (seeds 0-{args.repeats - 1})")
    out(f"\ncells: accuracy (balanced accuracy; mean Brier score / tempered out of sample), grouped {args.cv}-fold CV by "
          f"{args.group_by} ({groups} groups), {folds}; grid to "
          + ", ".join(f"{el} {table[el]['grid_min_eV']:+.0f} to +{table[el]['grid_max_eV']:.0f}" for el in elements)
          + " eV around E0")
    if args.repeats > 1:
        baselines = [m for m in methods if m.startswith("baseline:")]
        out("\n| element | target | backend | " + " | ".join(
            f"vs {b.replace('baseline:', '')}: above / level / below" for b in baselines) + " |")
        out("|---|---|---|" + "---|" * len(baselines))
        for el in elements:
            for target in ("cn", "motif"):
                for backend, counts in table[el][target]["repeats"].items():
                    out(f"| {el} | {target} | {backend} | " + " | ".join(
                        "-" if b not in counts else "{above} / {level} / {below}".format(**counts[b])
                        for b in baselines) + " |")
        out("\n(site-by-site pairs below: the first repeat, seed 0)")
    out("\n| element | target | backend | right only by the backend | right only by the nearest reference "
          "| McNemar p |\n|---|---|---|---|---|---|")
    for el in elements:
        for target in ("cn", "motif"):
            for backend, pair in table[el][target]["paired"].items():
                out(f"| {el} | {target} | {backend} | {pair['only_method']} | {pair['only_baseline']} "
                      f"| {pair['p_value']:.2f} |")
    emit("\n".join(lines) + "\n", args.write)
    return 0


SCORES = ("accuracy", "balanced_accuracy", "macro_f1", "brier", "brier_calibrated", "seconds")


def compact(run: dict, predictions: bool) -> dict:
    """What the page reads of one ``compare_methods`` result, as ``Checkpoint`` keeps it: each
    method's ``SCORES`` and, with ``predictions`` (the first repeat, which ``paired_with``
    reads), its held-out answers site by site."""
    out: dict = {"best": run["best"]}
    for m, res in run.items():
        if m == "best":
            continue
        out[m] = {k: float(res[k]) for k in SCORES}
        if predictions:
            out[m]["predictions"] = {k: list(res["predictions"][k]) for k in ("site_id", "true", "predicted")}
    return out


def mean_over_repeats(runs: list[dict]) -> dict:
    """Each method's scores averaged over the repeats (``compare_methods`` results), and
    ``best`` of the first."""
    out: dict = {"best": runs[0]["best"]}
    for m in runs[0]:
        if m != "best":
            out[m] = {k: float(sum(r[m][k] for r in runs) / len(runs)) for k in SCORES}
    return out


def lead_counts(runs: list[dict]) -> dict:
    """For each backend and baseline: in how many repeats the backend's accuracy is above,
    level with (within 1e-9) or below the baseline's."""
    backends = [m for m in runs[0] if m != "best" and not m.startswith("baseline:")]
    baselines = [m for m in runs[0] if m.startswith("baseline:")]
    out: dict = {}
    for b in backends:
        out[b] = {}
        for base in baselines:
            d = [r[b]["accuracy"] - r[base]["accuracy"] for r in runs]
            out[b][base] = {"above": sum(x > 1e-9 for x in d), "level": sum(abs(x) <= 1e-9 for x in d),
                            "below": sum(x < -1e-9 for x in d)}
    return out


def group_by_family(sites: list[dict], element: str) -> None:
    """Set each site's CV group (its ``mineral`` key) to its structure's ``structure_family``."""
    wanted = {s["structure_id"] for s in sites}
    t0 = time.perf_counter()
    family = {e.structure_id: structure_family(e.structure) for e in amcsd_entries(element)
              if e.structure_id in wanted and e.structure is not None}
    for s in sites:
        s["mineral"] = "family " + family.get(s["structure_id"], s["mineral"] or s["structure_id"])
    print(f"{element}: {len(set(family.values()))} structure types for {len(wanted)} structures "
          f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)


def paired_with(results: dict, baseline: str) -> dict:
    """Site-by-site comparison of each backend of ``results`` (``compare_methods``) with one
    baseline: the sites only one of the two gets right, and the exact McNemar p-value."""
    def right(name: str) -> dict:
        pred = results[name]["predictions"]
        return {s: t == p for s, t, p in zip(pred["site_id"], pred["true"], pred["predicted"])}

    base = right(baseline)
    out = {}
    for name in results:
        if name == "best" or name.startswith("baseline:"):
            continue
        mine = right(name)
        only_method = sum(mine[s] and not base[s] for s in base)
        only_baseline = sum(base[s] and not mine[s] for s in base)
        n = only_method + only_baseline
        out[name] = {"only_method": only_method, "only_baseline": only_baseline,
                     "p_value": binomtest(only_method, n).pvalue if n else 1.0}
    return out


if __name__ == "__main__":
    sys.exit(main())
