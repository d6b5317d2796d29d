"""The ``larch-motif`` command line: parses arguments, calls the library, prints results.

User errors (``LarchMotifError``) print one line on stderr and exit with status 2; nothing
else is done here.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from larch_motif.errors import LarchMotifError


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=None, help="database file (default: the bundled one)")


def _cmd_db_build(args: argparse.Namespace) -> int:
    from larch_motif.build import build_database
    from larch_motif.calculators import CalculationParameters

    params = CalculationParameters(
        edge=args.edge, cluster_radius_A=args.cluster_radius, fms_radius_A=args.fms_radius,
        scf_radius_A=args.scf_radius, xanes_kmax_invA=args.kmax, timeout_s=args.timeout)
    source = args.source
    report = build_database(
        args.element, edge=args.edge, db=args.db, source=source, limit=args.limit,
        per_mineral=args.per_mineral, workers=args.workers, scheduler=args.scheduler,
        params=params, calculator=args.calculator, retry_failed=args.retry_failed,
        progress=not args.quiet)
    out = report.__dict__
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print(f"{report.db_path}: {report.sites_new} new {report.element} {report.edge} site spectra, "
              f"{report.sites_failed} failed, {report.structures_new} structures read, "
              f"{report.compounds_new} compounds, {report.seconds:.0f} s")
        for reason, count in report.failures.items():
            print(f"  failed: {reason}: {count}")
    return 0


def _cmd_db_info(args: argparse.Namespace) -> int:
    from larch_motif.database import open_database

    with open_database(args.db) as db:
        info = db.info()
    if args.json:
        print(json.dumps({"elements": info["elements"]}, indent=1))
        return 0
    print(info["path"])
    for element, d in info["elements"].items():
        print(f"{element} {d['edge']}: {d['n_sites']} sites, {d['n_compounds']} compounds, "
              f"{d['n_minerals']} minerals, {d['pending']} pending")
        print("  CN:    " + ", ".join(f"{k}: {v}" for k, v in d["cn"].items()))
        print("  motif: " + ", ".join(f"{k}: {v}" for k, v in d["motif"].items()))
        for reason, count in d["failures"].items():
            print(f"  failed: {reason}: {count}")
    return 0


def _cmd_db_export(args: argparse.Namespace) -> int:
    from larch_motif.database import open_database

    with open_database(args.db) as db:
        if args.format == "hdf5":
            db.export_hdf5(args.out)
            print(args.out)
        else:
            for path in db.export_csv(args.out):
                print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="larch-motif",
        description="Coordination number and motif of the absorber from XANES (Larch plugin).")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="the theoretical XANES database").add_subparsers(dest="db_command", required=True)
    b = db.add_parser("build", help="compute (or resume) a database with FEFF10 on crystal structures")
    b.add_argument("--element", required=True, help="absorbing element, e.g. Fe")
    b.add_argument("--edge", default="K")
    b.add_argument("--source", default="amcsd", help="'amcsd' (shipped with larixite) or a folder of CIF files")
    b.add_argument("--limit", type=int, default=None, help="first N structures only")
    b.add_argument("--per-mineral", type=int, default=1, help="AMCSD CIFs per mineral (default 1)")
    b.add_argument("--workers", type=int, default=None, help="local processes (default: all cores)")
    b.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786)")
    b.add_argument("--calculator", default="feff10")
    b.add_argument("--cluster-radius", type=float, default=6.0, help="cluster radius, Angstrom")
    b.add_argument("--fms-radius", type=float, default=4.0, help="FMS radius, Angstrom")
    b.add_argument("--scf-radius", type=float, default=None, help="SCF radius, Angstrom (default: no SCF)")
    b.add_argument("--kmax", type=float, default=6.0, help="XANES grid end, 1/Angstrom")
    b.add_argument("--timeout", type=float, default=300.0, help="per-stage time limit, s")
    b.add_argument("--retry-failed", action="store_true", help="recompute failed sites")
    b.add_argument("--quiet", action="store_true", help="no progress line")
    b.add_argument("--json", action="store_true")
    _add_db(b)
    b.set_defaults(func=_cmd_db_build)
    i = db.add_parser("info", help="counts by element, CN, motif; failures by reason")
    _add_db(i)
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=_cmd_db_info)
    x = db.add_parser("export", help="export to HDF5 or CSV")
    _add_db(x)
    x.add_argument("--format", choices=("hdf5", "csv"), default="hdf5")
    x.add_argument("--out", required=True, help="HDF5 file or CSV folder")
    x.set_defaults(func=_cmd_db_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except LarchMotifError as exc:
        print(f"larch-motif: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("larch-motif: interrupted; computed results are kept", file=sys.stderr)
        return 130
    except OSError as exc:  # full disk, permissions: one line, nothing computed is lost
        print(f"larch-motif: error: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
