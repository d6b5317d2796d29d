"""The 1s->3d pre-edge of a measured spectrum, read as Larch reads it, as a check on the CN answer.

FEFF10 at the database settings does not reproduce the tetrahedral/octahedral pre-edge contrast
(``docs/validation/preedge.md``), so the models never see it. A beamline scientist reads it
first: the 1s->3d peak, 4-18 eV below the half-step E0, is weak for centrosymmetric sites
(octahedra, square planes) and several times stronger for sites without an inversion centre
(tetrahedra, 5-fold sites: p-d mixing). The peak is read here above a baseline of the form of
Larch's ``pre_edge_baseline`` (``preedge_peak``; ``larch_reading`` runs Larch's own fit); a peak stronger than octahedral sites of the
element give, under a CN-6 answer, caps that answer's confidence and adds a finding
(``preedge_strong``); for Ti, V and Cr, whose tetrahedral pre-edges are many times their
octahedral ones, a peak weaker than half of that under a CN-4 answer does the same
(``preedge_weak``), and for Ti a peak within the octahedral range under a CN-5 answer.

The array core is ``preedge_peak`` (energy, normalized mu, E0 in; the reading out);
``preedge_findings`` compares a reading with an answer. Nothing here writes a Group.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np

from larch_motif.findings import Finding

#: Highest pre-edge peak height (fraction of the edge step, above Larch's baseline) that the
#: octahedral sites of each element give in measurement. Set above the octahedral references
#: of the dev sets with a margin (Fe: hematite 0.075, magnetite's mixture 0.096; Mn: ramsdellite
#: 0.063; Cr: CrO2 0.047; Ni: NiO 0.018; ``benchmarks/preedge_measured.py``) and, for Ti and V,
#: whose octahedral oxides already show pre-edge peaks of 0.1-0.3, set high, as the contrast there
#: is with tetrahedral peaks of 0.5 and more (Farges, Brown and Rehr 1997 for Ti). Elements
#: without 3d holes (Cu(I), Zn) or with one (Cu(II)) are not read.
OCTAHEDRAL_MAX_HEIGHT: dict[str, float] = {"Ti": 0.35, "V": 0.35, "Cr": 0.2, "Mn": 0.09, "Fe": 0.09,
                                           "Co": 0.08, "Ni": 0.06}
#: Elements whose tetrahedral pre-edge is so much stronger than the octahedral one that a weak
#: peak (below half ``OCTAHEDRAL_MAX_HEIGHT``) speaks against CN 4
STRONG_CONTRAST = ("Ti", "V", "Cr")
#: Elements whose 5-fold sites (square pyramids, trigonal bipyramids) give a pre-edge above the
#: octahedral range: a peak within ``OCTAHEDRAL_MAX_HEIGHT`` under a CN-5 answer speaks against it
#: (Ti: [5] 0.4-0.7, [6] 0.1-0.3 of the edge step, Farges, Brown and Rehr 1997). The Ti models
#: learn square pyramids from vanadates (``training.DERIVED_MOTIFS``) and call a strongly
#: off-centred octahedron (PbTiO3) CN 5 on theory (``docs/validation/derived.md``); this is the
#: measured spectrum's say on that.
FIVE_FOLD_ABOVE_OCTAHEDRA = ("Ti",)
#: Calibrated confidence an answer keeps at most when the pre-edge speaks against it
CONFIDENCE_CAP = 0.5
#: Energies (eV from the half-step E0) of Larch's baseline fit (``emin``..``elo`` and
#: ``ehi``..``emax``) and of the peak region between them
FIT_MIN_eV, PEAK_MIN_eV, PEAK_MAX_eV, FIT_MAX_eV = -35.0, -18.0, -4.0, -2.0
#: Fewest measured points in the baseline range below the peak region, and in the peak region
MIN_POINTS = 3
#: The scan must start this far below E0 (eV) for the baseline below the peak to be fitted
#: (a scan from E0 - 20 eV read a 0.3 peak as 0.05)
SCAN_START_MAX_eV = -25.0


@dataclass(frozen=True)
class PreEdgePeak:
    """The pre-edge peak after Larch's baseline: ``height`` (fraction of the edge step),
    ``area_eV`` (its integral, edge-step units times eV) and ``centroid_eV`` (eV from E0)."""

    height: float
    area_eV: float
    centroid_eV: float

    def to_dict(self) -> dict:
        """The reading rounded to 4 decimals; a centroid of no peak (NaN) is ``None``, as JSON has no NaN."""
        return {k: round(v, 4) if np.isfinite(v) else None for k, v in asdict(self).items()}


#: Centres (eV from E0) and half widths (eV) of the Lorentzian edge tail tried by ``preedge_peak``
TAIL_CENTRES_eV = np.array([-3.0, -1.5, 0.0, 1.5, 3.0])
TAIL_WIDTHS_eV = np.array([1.0, 2.0, 4.0, 8.0, 16.0])


def _readable(rel: np.ndarray) -> bool:
    """Whether a scan (energies in eV from E0) has the points a reading needs."""
    below = np.count_nonzero((rel >= FIT_MIN_eV) & (rel < PEAK_MIN_eV))
    inside = np.count_nonzero((rel >= PEAK_MIN_eV) & (rel <= PEAK_MAX_eV))
    return below >= MIN_POINTS and inside >= MIN_POINTS and rel.min() <= SCAN_START_MAX_eV


def _peak(rel: np.ndarray, peaks: np.ndarray, energy_eV: np.ndarray) -> PreEdgePeak:
    """Height, area and centroid (eV from E0) of the baseline-subtracted peak region."""
    positive = np.clip(peaks, 0, None)
    centroid = float((rel * positive).sum() / positive.sum()) if positive.sum() > 0 else float("nan")
    return PreEdgePeak(height=float(peaks.max()), area_eV=float(np.trapezoid(peaks, energy_eV)), centroid_eV=centroid)


def preedge_peak(energy_eV: np.ndarray, norm: np.ndarray, e0_eV: float) -> PreEdgePeak | None:
    """Read the pre-edge peak of a normalized spectrum: the part of it, 4 to 18 eV below E0,
    above a baseline of the form of Larch's ``pre_edge_baseline`` (``'linear+lorentzian'``: a
    line plus a Lorentzian for the edge's tail) fitted from E0 - 35 to E0 - 18 eV and from
    E0 - 4 to E0 - 2 eV.

    The baseline is fitted by linear least squares for each Lorentzian centre and width of
    ``TAIL_CENTRES_eV`` x ``TAIL_WIDTHS_eV`` (amplitude >= 0) and the best is kept: about 0.2 ms
    a spectrum, where Larch's nonlinear fit takes 15-30 ms (a batch of 1,000 spectra must stay
    under 5 ms each); ``larch_reading`` gives Larch's own, and ``benchmarks/preedge_measured.py``
    shows both. ``None`` where the scan has too few points there (a coarse pre-edge) or starts
    above E0 - 25 eV.
    """
    energy_eV = np.asarray(energy_eV, float)
    norm = np.asarray(norm, float)
    rel = energy_eV - e0_eV
    if not _readable(rel):
        return None
    inside = (rel >= PEAK_MIN_eV) & (rel <= PEAK_MAX_eV)
    fit = ((rel >= FIT_MIN_eV) & (rel < PEAK_MIN_eV)) | ((rel > PEAK_MAX_eV) & (rel <= FIT_MAX_eV))
    x, y = rel[fit], norm[fit]
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(norm[inside]))):
        return None
    centres, widths = (a.ravel() for a in np.meshgrid(TAIL_CENTRES_eV, TAIL_WIDTHS_eV))
    tails = 1.0 / (1.0 + ((x[None, :] - centres[:, None]) / widths[:, None]) ** 2)  # (n_candidates, n_points)
    design = np.stack([np.ones_like(tails), np.broadcast_to(x, tails.shape), tails], axis=-1)
    gram = np.einsum("kni,knj->kij", design, design) + 1e-12 * np.eye(3)
    coef = np.linalg.solve(gram, np.einsum("kni,n->ki", design, y)[..., None])[..., 0]
    residual = ((np.einsum("kni,ki->kn", design, coef) - y) ** 2).sum(axis=1)
    residual[coef[:, 2] < 0] = np.inf  # the edge's tail rises towards the edge
    if not np.isfinite(residual).any():
        return None
    k = int(np.argmin(residual))
    xr = rel[inside]
    baseline = coef[k, 0] + coef[k, 1] * xr + coef[k, 2] / (1.0 + ((xr - centres[k]) / widths[k]) ** 2)
    return _peak(xr, norm[inside] - baseline, energy_eV[inside])


def larch_reading(energy_eV: np.ndarray, norm: np.ndarray, e0_eV: float) -> PreEdgePeak | None:
    """The same reading with Larch's own ``pre_edge_baseline`` (its nonlinear fit of
    ``'linear+lorentzian'`` over the same ranges): for comparison, 15-30 ms a spectrum."""
    from larch import Group
    from larch.xafs import pre_edge_baseline

    if not _readable(np.asarray(energy_eV, float) - e0_eV):
        return None
    grp = Group(energy=np.asarray(energy_eV, float), norm=np.asarray(norm, float), e0=e0_eV)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pre_edge_baseline(grp, elo=e0_eV + PEAK_MIN_eV, ehi=e0_eV + PEAK_MAX_eV, emin=e0_eV + FIT_MIN_eV,
                              emax=e0_eV + FIT_MAX_eV, form="linear+lorentzian")
        except Exception:  # a fit that does not converge is no reading
            return None
    pp = grp.prepeaks
    inside = (pp.energy >= e0_eV + PEAK_MIN_eV) & (pp.energy <= e0_eV + PEAK_MAX_eV)
    peaks, e = np.asarray(pp.peaks, float)[inside], np.asarray(pp.energy, float)[inside]
    if peaks.size < 2 or not np.all(np.isfinite(peaks)):
        return None
    return _peak(e - e0_eV, peaks, e)


def preedge_findings(peak: PreEdgePeak | None, element: str, cn: object) -> list[Finding]:
    """The findings of a pre-edge reading against a CN answer (an int or its text; ``None`` and
    "uncertain" give nothing):
    ``preedge_strong`` under CN 6, ``preedge_weak`` under CN 4 (Ti, V, Cr); empty where it
    agrees or where the element or the reading gives nothing to compare."""
    limit = OCTAHEDRAL_MAX_HEIGHT.get(element)
    cn = as_cn(cn)
    if peak is None or limit is None or cn is None:
        return []
    if cn == 6 and peak.height > limit:
        return [Finding("preedge_strong",
                        f"pre-edge peak {peak.height:.3f} of the edge step at E0 {peak.centroid_eV:+.1f} eV: stronger "
                        f"than {element} octahedra give (<= {limit:g}); a site without inversion centre (CN 4 or 5) "
                        f"or a mixture of sites is likely, so CN 6 is doubtful (confidence capped at {CONFIDENCE_CAP:g})")]
    if cn == 5 and element in FIVE_FOLD_ABOVE_OCTAHEDRA and peak.height <= limit:
        return [Finding("preedge_weak",
                        f"pre-edge peak {peak.height:.3f} of the edge step: within what {element} octahedra give "
                        f"(<= {limit:g}), weaker than its 5-fold sites give, so CN 5 is doubtful "
                        f"(confidence capped at {CONFIDENCE_CAP:g})")]
    if cn == 4 and element in STRONG_CONTRAST and peak.height < limit / 2:
        return [Finding("preedge_weak",
                        f"pre-edge peak {peak.height:.3f} of the edge step: weaker than {element} tetrahedra give "
                        f"(> {limit:g}), so CN 4 is doubtful (confidence capped at {CONFIDENCE_CAP:g})")]
    return []


def as_cn(cn: object) -> int | None:
    """A CN class (``6``, ``np.int64(6)`` or ``"6"``) as an int; ``None`` for anything else."""
    if isinstance(cn, (int, np.integer)) and not isinstance(cn, bool):
        return int(cn)
    return int(cn) if isinstance(cn, str) and cn.isdigit() else None


def motif_cn(motif: object) -> int | None:
    """The CN of a ChemEnv motif label (``"O:6"`` -> 6); ``None`` for anything else."""
    return as_cn(motif.rsplit(":", 1)[1]) if isinstance(motif, str) and ":" in motif else None
