"""What the default Fe CN model reads: TreeSHAP of a tetrahedral and an octahedral site, and of
the model over its spectra, as a validation page with the pictures.

Runs ``examples/explain_fe_cn.py`` (the first T:4 and the first O:6 Fe site of the bundled
database, written as measured-like files) into a scratch folder and copies its figures beside
the page.

    .venv/bin/python benchmarks/explanations.py --write docs/validation/explanations.md
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from explain_fe_cn import explain_sites  # noqa: E402
from validation_page import emit, provenance  # noqa: E402

from larch_motif.training import DEFAULT_BACKEND  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = explain_sites(Path(tmp))
        pictures = []
        if args.write is not None:
            args.write.parent.mkdir(parents=True, exist_ok=True)
            for figure in result["figures"]:
                target = args.write.parent / f"explanations_{figure.name}"
                shutil.copyfile(figure, target)
                pictures += [f"![{figure.stem}]({target.name})", ""]
    lines = ["# What the Fe CN model reads", "",
             provenance() + f". The default Fe CN model ({DEFAULT_BACKEND}) on the first tetrahedral (T:4) and "
             "the first octahedral (O:6) Fe site of the bundled database, each written as a measured-like file "
             "(broadened, sloped background, edge step 1.7): the answer with its tempered probability, the "
             "model output (probability or margin, log-odds) as the expected value plus the SHAP values, and "
             "the SHAP values summed over the regions (pre-edge below -2 eV, rising edge -2 to +5, white line "
             "+5 to +15, post-edge above +15, from E0 at half the edge step). Then the global explanation "
             "over the training spectra: what decides each class most.", "",
             *[f"- {line}" for line in result["sites"]], "",
             *[f"- {line}" for line in result["summary"]], "", *pictures]
    emit("\n".join(lines), args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
