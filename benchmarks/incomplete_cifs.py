"""The AMCSD CIFs a database build reads that are refused as incomplete.

A build of ``element`` reads ``structures.amcsd_entries(element)`` (one CIF per mineral); an
entry whose CIF lacks an element that its formula, or its formula-like name, lists
(``structures.missing_elements``) carries the error "incomplete CIF" and is recorded as failed.
This lists them, per bundled element, with the number of entries read.

    .venv/bin/python benchmarks/incomplete_cifs.py [--elements Fe Mn Ni Cu Zn]
"""

from __future__ import annotations

import argparse
import sys

from larch_motif.database import open_database
from larch_motif.structures import amcsd_entries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="*", default=None, help="default: all bundled")
    args = parser.parse_args()
    if args.elements is None:
        with open_database(None) as store:
            args.elements = [el for el, _ in store.elements()]
    total = refused = 0
    for element in args.elements:
        for entry in amcsd_entries(element):
            total += 1
            if (entry.error or "").startswith("incomplete CIF"):
                refused += 1
                print(f"{element} {entry.structure_id} {entry.mineral!r}: {entry.error}", flush=True)
    print(f"{refused} of {total} entries refused as incomplete ({', '.join(args.elements)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
