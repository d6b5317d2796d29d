"""FEFF10 (through the feff10-rs package) as a spectrum calculator plugin.

Full multiple scattering XANES with the cards ``EDGE``, ``FMS``, ``XANES`` and optionally
``SCF``; the output ``xmu.dat`` gives absolute energy (eV) and mu normalized by FEFF at 50 eV
above the edge. Only the stages XANES needs are run (no LDOS, screening, EELS, ...).

With SCF, FEFF10's potential stage can stop on "bad counts" (the electron count of the
self-consistency loop goes astray; it writes no ``pot.bin`` and the next stage, xsph, fails
with exit code 29). This happens for about one Cu site in five at SCF 3 A. It can also stop
with "Fatal error in subroutine corval. Try to reduce ca1 in the SCF card" (21 Cr and 11 V sites
of the first SCF 3 A builds, fluorides and selenides most). Either way the calculation
is then run again along ``SCF_RETRIES``: first with a smaller SCF mixing factor (``SCF r 0 30
0.05 1`` instead of FEFF's default 0.2), then with 100 iterations of which the first 10 are
plain mixing before Broyden's (``SCF r 0 100 0.05 10``, then ``SCF r 0 100 0.2 10``): the same
self-consistent potential reached in smaller or more steps. On Cu sites that converge either way
the first two spectra differ by less than 0.001 in normalized mu. Of the 33 Cr sites that
stopped at 0.2 and 0.05, the two later steps converged the 4 fluorides (3 at 0.05, 1 at 0.2)
and none of the sulfides, selenides or oxides (exploratory run on ``builds/ti_v_cr_co.sqlite``,
2026-12-03). The spectrum's ``calculator_version`` records which step gave it; a failed retry
costs seconds (the loop stops early).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import tempfile
import time
from collections.abc import Iterator

import numpy as np

from larch_motif.calculators import CalculatedSpectrum, CalculationParameters, Cluster
from larch_motif.errors import CalculationError
from larch_motif.hookspecs import hookimpl

STAGES = ("RDINP", "ATOMIC", "POT", "XSPH", "FMS", "MKGTR", "PATH", "GENFMT", "FF2X")

#: FEFF's own SCF loop: (nscmt iterations, mixing ca, nmix plain-mixing iterations before
#: Broyden) of the card ``SCF rfms1 lfms1 nscmt ca nmix``, what a bare ``SCF r`` runs
FEFF_SCF_LOOP: tuple[int, float, int] = (30, 0.2, 1)
#: SCF mixing factor of the first retry after "bad counts" or "corval"
SCF_RETRY_MIXING = 0.05
#: The SCF loops tried, in order, after FEFF's own stops, as (nscmt, ca, nmix)
SCF_RETRIES: tuple[tuple[int, float, int], ...] = (
    (FEFF_SCF_LOOP[0], SCF_RETRY_MIXING, FEFF_SCF_LOOP[2]), (100, SCF_RETRY_MIXING, 10), (100, FEFF_SCF_LOOP[1], 10))


def scf_loop_text(loop: tuple[int, float, int]) -> str:
    """How ``calculator_version`` and errors name an SCF loop of ``SCF_RETRIES``."""
    nscmt, ca, nmix = loop
    if (nscmt, nmix) == (FEFF_SCF_LOOP[0], FEFF_SCF_LOOP[2]):
        return f"SCF mixing {ca:g}"
    return f"SCF mixing {ca:g}, {nscmt} iterations, {nmix} before Broyden"

#: Work folders are ``<tmp>/larch_motif_feff_<pid>_*``: the pid tells a stale one (its process
#: killed before it could clean up) from one in use.
WORKDIR_PREFIX = "larch_motif_feff_"
_swept_stale_workdirs = False


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_workdirs() -> int:
    """Remove the work folders of FEFF10 runs whose process is gone (killed builds); returns
    how many were removed. Runs once per process, before its first calculation."""
    tmp = tempfile.gettempdir()
    removed = 0
    for name in os.listdir(tmp):
        pid = name[len(WORKDIR_PREFIX):].split("_")[0] if name.startswith(WORKDIR_PREFIX) else ""
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)
            removed += 1
    return removed


@contextlib.contextmanager
def _stdout_to(path: str) -> Iterator[None]:
    """Send file descriptors 1 and 2 (FEFF's console output) to a log file."""
    saved = [os.dup(1), os.dup(2)]
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


class SCFBadCounts(CalculationError):
    """FEFF10's SCF loop stopped before convergence: on "bad counts" (no ``pot.bin`` written)
    or on FEFF's "Fatal error in subroutine corval. Try to reduce ca1 in the SCF card".

    ``what``: the short name of the stop, recorded in ``calculator_version`` after a retry.
    """

    def __init__(self, message: str, what: str = "bad counts") -> None:
        super().__init__(message)
        self.what = what


def feff_input_text(cluster: Cluster, params: CalculationParameters,
                    scf_loop: tuple[int, float, int] | None = None) -> str:
    """The ``feff.inp`` text for a cluster: potentials by element, absorber potential 0.

    scf_loop: (nscmt, ca, nmix) of the SCF card, one of ``SCF_RETRIES`` (``None`` leaves FEFF's
    own, ``FEFF_SCF_LOOP``), used only with ``params.scf_radius_A``.
    """
    absorber = cluster.symbols[0]
    ligands = sorted(set(cluster.symbols[1:]))
    lines = [
        f"TITLE {cluster.title or absorber + ' site'}",
        f"EDGE {params.edge}",
        "S02 1.0",
        "CONTROL 1 1 1 1 1 1",
        "PRINT 0 0 0 0 0 0",
        "EXCHANGE 0 0.0 0.0",
        f"FMS {params.fms_radius_A:.3f} 0",
        f"XANES {params.xanes_kmax_invA:.2f} 0.07 0.0",
    ]
    if params.scf_radius_A is not None:
        # SCF rfms1 [lfms1 nscmt ca nmix]: lfms1 0 as FEFF's default
        loop = "" if scf_loop is None else f" 0 {scf_loop[0]} {scf_loop[1]:g} {scf_loop[2]}"
        lines.append(f"SCF {params.scf_radius_A:.3f}{loop}")
    lines.extend(params.extra_cards)
    # imported here: this plugin is registered by every command, predict included
    from pymatgen.core import Element

    lines += ["POTENTIALS", f"  0 {Element(absorber).Z} {absorber}"]
    ipot = {}
    for k, el in enumerate(ligands, start=1):
        ipot[el] = k
        lines.append(f"  {k} {Element(el).Z} {el}")
    lines.append("ATOMS")
    for j, (sym, xyz) in enumerate(zip(cluster.symbols, cluster.coords_A)):
        r = float(np.linalg.norm(xyz))
        lines.append(f"  {xyz[0]:.5f} {xyz[1]:.5f} {xyz[2]:.5f} {0 if j == 0 else ipot[sym]} {sym} {r:.5f}")
    lines.append("END")
    return "\n".join(lines) + "\n"


class Feff10Calculator:
    """FEFF10 through feff10-rs."""

    name = "feff10"

    def __init__(self) -> None:
        try:
            self.version = "feff10-rs " + importlib.metadata.version("feff10-rs")
        except importlib.metadata.PackageNotFoundError:
            self.version = "feff10-rs (not installed)"

    def run_feff(self, feff10: object, workdir: str, cluster: Cluster, params: CalculationParameters,
                 scf_loop: tuple[int, float, int] | None = None):
        """Run the XANES stages of FEFF10 in ``workdir`` (console output to ``console.log``);
        returns feff10's ``PipelineResult``, raises feff10's errors on a failed stage."""
        inp = feff10.FeffInput.parse(feff_input_text(cluster, params, scf_loop))
        stages = [feff10.Stage.from_name(s) for s in STAGES]
        config = feff10.FeffConfig(workdir, inp, stages=stages, stage_timeout=params.timeout_s)
        with _stdout_to(os.path.join(workdir, "console.log")):
            return feff10.FeffPipeline(config).run()

    def calculate(self, cluster: Cluster, params: CalculationParameters) -> CalculatedSpectrum:
        """Run FEFF10 on the cluster; raise ``CalculationError`` with the reason on failure.

        An SCF run that stops on "bad counts" or in FEFF's ``corval`` (FEFF's advice: a smaller
        ``ca1``) is run again with each loop of ``SCF_RETRIES`` until one converges; the
        returned ``seconds`` include every run.
        """
        try:
            import feff10
        except ImportError as exc:
            raise CalculationError("feff10-rs is not installed (pip install feff10-rs)") from exc
        global _swept_stale_workdirs
        if not _swept_stale_workdirs:
            _swept_stale_workdirs = True
            remove_stale_workdirs()
        t0 = time.perf_counter()
        version = self.version
        try:
            energy, mu = self._xanes(feff10, cluster, params, None)
        except SCFBadCounts as exc:
            for loop in SCF_RETRIES:
                try:
                    energy, mu = self._xanes(feff10, cluster, params, loop)
                    break
                except SCFBadCounts:
                    continue
            else:
                tried = "; ".join(scf_loop_text(loop) for loop in SCF_RETRIES)
                raise CalculationError(f"{exc}, also with {tried}") from exc
            version = f"{self.version}; {scf_loop_text(loop)} after {exc.what} at {FEFF_SCF_LOOP[1]:g}"
        if energy.size < 10 or not np.all(np.isfinite(mu)):
            raise CalculationError(f"FEFF10 gave an unusable spectrum ({energy.size} points)")
        return CalculatedSpectrum(energy, mu, time.perf_counter() - t0, self.name, version)

    def _xanes(self, feff10: object, cluster: Cluster, params: CalculationParameters,
               scf_loop: tuple[int, float, int] | None) -> tuple[np.ndarray, np.ndarray]:
        """One FEFF10 run in a fresh work folder: absolute energy (eV) and mu of ``xmu.dat``."""
        workdir = tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}_")
        try:
            result = self.run_feff(feff10, workdir, cluster, params, scf_loop)
            if not os.path.exists(os.path.join(workdir, "xmu.dat")):
                raise CalculationError("FEFF10 wrote no xmu.dat")
            columns = result.read_xmu().columns
            return np.asarray(columns[0], float), np.asarray(columns[3], float)
        except CalculationError:
            raise
        except Exception as exc:  # feff10 raises its own error types and OSError; keep the reason
            console = _console(workdir)
            if params.scf_radius_A is not None:
                lowered = console.lower()
                if "bad counts found repeatedly" in lowered:
                    raise SCFBadCounts("FEFF10 failed: SCF stopped on bad electron counts in the "
                                       "potential stage (no pot.bin)") from exc
                if "subroutine corval" in lowered:
                    # FEFF's own advice with this error: "Try to reduce ca1 in the SCF card"
                    raise SCFBadCounts("FEFF10 failed: SCF stopped in subroutine corval (FEFF: try to "
                                       "reduce ca1 in the SCF card)", what="corval") from exc
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if "timeout" in reason.lower() or "timed out" in reason.lower():
                reason = f"timeout after {params.timeout_s:g} s per stage: {reason}"
            fatal = next((line.strip(" :") for line in console.splitlines()
                          if "fatal error" in line.lower()), None)
            if fatal:  # FEFF's own words, e.g. "WARNING   Fatal error in subroutine corval. ..."
                reason = f"{reason}; FEFF10 says: {' '.join(fatal.split())}"
            raise CalculationError(f"FEFF10 failed: {reason}"[:400]) from exc
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def _console(workdir: str) -> str:
    """FEFF10's console output of a run in ``workdir`` ('' if there is none)."""
    try:
        with open(os.path.join(workdir, "console.log"), errors="replace") as log:
            return log.read()
    except OSError:
        return ""


@hookimpl
def larch_motif_spectrum_calculators() -> list:
    return [Feff10Calculator()]
