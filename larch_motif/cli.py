"""The ``larch-motif`` command line: parses arguments, calls the library, prints results.

User errors (``LarchMotifError``) print one line on stderr and exit with status 2; nothing
else is done here.
"""

from __future__ import annotations

import argparse
import gc
import json
import sqlite3
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
        progress=not args.quiet, site_domain=args.site_domain, refresh=args.refresh)
    out = report.__dict__
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print(f"{report.db_path}: {report.sites_new} new {report.element} {report.edge} site spectra, "
              f"{report.sites_failed} failed, {report.structures_new} structures read "
              f"({report.structures_refreshed} of them again, changed), "
              f"{report.compounds_new} compounds, {report.seconds:.0f} s")
        for reason, count in report.failures.items():
            print(f"  failed: {reason}: {count}")
    return 0


def _cmd_db_derive(args: argparse.Namespace) -> int:
    from larch_motif.build import build_derived

    donors = None
    if args.donors:
        donors = {}
        for spec in args.donors:  # Zn:T:4 -> {"Zn": ("T:4",)}
            donor, _, motif = spec.partition(":")
            if not motif:
                raise LarchMotifError(f"--donors takes DONOR:MOTIF (e.g. Zn:T:4), not {spec!r}")
            donors.setdefault(donor, ())
            donors[donor] += (motif,)
    report = build_derived(args.element, args.db, donors, per_donor=args.per_donor, workers=args.workers,
                           timeout_s=args.timeout, progress=not args.quiet)
    return _report_build(report, args, f"{report.sites_new} new derived {report.element} site spectra, "
                         f"{report.sites_failed} failed, {report.structures_new} structures derived")


def _report_build(report, args: argparse.Namespace, headline: str) -> int:
    """Print a build's report: JSON with ``--json``, else the headline and the failures by reason."""
    if args.json:
        print(json.dumps(report.__dict__, indent=1))
    else:
        print(f"{report.db_path}: {headline}, {report.seconds:.0f} s")
        for reason, count in report.failures.items():
            print(f"  failed: {reason}: {count}")
    return 0


def _cmd_db_parametric(args: argparse.Namespace) -> int:
    from larch_motif.calculators import CalculationParameters
    from larch_motif.parametric import PARAMETRIC_CALCULATION, build_parametric

    params = CalculationParameters(**{**PARAMETRIC_CALCULATION.as_dict(), "edge": args.edge,
                                      "fms_radius_A": args.fms_radius, "xanes_kmax_invA": args.kmax,
                                      "timeout_s": args.timeout})
    report = build_parametric(args.element, args.motif, args.n, args.db, edge=args.edge,
                              reference=args.reference, seed=args.seed, params=params,
                              workers=args.workers, retry_failed=args.retry_failed,
                              progress=not args.quiet)
    return _report_build(report, args, f"{report.sites_new} new {args.element} {args.motif} design points, "
                         f"{report.sites_failed} failed")


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
        calc = d.get("calculation") or {}
        if calc:
            p = calc.get("parameters", {})
            scf = p.get("scf_radius_A")
            print(f"  {calc.get('calculator')}: cluster {p.get('cluster_radius_A')} A, FMS {p.get('fms_radius_A')} A, "
                  f"SCF {'none' if scf is None else f'{scf} A'}, kmax {p.get('xanes_kmax_invA')} 1/A"
                  + (f", cards {p['extra_cards']}" if p.get("extra_cards") else ""))
        print("  CN:    " + ", ".join(f"{k}: {v}" for k, v in d["cn"].items()))
        print("  motif: " + ", ".join(f"{k}: {v}" for k, v in d["motif"].items()))
        for reason, count in d["failures"].items():
            print(f"  failed: {reason}: {count}")
    return 0


def _cmd_db_replace_element(args: argparse.Namespace) -> int:
    from larch_motif.database import SpectralDatabase

    with SpectralDatabase(args.db, writable=True) as db, db.build_lock():
        res = db.replace_element(args.source, args.element, args.edge)
        db.finalize()
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(f"{db.path}: {args.element} {args.edge} now from {args.source}: "
              f"{res['sites_before']} -> {res['sites_after']} sites")
    return 0


def _cmd_db_relabel(args: argparse.Namespace) -> int:
    from larch_motif.database import SpectralDatabase

    with SpectralDatabase(args.db, writable=True) as db, db.build_lock():
        res = db.relabel_strong_bonds(args.element, args.edge)
        db.finalize()
    if args.json:
        print(json.dumps(res, indent=1))
    elif res["cut"] is None:
        print(f"{db.path}: {args.element} {args.edge} keeps ChemEnv's labels (no strong-bond count for it)")
    else:
        moved = ", ".join(f"{k}: {v}" for k, v in res["relabelled"].items()) or "none to change"
        print(f"{db.path}: {args.element} {args.edge} counted by strong bonds (<= {res['cut']} x the shortest): {moved}")
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


def _cmd_train(args: argparse.Namespace) -> int:
    from larch_motif.training import train

    params = json.loads(args.params) if args.params else None
    _, report = train(args.element, args.target, args.backend, db=args.db, edge=args.edge,
                      cv=args.cv or None, out=args.out, backend_params=params,
                      site_domain=args.site_domain)
    report["model"] = args.out
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{args.element} {args.edge} {args.target} with {args.backend}: {report['n_spectra']} spectra, "
          f"{report['n_groups']} minerals")
    if args.cv:
        print(f"  grouped {args.cv}-fold CV: accuracy {report['accuracy']:.3f}, balanced accuracy "
              f"{report['balanced_accuracy']:.3f}, macro F1 {report['macro_f1']:.3f}")
        print(f"  class probabilities: Brier score {report['brier']:.3f}, tempered out of sample "
              f"{report['brier_calibrated']:.3f}; temperature stored in the model {report['temperature']:.2f}")
        cm = report["confusion_matrix"]
        print("  confusion (rows true, columns predicted): " + " ".join(cm["labels"]))
        for label, row in zip(cm["labels"], cm["matrix"]):
            print(f"    {label:>6} " + " ".join(f"{v:4d}" for v in row))
    print(f"  model written to {args.out} ({report['seconds']:.1f} s)")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from larch_motif.prediction import predict_iter
    from larch_motif.spectra import spectrum_files

    # batches keep memory bounded on thousands of files; a bad file is reported, not fatal
    results = predict_iter(spectrum_files(args.files), model=args.model, element=args.element, target=args.target,
                           group=args.group, normalized=args.normalized, backend=args.backend,
                           min_confidence=args.min_confidence, errors="flag", mu_columns=args.mu_columns,
                           herfd=args.herfd)
    collected, failed = [], 0
    for res in results:
        if res.error is not None:
            failed += 1
            print(f"larch-motif: error: {res.error}", file=sys.stderr)
        collected.append(res)
    if not args.json:
        from larch_motif.summary import results_table, summary_text

        print(summary_text(collected[0]) if len(collected) == 1 else results_table(collected), flush=True)
    if args.json:
        print(json.dumps([res.to_dict() for res in collected], indent=1))
    return 2 if failed else 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from larch_motif.explain import explain_spectrum, plot_explanation
    from larch_motif.prediction import (
        _as_group,
        _bundled_elements,
        element_to_answer,
        resolve_models,
    )
    from larch_motif.spectra import normalize, spectrum_files

    files = spectrum_files(args.files)  # before the model: a wrong folder is told at once
    find_element = args.model is None and args.element is None
    bundled = _bundled_elements() if find_element else None
    models: dict[str | None, object] = {}
    out = []
    for k, path in enumerate(files):
        spectrum, element = path, args.element
        if find_element:  # from E0, as predict does; the Group read here is the one explained
            spectrum = _as_group(path, args.group, args.normalized, args.mu_columns)
            spectrum.motif_warnings = []
            normalize(spectrum)
            element, _ = element_to_answer(spectrum, bundled)
        if element not in models:
            (models[element],) = resolve_models(args.target, args.model, element).values()
        expl = explain_spectrum(spectrum, models[element], args.class_name, group=args.group,
                                normalized=args.normalized, mu_columns=args.mu_columns, herfd=args.herfd)
        if args.plot:
            plot = args.plot if len(files) == 1 else f"{args.plot.rsplit('.', 1)[0]}_{k}.png"
            plot_explanation(expl, plot)
        out.append({k: v for k, v in expl.to_dict().items() if k != "norm"})
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    for expl in out:
        print(f"{expl['file']}: {expl['element']} {expl['target']} {expl['class']} (model output {expl['model_output']:.3f} "
              f"{expl['output_space']}, expected {expl['expected_value']:.3f})")
        for name, value in expl["regions"].items():
            print(f"  {name:12s} {value:+.3f}")
        for w in expl["warnings"]:
            print(f"  warning: {w}")
    return 0


def _cmd_explain_model(args: argparse.Namespace) -> int:
    from larch_motif.explain import explain_model, plot_model_explanation
    from larch_motif.prediction import resolve_models

    (model,) = resolve_models(args.target, args.model, args.element).values()
    expl = explain_model(model)
    if args.plot:
        plot_model_explanation(expl, args.plot)
    expl = expl.to_dict()
    if args.json:
        print(json.dumps(expl, indent=1))
        return 0
    print(f"{expl['element']} {expl['target']} model over {expl['n_spectra']} spectra:")
    for line in expl["summary"].values():
        print("  " + line)
    return 0


def _named_values(items: list[str] | None, option: str) -> dict[str, str]:
    """``NAME=VALUE`` strings into a dict; one clear error for a malformed one."""
    values = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise LarchMotifError(f"{option} {item!r}: write NAME=VALUE, e.g. {option} bond_mean_A=2.05")
        values[name.strip()] = value.strip()
    return values


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from larch_motif.reconstruction import _resolve, explain_reconstruction, plot_explanation

    model = _resolve(args.model, args.element, args.series, args.backend)
    res = model.reconstruct(_named_values(args.param, "--param"))
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(f"# larch_motif reconstruction: {res['series']} {res['parameters']}\n")
            fh.write("# energy_eV_minus_E0 mu_normalized\n")
            fh.writelines(f"{e:.3f} {m:.6f}\n" for e, m in zip(res["energy"], res["mu"]))
    if args.explain:
        expl = explain_reconstruction(model, res["parameters"])
        plot_explanation(expl, args.explain)
        res["dependence"] = {k: {"reading": d["reading"], "peak_shift_eV_per_step": d["peak_shift_eV_per_step"],
                                 "step": d["step"]} for k, d in expl["dependence"].items()}
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    print(f"{res['series']}: {len(res['mu'])} points from {res['energy'][0]:+.0f} to "
          f"{res['energy'][-1]:+.0f} eV around E0" + (f", written to {args.out}" if args.out else ""))
    main = max(range(len(res["mu"])), key=lambda i: res["mu"][i])
    print(f"  maximum {res['mu'][main]:.3f} at {res['energy'][main]:+.0f} eV")
    for reading in (d["reading"] for d in res.get("dependence", {}).values()):
        print("  " + reading)
    for w in res["warnings"]:
        print(f"  warning: {w}")
    return 0


def _cmd_reconstruct_fit(args: argparse.Namespace) -> int:
    from larch_motif.reconstruction import fit_structure, plot_fit

    fit = fit_structure(args.spectrum, element=args.element, series=args.series, model=args.model,
                        fixed=_named_values(args.fix, "--fix"), group=args.group,
                        normalized=args.normalized, backend=args.backend)
    if args.plot:
        plot_fit(fit, args.plot)
    if args.json:
        print(json.dumps(fit, indent=1))
        return 0
    print(f"{fit['file']}: {fit['series']} fit, R-factor {fit['r_factor']:.4f}, E0 shift "
          f"{fit['e0_shift_eV']:+.2f} eV, {fit['seconds']:.1f} s")
    for name, value in fit["parameters"].items():
        sigma = fit["uncertainties"].get(name)
        print(f"  {name} = {value}" if not isinstance(value, float) else
              f"  {name} = {value:.4f}" + (f" +/- {sigma:.4f}" if sigma else ""))
    for w in fit["warnings"]:
        print(f"  warning: {w}")
    return 0


def _cmd_reconstruct_train(args: argparse.Namespace) -> int:
    from larch_motif.reconstruction import train_reconstruction

    params = json.loads(args.params) if args.params else None
    model = train_reconstruction(args.element, args.series, args.backend, db=args.db, edge=args.edge,
                                 n_components=args.components or None, backend_params=params, out=args.out)
    info = {"model": args.out, "element": model.element, "series": model.series,
            "backend": args.backend, "n_spectra": model.metadata["n_spectra"],
            "parameters": [p.describe() for p in model.parameters]}
    print(json.dumps(info, indent=1) if args.json else
          f"{model.series} reconstruction model ({args.backend}, {info['n_spectra']} spectra) written to {args.out}")
    return 0


def _cmd_backends(args: argparse.Namespace) -> int:
    from larch_motif.models import available_backends
    from larch_motif.plugins import get_plugins, plugin_of

    plugins = {p["name"]: p for p in get_plugins()}
    rows = []
    for name, backend in sorted(available_backends().items()):
        plugin = plugins.get(plugin_of(backend), {})
        rows.append({"name": name, "plugin": plugin_of(backend),
                     "distribution": plugin.get("distribution"), "version": plugin.get("version"),
                     "builtin": plugin.get("builtin", False), "tree_explainer": backend.tree_explainer,
                     "output_space": backend.output_space, "libraries": backend.versions()})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for row in rows:
        origin = "built-in" if row["builtin"] else f"{row['distribution']} {row['version']}"
        libs = ", ".join(f"{k} {v}" for k, v in row["libraries"].items())
        print(f"{row['name']:10s} {origin:24s} TreeSHAP: {'yes' if row['tree_explainer'] else 'no':3s} ({libs})")
    return 0


def _cmd_models_prepare(args: argparse.Namespace) -> int:
    from larch_motif.defaults import bundled_model_folder, prepare_default_models

    folder = bundled_model_folder() if args.bundle else args.out
    rows = prepare_default_models(args.element or None, args.backend or None, windows=args.windows,
                                  edge=args.edge, folder=folder)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for row in rows:
        window = f"to +{row['window_eV']:g} eV" if row["window_eV"] else "full grid"
        done = f"trained in {row['seconds']:.1f} s" if row["trained"] else "ready"
        print(f"{row['element']:3s} {row['target']:9s} {row['backend']:9s} {window:14s} {done:18s} {row['path']}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from larch_motif.demo import run_demo

    report = run_demo(args.out, element=args.element, cv=args.cv, site_domain=args.site_domain)
    print(report["summary"])
    return 0


def _cmd_install_larch(args: argparse.Namespace) -> int:
    from larch_motif.larch_plugin import INIT_LINE, install_startup

    path, changed = install_startup()
    if changed:
        print(f"added to {path}: {INIT_LINE}")
        print("the motif_* commands (help(motif_predict)) are in every new larch session")
    else:
        print(f"already in {path}: nothing to do")
    return 0


def _cmd_uninstall_larch(args: argparse.Namespace) -> int:
    from larch_motif.larch_plugin import INIT_LINE, uninstall_startup

    path, changed = uninstall_startup()
    print(f"removed from {path}: {INIT_LINE}" if changed else f"not in {path}: nothing to do")
    return 0


def _spectrum_arguments(parser: argparse.ArgumentParser, targets: tuple[str, ...], default_target: str) -> None:
    """The arguments of the commands that read spectra (predict, explain): files, model,
    element, target, Athena group, normalized, mu columns, HERFD."""
    parser.add_argument("files", nargs="+", help="spectrum files (XDI, columns, Athena .prj), or folders "
                        "of them (their files are read, README.md, .json and other documents left aside)")
    parser.add_argument("--model", default=None, help="model file (default: the bundled default of --element)")
    parser.add_argument("--element", default=None, help="absorber (default: from E0)")
    parser.add_argument("--target", choices=targets, default=default_target)
    parser.add_argument("--group", default=None, help="group name in an Athena project")
    parser.add_argument("--normalized", action="store_true", help="mu is already normalized")
    parser.add_argument("--mu-columns", default=None, metavar="EXPR",
                        help="how mu is made where the column labels do not tell: a column ('mutrans'), "
                             "a ratio ('ifluor/i0') or a log ratio ('ln(i0/itrans)')")
    parser.add_argument("--herfd", action=argparse.BooleanOptionalAction, default=None,
                        help="HERFD spectra (K edge, Kalpha1): the models read them broadened by the core-hole "
                             "width HERFD takes away (Cu 1.02 eV). Default: a spectrum whose file name, Athena "
                             "group or header says HERFD is read so (finding herfd_broadened); --no-herfd "
                             "reads every spectrum as it is")


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
    b.add_argument("--refresh", action="store_true",
                   help="read every computed structure again; recompute those whose absorber sites "
                        "or clusters changed (after a change of the partial-occupancy policy)")
    b.add_argument("--site-domain", choices=("anion", "anion+metallic", "all"), default="all",
                   help="'anion': compute only sites bonded to anions alone (what the CN and motif "
                        "models train on); 'anion+metallic' adds the metallic sites (the metallic "
                        "detector's); the others are recorded, not computed")
    b.add_argument("--quiet", action="store_true", help="no progress line")
    b.add_argument("--json", action="store_true")
    _add_db(b)
    b.set_defaults(func=_cmd_db_build)
    pa = db.add_parser("parametric", help="a reference site with its structure varied on a design, "
                       "each point computed with FEFF10 (training data of the reconstruction model)")
    pa.add_argument("--element", required=True, help="absorbing element, e.g. Fe")
    pa.add_argument("--motif", required=True, help="motif of the reference site: O:6 or T:4")
    pa.add_argument("--n", type=int, required=True, help="design points (a larger n extends a series)")
    pa.add_argument("--db", required=True, help="database file of parametric series (its own file)")
    pa.add_argument("--edge", default="K")
    pa.add_argument("--reference", default=None,
                    help="AMCSD mineral name or CIF file of the reference site (default: hematite for O:6, "
                         "chromite for T:4)")
    pa.add_argument("--seed", type=int, default=0, help="seed of the design (scrambled Halton)")
    pa.add_argument("--fms-radius", type=float, default=4.0, help="FMS radius, Angstrom")
    pa.add_argument("--kmax", type=float, default=5.0, help="XANES grid end, 1/Angstrom")
    pa.add_argument("--timeout", type=float, default=300.0, help="per-stage time limit, s")
    pa.add_argument("--workers", type=int, default=1, help="local processes (default 1)")
    pa.add_argument("--retry-failed", action="store_true", help="recompute failed design points")
    pa.add_argument("--quiet", action="store_true", help="no progress line")
    pa.add_argument("--json", action="store_true")
    pa.set_defaults(func=_cmd_db_parametric)
    dv = db.add_parser("derive", help="spectra of structures derived for an element's rare motifs: the "
                       "element put on the sites of donors (Zn, Co, Cr, Cu) that have those motifs in AMCSD")
    dv.add_argument("--element", required=True, help="absorbing element, e.g. Mn")
    dv.add_argument("--db", required=True, help="database file of derived spectra (its own file)")
    dv.add_argument("--donors", nargs="*", default=None,
                    help="DONOR:MOTIF pairs, e.g. Zn:T:4 Cu:S:4 (default: build.DERIVED_DONORS of the element)")
    dv.add_argument("--per-donor", type=int, default=None, help="structures of each donor at most")
    dv.add_argument("--workers", type=int, default=None, help="local processes (default: all cores)")
    dv.add_argument("--timeout", type=float, default=300.0, help="per-stage time limit, s")
    dv.add_argument("--quiet", action="store_true", help="no progress line")
    dv.add_argument("--json", action="store_true")
    dv.set_defaults(func=_cmd_db_derive)
    i = db.add_parser("info", help="counts by element, CN, motif; failures by reason")
    _add_db(i)
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=_cmd_db_info)
    r = db.add_parser("replace-element", help="take one element's spectra from another database "
                      "(e.g. built with SCF), the other elements untouched")
    _add_db(r)
    r.add_argument("source", help="database file holding the new spectra of the element")
    r.add_argument("--element", required=True)
    r.add_argument("--edge", default="K")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_cmd_db_replace_element)
    rl = db.add_parser("relabel", help="count an element's ChemEnv CN 5 and 6 sites by their strong bonds, as "
                       "builds now do (Jahn-Teller Cu(II)); for a database built before")
    _add_db(rl)
    rl.add_argument("--element", required=True)
    rl.add_argument("--edge", default="K")
    rl.add_argument("--json", action="store_true")
    rl.set_defaults(func=_cmd_db_relabel)
    x = db.add_parser("export", help="export to HDF5 or CSV")
    _add_db(x)
    x.add_argument("--format", choices=("hdf5", "csv"), default="hdf5")
    x.add_argument("--out", required=True, help="HDF5 file or CSV folder")
    x.set_defaults(func=_cmd_db_export)

    t = sub.add_parser("train", help="train a CN or motif classifier on the database")
    _add_db(t)
    t.add_argument("--element", required=True)
    t.add_argument("--edge", default="K")
    t.add_argument("--target", choices=("cn", "motif", "metallic"), required=True,
                   help="'metallic': the detector of metallic sites (foils, alloys) against anion-coordinated ones")
    t.add_argument("--backend", default="rf", help="rf, xgboost, lightgbm or a plugin's (see 'backends')")
    t.add_argument("--cv", type=int, default=5, help="grouped CV folds (0: none)")
    t.add_argument("--params", default=None, help="backend hyper-parameters as JSON")
    t.add_argument("--site-domain", choices=("anion", "anion+metallic", "all"), default=None,
                   help="database sites to use: 'anion' (absorber bonded only to anions; default for cn "
                        "and motif), 'anion+metallic' (default for metallic) or 'all'")
    t.add_argument("--out", required=True, help="model file to write")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=_cmd_train)

    p = sub.add_parser("predict", help="CN and motif of measured spectra")
    _spectrum_arguments(p, ("cn", "motif", "both"), "both")
    p.add_argument("--backend", default=None, help="backend of the default models (default: lightgbm)")
    p.add_argument("--min-confidence", type=float, default=None,
                   help="below this calibrated confidence (0-1) answer 'uncertain' with the top two classes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_predict)

    e = sub.add_parser("explain", help="TreeSHAP explanation of one prediction on the energy axis")
    _spectrum_arguments(e, ("cn", "motif"), "cn")
    e.add_argument("--class", dest="class_name", default=None, help="class to explain (default: predicted)")
    e.add_argument("--plot", default=None, help="PNG file")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_cmd_explain)

    g = sub.add_parser("explain-model", help="global TreeSHAP explanation of a model over its spectra")
    g.add_argument("--model", default=None)
    g.add_argument("--element", default=None)
    g.add_argument("--target", choices=("cn", "motif"), default="cn")
    g.add_argument("--plot", default=None, help="PNG file")
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=_cmd_explain_model)

    rc = sub.add_parser("reconstruct", help="the XANES of a structure from its parameters (surrogate of FEFF10)")
    rc.add_argument("--element", default=None, help="absorber, e.g. Fe (bundled data)")
    rc.add_argument("--series", default=None, help="parametric series (its motif: O:6, T:4) or 'database'")
    rc.add_argument("--model", default=None, help="reconstruction model file (.lmr) instead of the bundled one")
    rc.add_argument("--backend", default=None, help="backend of the bundled model (default: lightgbm)")
    rc.add_argument("--param", action="append", metavar="NAME=VALUE",
                    help="a structural parameter, e.g. --param bond_mean_A=2.05 (Angstrom, degree)")
    rc.add_argument("--out", default=None, help="write energy (eV from E0) and normalized mu as columns")
    rc.add_argument("--explain", default=None, metavar="PNG",
                    help="SHAP heat map (energy x parameter) and dependence curves")
    rc.add_argument("--json", action="store_true")
    rc.set_defaults(func=_cmd_reconstruct)
    rf = sub.add_parser("reconstruct-fit", help="structural parameters whose reconstruction fits a spectrum")
    rf.add_argument("spectrum", help="spectrum file (XDI, columns, Athena .prj)")
    rf.add_argument("--element", default=None)
    rf.add_argument("--series", default=None, help="parametric series (O:6, T:4) or 'database'")
    rf.add_argument("--model", default=None, help="reconstruction model file (.lmr)")
    rf.add_argument("--backend", default=None)
    rf.add_argument("--fix", action="append", metavar="NAME=VALUE", help="hold a parameter at a value")
    rf.add_argument("--group", default=None, help="group name in an Athena project")
    rf.add_argument("--normalized", action="store_true", help="mu is already normalized")
    rf.add_argument("--plot", default=None, help="PNG of the spectrum, the fit and the residual")
    rf.add_argument("--json", action="store_true")
    rf.set_defaults(func=_cmd_reconstruct_fit)
    rt = sub.add_parser("reconstruct-train", help="train a reconstruction model on a parametric series or the database")
    rt.add_argument("--element", required=True)
    rt.add_argument("--series", default=None, help="parametric series (O:6, T:4) or 'database'")
    rt.add_argument("--db", default=None, help="parametric series file (default: bundled) or, with "
                    "--series database, the structure database (default: bundled)")
    rt.add_argument("--edge", default="K")
    rt.add_argument("--backend", default="lightgbm")
    rt.add_argument("--components", type=int, default=10, help="principal components (0: every energy directly)")
    rt.add_argument("--params", default=None, help="backend hyper-parameters as JSON")
    rt.add_argument("--out", required=True, help="model file to write (.lmr)")
    rt.add_argument("--json", action="store_true")
    rt.set_defaults(func=_cmd_reconstruct_train)

    k = sub.add_parser("backends", help="registered model backends and where each comes from")
    k.add_argument("--json", action="store_true")
    k.set_defaults(func=_cmd_backends)

    m = sub.add_parser("models", help="the default models").add_subparsers(dest="models_command", required=True)
    mp = m.add_parser("prepare", help="train (or find) every default model now, instead of on first use")
    mp.add_argument("--element", nargs="*", default=None, help="elements (default: every bundled one)")
    mp.add_argument("--backend", nargs="*", default=None, help="backends (default: lightgbm)")
    mp.add_argument("--windows", action="store_true", help="also the short-scan window models")
    mp.add_argument("--edge", default="K")
    mp.add_argument("--out", default=None, help="folder for the trained models (default: the model cache)")
    mp.add_argument("--bundle", action="store_true",
                    help="write into the package's bundled models (for maintainers; see docs)")
    mp.add_argument("--json", action="store_true")
    mp.set_defaults(func=_cmd_models_prepare)

    d = sub.add_parser("demo", help="the main job on the bundled database: CV, models, report")
    d.add_argument("--out", default="larch_motif_output", help="report folder")
    d.add_argument("--element", default="Fe")
    d.add_argument("--cv", type=int, default=5)
    d.add_argument("--site-domain", choices=("anion", "all"), default="anion",
                   help="database sites to use: 'anion' (absorber bonded only to anions; default) or 'all' "
                        "(also metal-bonded sites of alloys and intermetallics)")
    d.set_defaults(func=_cmd_demo)

    il = sub.add_parser("install-larch", help="add the motif_* commands to every Larch session (Larch's init.lar)")
    il.set_defaults(func=_cmd_install_larch)
    ul = sub.add_parser("uninstall-larch", help="remove the line install-larch added to Larch's init.lar")
    ul.set_defaults(func=_cmd_uninstall_larch)
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
    except sqlite3.OperationalError as exc:  # "database or disk is full": committed rows are kept
        print(f"larch-motif: error: cannot write the database: {exc}; computed results are kept",
              file=sys.stderr)
        return 2


def run() -> None:
    """The ``larch-motif`` console script: ``main`` on the process's arguments, then exit.

    The objects left at the end (most of them made by Larch's imports) are frozen before the
    exit, so that the interpreter does not spend its last garbage collection (0.1-0.3 s of a
    2-3 s prediction) on a process that is ending; files are closed and flushed as usual.
    """
    status = main()
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    run()
