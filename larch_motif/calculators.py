"""Spectrum calculators: the interface, the calculation parameters, and the lookup by name.

A calculator turns an absorber cluster (plain data: element symbols and Cartesian coordinates in
Angstrom, absorber first) into a XANES spectrum (absolute energy in eV, normalized mu). The
built-in one is FEFF10 (``larch_motif/plugins/feff10_calculator.py``); others (a local FEFF or FDMNES
executable) come from plugins through the ``larch_motif_spectrum_calculators`` hook.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from larch_motif.errors import LarchMotifError


@dataclass(frozen=True)
class CalculationParameters:
    """Parameters of one theoretical XANES calculation; all are recorded with each spectrum.

    cluster_radius_A: radius of the atom cluster around the absorber (Angstrom).
    fms_radius_A: full multiple scattering radius (Angstrom).
    scf_radius_A: self-consistent potential radius (Angstrom), ``None`` for no SCF (default:
        SCF costs about 20x the time, see NOTES).
    xanes_kmax_invA: upper end of the XANES grid in photoelectron wavenumber (1/Angstrom);
        6.0 reaches about 140 eV above the edge, enough for a post-edge normalization range.
    timeout_s: wall-clock limit for each calculation stage (seconds, at least 1: FEFF10 counts
        whole seconds, so a shorter limit would end every stage at once).
    extra_cards: further input cards passed verbatim (for example ``("MULTIPOLE 2 0",)``).
    """

    edge: str = "K"
    cluster_radius_A: float = 6.0
    fms_radius_A: float = 4.0
    scf_radius_A: float | None = None
    xanes_kmax_invA: float = 6.0
    timeout_s: float = 300.0
    extra_cards: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.timeout_s >= 1:
            raise LarchMotifError(f"timeout_s must be at least 1 s (FEFF10 counts whole seconds), got {self.timeout_s}")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def key(self) -> str:
        """Short hash of the parameters that change the spectrum (not the timeout)."""
        d = self.as_dict()
        d.pop("timeout_s")
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class Cluster:
    """Atoms around an absorber: symbols and coordinates (Angstrom), absorber at index 0."""

    symbols: tuple[str, ...]
    coords_A: np.ndarray
    title: str = ""

    def __post_init__(self) -> None:
        coords = np.asarray(self.coords_A, dtype=float)
        if coords.ndim != 2 or coords.shape != (len(self.symbols), 3):
            raise LarchMotifError(
                f"cluster coordinates must have shape ({len(self.symbols)}, 3), got {coords.shape}"
            )
        if not np.allclose(coords[0], 0.0):
            raise LarchMotifError("the absorber (first atom) must sit at the origin")
        object.__setattr__(self, "coords_A", coords)


@dataclass
class CalculatedSpectrum:
    """A calculated spectrum: absolute energy (eV), mu normalized by the calculator, seconds."""

    energy_eV: np.ndarray
    mu: np.ndarray
    seconds: float
    calculator: str
    calculator_version: str


@runtime_checkable
class SpectrumCalculator(Protocol):
    """What a calculator plugin provides."""

    name: str
    version: str

    def calculate(self, cluster: Cluster, params: CalculationParameters) -> CalculatedSpectrum:
        """Compute the XANES of the cluster's absorber; raise ``CalculationError`` on failure."""
        ...


def available_calculators() -> dict[str, SpectrumCalculator]:
    """Calculators registered through the hook layer, by name."""
    from larch_motif.plugins import registered

    return registered("larch_motif_spectrum_calculators")


def get_calculator(name: str) -> SpectrumCalculator:
    """The calculator called ``name``; a clear error lists the available ones."""
    from larch_motif.plugins import lookup

    return lookup("larch_motif_spectrum_calculators", name, "calculator")
