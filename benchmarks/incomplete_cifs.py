"""The AMCSD CIFs a database build reads that are refused as incomplete.

A build of ``element`` reads ``structures.amcsd_entries(element)`` (one CIF per mineral); an
entry whose CIF lacks an element that its formula, or its formula-like name, lists
(``structures.missing_elements``) carries the error "incomplete CIF" and is recorded as failed.
This lists them, per bundled element, with the number of entries read.

    .venv/bin/python benchmarks/incomplete_cifs.py [--elements Fe Mn Ni Cu Zn] [--write docs/validation/incomplete_cifs.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from validation_page import emit, provenance

from larch_motif.database import open_database
from larch_motif.structures import amcsd_entries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="*", default=None, help="default: all bundled")
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    if args.elements is None:
        with open_database(None) as store:
            args.elements = [el for el, _ in store.elements()]
    total, rows, read = 0, [], {}
    for element in args.elements:
        read[element] = 0
        for entry in amcsd_entries(element):
            total += 1
            read[element] += 1
            if (entry.error or "").startswith("incomplete CIF"):
                rows.append(f"| {element} | {entry.structure_id} | {entry.mineral} | {entry.error} |")
                if args.write is None:
                    print(f"{element} {entry.structure_id} {entry.mineral!r}: {entry.error}", flush=True)
    summary = f"{len(rows)} of {total} entries refused as incomplete ({', '.join(args.elements)})"
    if args.write is None:
        print(summary)
        return 0
    emit("\n".join(["# Incomplete CIFs refused", "",
                     provenance() + ". The AMCSD entries a database build of each element reads (one CIF per "
                     "mineral): an entry whose CIF lacks an element other than hydrogen that its formula, or "
                     "its formula-like name, lists is recorded as failed with the reason \"incomplete CIF\" "
                     "(its clusters and labels would describe another compound).", "",
                     "Entries read: " + ", ".join(f"{el} {n}" for el, n in read.items()) + f"; {summary}.", "",
                     "| element | structure | mineral | reason |", "|---|---|---|---|", *rows, ""]), args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
