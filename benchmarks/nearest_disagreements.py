"""Where a backend and the nearest-reference baseline disagree on theory, site by site.

The same repeated grouped CV as ``benchmarks/accuracy.py`` (5-fold by mineral, seeds
0..N-1, augmented training rows, unaugmented test spectra, each element on its default
grid). For one element and target it counts, over the repeats, the held-out sites that the
nearest reference gets right and the backend wrong ("nearest only") and the reverse
("backend only"), and names for each the mineral (CV group) of the training spectrum the
nearest reference answered from. Where the nearest reference's lead comes from a near-twin
in another group (a compound of the same study under another formula), that shows here.

    .venv/bin/python benchmarks/nearest_disagreements.py Ni cn [--backend lightgbm] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

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
    parser.add_argument("element")
    parser.add_argument("target", choices=("cn", "motif"))
    parser.add_argument("--backend", default="lightgbm")
    parser.add_argument("--repeats", type=int, default=5, help="shuffled fold assignments (seeds 0..N-1)")
    args = parser.parse_args()
    with open_database(None) as store:
        sites = select_sites(store.site_spectra(args.element))
        augmentation = augmentation_for(store.calculation(args.element))
    prep = preprocessing_for(args.element)
    ts = training_set(sites, args.target, prep, augmentation, site_features(sites, prep, augmentation))
    group_of = dict(zip(ts.site_ids, ts.groups))
    counts: Counter = Counter()
    for seed in range(args.repeats):
        run = cross_validate(ts, args.backend, fold_seed=seed, return_predictions=True)["predictions"]
        nearest = nearest_answers(ts, seed)
        for site, truth, other in zip(run["site_id"], run["true"], run["predicted"]):
            answer, source = nearest[site]
            if (answer == truth) != (other == truth):
                who = "nearest only" if answer == truth else "backend only"
                counts[(who, group_of[site], truth, answer, other, source)] += 1
    n_sites = int((~ts.augmented).sum())
    print(f"{args.element} {args.target}, {args.backend} against the nearest reference, "
          f"{args.repeats} repeats of {n_sites} sites\n")
    print(f"| right for | mineral | true | nearest reference | {args.backend} | nearest reference answered from | site-repeats |")
    print("|---|---|---|---|---|---|---|")
    for (who, mineral, truth, answer, other, src), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1])):
        print(f"| {who} | {mineral} | {truth} | {answer} | {other} | {src} | {n} |")
    for who in ("nearest only", "backend only"):
        total = sum(n for k, n in counts.items() if k[0] == who)
        print(f"\n{who}: {total} site-repeats ({total / args.repeats / n_sites:.3f} of the accuracy)", end="")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
