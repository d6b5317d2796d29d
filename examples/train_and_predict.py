"""Train a CN classifier on the bundled Fe database and predict measured spectra with it.

    .venv/bin/python examples/train_and_predict.py SPECTRUM [SPECTRUM ...]

Prints the grouped-CV scores of the model, then CN with probabilities for each spectrum and
whatever the domain check found.
"""

import sys

import larch_motif


def main(files: list[str]) -> None:
    model, report = larch_motif.train("Fe", "cn", backend="xgboost", cv=5, out="fe_cn_xgboost.lmm")
    print(f"grouped 5-fold CV: accuracy {report['accuracy']:.3f}, "
          f"balanced accuracy {report['balanced_accuracy']:.3f} on {report['n_spectra']} spectra")
    for res in larch_motif.predict(files, model=model, target="cn"):
        probabilities = ", ".join(f"CN {k}: {v:.2f}" for k, v in res["cn_probabilities"].items())
        print(f"{res['file']}: CN {res['cn']} ({probabilities}); E0 {res['e0']:.1f} eV; "
              f"{'in domain' if res['in_domain'] else 'OUT OF DOMAIN'}")
        for warning in res["warnings"]:
            print(f"  warning: {warning}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
