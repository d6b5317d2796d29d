"""Spectra on a common grid: reading (larch.io), normalization (Larch ``pre_edge``), broadening
of theory, E0 alignment, and the feature vector the models see.

One path for theory and measurement: a Larch Group with ``energy`` (eV) and ``mu`` goes through
``normalize`` (``pre_edge``; theory with ``iscalc=True``) and ``features``. Theoretical spectra
are first broadened (``broaden``) so that they look like measurements.

E0 for alignment is the energy where the flattened normalized spectrum first reaches half the
edge step (``e0_half``): FEFF's sharp white line and a measured pre-edge peak move the maximum of
the derivative (Larch's ``e0``) by several eV between theory and measurement, the half-step point
much less. Features are the flattened normalized mu on ``Preprocessing.grid()`` (eV relative to
``e0_half``), optionally followed by its derivative (1/eV). The default models of an element use
``preprocessing_for(element)``: -8 to +60 eV, to +80 eV for Co, Cr and V, to +100 eV for Cu and Zn (the
metallic detectors of Cr, Cu and V: to +60 eV).
"""

from __future__ import annotations

import ast
import dataclasses
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from larch_motif.errors import SpectrumError
from larch_motif.findings import Finding

MIN_POINTS = 20


@dataclass(frozen=True)
class Preprocessing:
    """How spectra become feature vectors; recorded in every model file.

    grid_min_eV, grid_max_eV, grid_step_eV: the feature grid relative to E0 (eV).
    derivative: append d(norm)/dE on the same grid.
    gaussian_fwhm_eV, lorentzian_fwhm_eV: broadening applied to theoretical spectra (eV):
        instrument resolution and disorder (Gaussian) and extra core-hole/final-state width
        (Lorentzian). 3.0 and 2.0 eV: FEFF10 without SCF gives white lines much sharper than
        measured ones (chosen with ``benchmarks/measured.py``, see the README).
    scan_end_eV: where the spectra of a window model end (eV above the edge, ``cut_scan``): theory and
        measurement alike are cut there and normalized again as a short scan (``cut_scan``),
        since Larch's ``pre_edge`` fits the post-edge over what a scan covers. ``None``: the
        whole range, normalized once.
    """

    grid_min_eV: float = -8.0
    grid_max_eV: float = 60.0
    grid_step_eV: float = 1.0
    derivative: bool = False
    gaussian_fwhm_eV: float = 3.0
    lorentzian_fwhm_eV: float = 2.0
    scan_end_eV: float | None = None

    def grid(self) -> np.ndarray:
        """Feature energies relative to E0 (eV)."""
        n = int(round((self.grid_max_eV - self.grid_min_eV) / self.grid_step_eV)) + 1
        return self.grid_min_eV + self.grid_step_eV * np.arange(n)

    def feature_energies(self) -> np.ndarray:
        """Energy (eV relative to E0) of each feature, the derivative channel repeated."""
        grid = self.grid()
        return np.concatenate([grid, grid]) if self.derivative else grid

    def feature_names(self) -> list[str]:
        grid = self.grid()
        names = [f"norm@{e:+.1f}eV" for e in grid]
        if self.derivative:
            names += [f"dnorm@{e:+.1f}eV" for e in grid]
        return names

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in fields})


#: Upper end of the feature grid (eV above E0) for the elements whose default models use
#: another than ``Preprocessing.grid_max_eV``. Of +60, +80 and +100 eV, the grid with the
#: highest mean grouped-CV accuracy (by mineral) of the three backends on CN and motif
#: (``benchmarks/accuracy.py --grid-max-eV``, figures in the README), unless it loses measured
#: references (``benchmarks/measured.py``): +60 for Fe and Mn, +100 for Cu and Zn, whose K edges
#: keep structure far beyond the white line. Ni stays at +60: +80 was best on theory but turned
#: measured NiO to a square pyramid (xgboost). Theory reaches 122-139 eV above E0.
#: Co: +80. Grouped CV by mineral, fold seeds 0-9 (lightgbm) and 0-4 (rf, xgboost), CN / motif:
#: +60 lightgbm .958/.970, rf .934/.945, xgboost .945/.958; +80 .964/.973, .959/.966, .952/.957;
#: +100 .965/.971, .956/.964, .960/.961. +80 and +100 are level on CN and motif (mean of the six
#: .962 and .963); +80 is taken for the metallic detector, which shares the grid: right for .992 of
#: the sites at +80 against .979 (+60) and .984 (+100) on fold seeds 0-4, and .988 against .980 and
#: .980 on seeds 5-14 (``benchmarks/metallic.py --grid-max-eV``). The measured Co foil reaches
#: +1,227 eV.
#: V and Cr: +80. Grouped CV by mineral, fold seeds 0-4, CN / motif at +60, +80, +100 (rf, xgboost
#: at +100 beside): V lightgbm .959/.961, .967/.969, .956/.972; rf .941/.949, .956/.960, .954/.958;
#: xgboost .940/.949, .957/.958, .945/.956 (mean of the six .950, .961, .957); Cr lightgbm .974/.993,
#: .981/1.000, .979/.995; rf .975/.989, .981/.997, .979/.997; xgboost .973/.987, .979/.995,
#: .979/.993 (.982, .989, .987). The site-averaged CN follows (lightgbm MAE, seeds 0-2: V .224 ->
#: .205, Cr .079 -> .079); the metallic detectors keep +60 (``METALLIC_GRID_MAX_EV_BY_ELEMENT``).
#: Ti stays at +60: .959 against .960 at +80 (``benchmarks/accuracy.py --elements V Cr Ti
#: --grid-max-eV``).
GRID_MAX_EV_BY_ELEMENT: dict[str, float] = {"Co": 80.0, "Cr": 80.0, "Cu": 100.0, "V": 80.0, "Zn": 100.0}

#: Upper end of the metallic detector's grid (eV above E0) where it is not the element's
#: (``GRID_MAX_EV_BY_ELEMENT``); it lies inside it, so a spectrum that reaches the element's grid
#: reaches the detector's. Cu: +60. Grouped CV by mineral (lightgbm), share of sites right: +60
#: .986 against .979 at +100 on fold seeds 0-4, .989 against .982 on seeds 5-14
#: (``benchmarks/metallic.py --grid-max-eV``): Cu's 27 metallic sites were missed 53 times in 5
#: assignments at +100 and 37 times at +60. V and Cr: +60, their grid before the classifiers' +80
#: (lightgbm, seeds 0-4, share right at +60 / +80 / +100: V .988 / .985 / .991, Cr .994 / .995 /
#: .994; ``benchmarks/metallic.py --grid-max-eV``): not better at +80.
METALLIC_GRID_MAX_EV_BY_ELEMENT: dict[str, float] = {"Cr": 60.0, "Cu": 60.0, "V": 60.0}


#: Upper ends (eV above E0) of the short-scan window models: a spectrum that ends before the
#: full grid of its element but reaches one of these gets the models of the largest it reaches
#: (``benchmarks/windows.py`` measures each on theory). A spectrum short of the smallest one is
#: "range too short".
SHORT_SCAN_WINDOWS_EV: tuple[float, ...] = (45.0, 30.0)


#: How far (eV) past a window's grid end its theory spectra reach before normalization
SCAN_END_MARGIN_EV = 2.0

#: Whether the short-scan window models append d(norm)/dE to the grid (``Preprocessing.derivative``).
#: A window loses the oscillations past its end, and the slope of what it keeps carries the shape
#: of the white line and the first resonance: grouped CV by mineral of the +45 eV window (lightgbm,
#: 3 fold assignments, V and Zn, whose +45 windows fell most short of the full grid) rose with it
#: from CN 0.917 to 0.932 (V) and 0.917 to 0.937 (Zn), motif 0.933 to 0.946 and 0.937 to 0.958;
#: a 0.5 eV grid step did not help (V CN 0.913). ``benchmarks/windows.py`` gives every element.
SHORT_SCAN_DERIVATIVE = True


#: Lower end of the feature grid (eV from the half-step E0) of the site-averaged CN regressors
#: (``target="cn_mean"``): where the pre-edge region of ``preedge`` ends (its baseline fit runs
#: to E0 - 2 eV); the classifiers keep ``Preprocessing.grid_min_eV`` (-8 eV). Below E0 measurement
#: lies under FEFF10 theory of the same mineral: by 0.02-0.08 of the edge step on average at -7 to
#: -2 eV over 21 measured references, most at -3 eV (``benchmarks/edge_foot.py``,
#: docs/validation/edge_foot.md); the pre-edge and the foot of the edge. The regressor read that
#: gap as a higher CN: magnetite and Mn3O4 (site average 5.33) came out 6.05 and 5.98 from -8 eV,
#: 5.71 and 5.64 from -2 eV, while their theory spectra give 5.40 and 5.45 from either. The price is
#: on theory: the grouped-CV mean absolute error (LightGBM) rises by 0.02-0.08 CN for seven elements,
#: stays for Cu (.433) and falls for Zn (.279 -> .249) (``benchmarks/site_average.py --grid-min-eV -8
#: -2``, docs/validation/site_average.md).
CN_MEAN_GRID_MIN_EV: float = -2.0


def preprocessing_for(element: str, grid_max_eV: float | None = None, target: str | None = None) -> Preprocessing:
    """The preprocessing of ``element``'s default models: ``Preprocessing()`` with the grid of
    ``GRID_MAX_EV_BY_ELEMENT`` where that names the element (for ``target="metallic"``, of
    ``METALLIC_GRID_MAX_EV_BY_ELEMENT`` first), or, for a short-scan window model,
    the grid ending at ``grid_max_eV`` (eV above E0) with its theory cut
    ``SCAN_END_MARGIN_EV`` beyond (``Preprocessing.scan_end_eV``) and, where
    ``SHORT_SCAN_DERIVATIVE`` says so, the derivative channel."""
    grid_min = {"grid_min_eV": CN_MEAN_GRID_MIN_EV} if target == "cn_mean" else {}
    if grid_max_eV is not None:
        return Preprocessing(grid_max_eV=grid_max_eV, scan_end_eV=grid_max_eV + SCAN_END_MARGIN_EV,
                             derivative=SHORT_SCAN_DERIVATIVE, **grid_min)
    if target == "metallic" and element in METALLIC_GRID_MAX_EV_BY_ELEMENT:
        return Preprocessing(grid_max_eV=METALLIC_GRID_MAX_EV_BY_ELEMENT[element])
    grid_max_eV = GRID_MAX_EV_BY_ELEMENT.get(element)
    return Preprocessing(**grid_min) if grid_max_eV is None else Preprocessing(grid_max_eV=grid_max_eV, **grid_min)


def window_for(energy_above_e0_eV: float, element: str) -> float | None:
    """The grid end (eV above E0) of the models for a spectrum that reaches
    ``energy_above_e0_eV`` above its E0: ``None`` (the full grid) where it reaches the full
    grid, else the largest of ``SHORT_SCAN_WINDOWS_EV`` it reaches, else ``None`` too (the full
    grid's models then flag it "range too short")."""
    prep = preprocessing_for(element)
    if energy_above_e0_eV >= prep.grid_max_eV - prep.grid_step_eV:
        return None
    reached = [w for w in SHORT_SCAN_WINDOWS_EV if energy_above_e0_eV >= w - prep.grid_step_eV]
    return max(reached) if reached else None


def _group(**kws: object):
    from larch import Group

    return Group(**kws)


def check_spectrum(energy: object, mu: object, what: str = "spectrum") -> tuple[np.ndarray, np.ndarray]:
    """Validate energy (eV) and mu arrays: same length, finite, strictly increasing energy."""
    try:
        energy = np.asarray(energy, dtype=float).ravel()
        mu = np.asarray(mu, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise SpectrumError(f"{what}: energy and mu must be numeric arrays ({exc})") from None
    if energy.size != mu.size:
        raise SpectrumError(f"{what}: energy has {energy.size} points but mu has {mu.size}")
    if energy.size < MIN_POINTS:
        raise SpectrumError(f"{what}: {energy.size} points, at least {MIN_POINTS} are needed")
    if not np.all(np.isfinite(energy)) or not np.all(np.isfinite(mu)):
        raise SpectrumError(f"{what}: energy or mu holds NaN or infinite values")
    steps = np.diff(energy)
    if np.any(steps == 0):
        raise SpectrumError(f"{what}: duplicated energies (e.g. {energy[1:][steps == 0][0]:.3f} eV)")
    if np.any(steps < 0):
        raise SpectrumError(f"{what}: energy is not increasing (at {energy[1:][steps < 0][0]:.3f} eV)")
    if np.ptp(mu) <= 0:
        raise SpectrumError(f"{what}: mu is constant: no absorption edge")
    return energy, mu


#: Files in a folder of spectra that are documents, not spectra (``spectrum_files`` leaves them)
NOT_SPECTRUM_SUFFIXES = frozenset({
    ".md", ".rst", ".json", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".py", ".ipynb", ".html", ".pdf",
    ".png", ".jpg", ".jpeg", ".svg", ".gif", ".tif", ".tiff", ".log", ".sqlite", ".zip", ".gz", ".tar",
    ".cif", ".inp", ".pkl", ".joblib", ".h5", ".hdf5", ".nxs",
})


def spectrum_files(paths: list[str | os.PathLike]) -> list[Path]:
    """The files to read from ``paths``: a file as it is, a folder as its files (sorted by name;
    hidden files, subfolders and documents such as ``README.md`` or ``labels.json``, by
    ``NOT_SPECTRUM_SUFFIXES``, left aside). A file that is no spectrum is still read, and its
    reader says so; a folder with no files left raises ``SpectrumError``."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            out.append(path)
            continue
        found = sorted(f for f in path.iterdir() if f.is_file() and not f.name.startswith(".")
                       and f.suffix.lower() not in NOT_SPECTRUM_SUFFIXES)
        if not found:
            raise SpectrumError(f"{path}: a folder with no spectrum files in it")
        out.extend(found)
    return out


def read_spectrum(path: str | os.PathLike, group: str | None = None, normalized: bool = False,
                  mu_columns: str | None = None):
    """Read a spectrum file into a Larch Group with ``energy`` (eV) and ``mu``.

    Formats: XDI (``#XDI/1.x`` or ``# XDI/1.x``, read with Larch's ``read_xdi``), column ASCII
    (Larch's ``read_ascii``; labels from the last comment line or a ``# columns: ...`` line),
    Athena projects (``.prj``: ``group`` names the group; the only group is taken when there
    is one).

    mu comes from the column labels (``mu_from_columns``): ``mutrans``/``mufluor``/``mu``/``xmu``
    as they are, ``ln(i0/itrans)`` from ``i0`` and ``itrans``, ``ifluor/i0`` from ``i0`` and
    ``ifluor``, ``normtrans``/``normfluor``/``norm``/``flat`` as already normalized. Where the
    labels do not tell, ``SpectrumError`` names the columns found and asks for ``mu_columns``:
    a column name (``"mutrans"``), a ratio (``"ifluor/i0"``) or a log ratio
    (``"ln(i0/itrans)"``). ``normalized=True`` (or a ``.nor`` file) marks ``mu`` as already
    normalized, so ``normalize`` does not renormalize it.

    The Group also gets ``mu_source``: how mu was made (``"ln(i0/itrans)"``, ``"mutrans"``, ...).
    """
    path = Path(path)
    if path.is_dir():
        raise SpectrumError(f"{path}: a folder, not a spectrum file (larch-motif predict and explain read "
                            "the spectrum files of a folder; in Python, spectrum_files([folder]) lists them)")
    if not path.is_file():
        raise SpectrumError(f"{path}: no such file")
    normalized = normalized or path.suffix.lower() == ".nor"
    try:
        if path.suffix.lower() == ".prj":
            grp = _read_athena(path, group)
        else:
            grp = _read_columns(path, mu_columns)
    except SpectrumError:
        raise
    except Exception as exc:  # larch readers raise many kinds on junk; the user gets one line
        raise SpectrumError(f"{path}: not a readable spectrum ({type(exc).__name__}: {exc})".splitlines()[0]) from None
    grp.energy, grp.mu = check_spectrum(grp.energy, grp.mu, str(path))
    grp.filename = str(path)
    grp.is_normalized = bool(normalized or getattr(grp, "is_normalized", False))
    return grp


#: Column labels (lower case) of mu as measured: XDI's names (transmission and fluorescence may
#: both be there: then the user chooses), then the generic ones (the first found is taken)
XDI_MU_LABELS = ("mutrans", "mufluor")
GENERIC_MU_LABELS = ("mu", "xmu")
MU_LABELS = XDI_MU_LABELS + GENERIC_MU_LABELS
#: Column labels of spectra already normalized to the edge step
NORMALIZED_LABELS = ("normtrans", "normfluor", "norm", "flat")
#: Column labels of the energy (eV)
ENERGY_LABELS = ("energy", "energy_ev", "e", "energy(ev)", "ev")
_MU_COLUMNS_HELP = ("choose with mu_columns (CLI --mu-columns, Larch motif_predict(..., mu_columns=)): "
                    "a column ('mutrans'), a ratio ('ifluor/i0') or a log ratio ('ln(i0/itrans)')")


def _mu_expression(spec: str, columns: dict[str, np.ndarray]) -> np.ndarray:
    """mu from a ``mu_columns`` expression: ``NAME``, ``NUM/DEN`` or ``ln(NUM/DEN)``."""
    import re

    text = spec.strip().lower().replace(" ", "")
    match = re.fullmatch(r"(?:(-?)ln\((\w+)/(\w+)\)|(\w+)/(\w+)|(\w+))", text)
    if not match:
        raise SpectrumError(f"mu_columns {spec!r}: not a column, a ratio A/B or a log ratio ln(A/B)")
    names = [n for n in match.groups()[1:] if n]
    missing = [n for n in names if n not in columns]
    if missing:
        raise SpectrumError(f"mu_columns {spec!r}: no column {', '.join(missing)} "
                            f"(columns: {', '.join(columns)})")
    if match.group(6):
        return columns[match.group(6)]
    num, den = (columns[n] for n in names)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = num / den
        if match.group(4):
            return ratio
        mu = np.log(ratio)
    return -mu if match.group(1) else mu


def mu_from_columns(labels: list[str], arrays: list[np.ndarray],
                    mu_columns: str | None = None) -> tuple[np.ndarray, np.ndarray, str, bool]:
    """Energy (eV), mu, how mu was made, and whether it is already normalized, from labelled
    columns (XDI's standard names or the labels of a column file).

    Without ``mu_columns`` the labels must tell mu: one of ``MU_LABELS``, ``i0`` with
    ``itrans`` (mu = ln(i0/itrans)) or with ``ifluor`` (mu = ifluor/i0), one of
    ``NORMALIZED_LABELS``, or a single column beside the energy. Transmission and fluorescence
    together, or several unnamed columns, raise ``SpectrumError`` naming the columns and how
    to choose; nothing is guessed.
    """
    labels = [str(lab).strip().lower() for lab in labels]
    columns = dict(zip(labels, arrays))
    found = ", ".join(labels)
    energy_label = next((lab for lab in labels if lab in ENERGY_LABELS), labels[0])
    energy = columns[energy_label]
    if mu_columns:
        mu = _mu_expression(mu_columns, columns)
        return energy, mu, mu_columns.strip(), mu_columns.strip().lower() in NORMALIZED_LABELS
    have = set(labels)
    candidates: list[tuple[str, bool]] = [(lab, False) for lab in XDI_MU_LABELS if lab in have]
    if "i0" in have and "itrans" in have and "mutrans" not in have:
        candidates.append(("ln(i0/itrans)", False))
    if "i0" in have and "ifluor" in have and "mufluor" not in have:
        candidates.append(("ifluor/i0", False))
    if not candidates:
        candidates = [(lab, False) for lab in GENERIC_MU_LABELS if lab in have][:1]
    if not candidates:
        candidates = [(lab, True) for lab in NORMALIZED_LABELS if lab in have][:1]
    if not candidates:
        others = [lab for lab in labels if lab != energy_label]
        if len(others) == 1 and not ({"i0", "itrans", "ifluor", "irefer"} & have):
            candidates = [(others[0], False)]
        elif "ifluor" in have or "itrans" in have:
            raise SpectrumError(f"columns {found}: {'ifluor' if 'ifluor' in have else 'itrans'} "
                                f"without i0, so mu cannot be made; {_MU_COLUMNS_HELP}")
        else:
            raise SpectrumError(f"columns {found}: none of them is labelled as mu "
                                f"({', '.join(MU_LABELS)}, i0 with itrans or ifluor); {_MU_COLUMNS_HELP}")
    if len(candidates) > 1:
        raise SpectrumError(f"columns {found}: both {' and '.join(c for c, _ in candidates)} can be mu; "
                            f"{_MU_COLUMNS_HELP}")
    (source, is_norm), = candidates
    return energy, _mu_expression(source, columns), source, is_norm


#: Fields of Athena's Perl-like projects that Larch evaluates (with asteval) when reading.
_ATHENA_EVALUATED_FIELDS = ("old_group", "journal", "args", "x", "y", "i0", "signal", "stddev")
_LITERAL_NODES = (ast.Expression, ast.Constant, ast.Tuple, ast.List, ast.Dict, ast.UnaryOp,
                  ast.USub, ast.UAdd, ast.Load)


def _check_athena_literals(path: Path) -> None:
    """Refuse an Athena project whose evaluated fields hold anything but literal data.

    Larch reads these fields with asteval, which has no imports but can still call functions
    such as ``open(...).read()``: a project from someone else could put a local file's text
    into a group name. Each field is parsed (never run) as asteval would parse it.
    """
    from larch.io.athena_project import _read_raw_athena, text2list

    text = _read_raw_athena(str(path))
    if text is None or "____header" in text[:500]:  # unreadable, or the JSON format (json.loads)
        return
    for number, line in enumerate(text.split("\n")[1:], start=2):
        if line.startswith("#") or len(line) < 2 or "undef" in line:
            continue
        key = line.split()[0].strip().replace("$", "").replace("@", "").replace("%", "").strip()
        if key not in _ATHENA_EVALUATED_FIELDS:
            continue
        try:
            tree = ast.parse(text2list(line), mode="eval")
        except (SyntaxError, ValueError):  # asteval cannot run what does not parse either
            continue
        if not all(isinstance(node, _LITERAL_NODES) for node in ast.walk(tree)):
            raise SpectrumError(f"{path}: Athena project line {number} ({key}) holds an expression, "
                                "not data; refused")


def _read_athena(path: Path, group: str | None):
    from larch.io import read_athena

    _check_athena_literals(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        project = read_athena(str(path), do_preedge=False)
    names = [n for n in dir(project) if not n.startswith("_")]
    names = [n for n in names if hasattr(getattr(project, n), "energy")]
    if group is None:
        if len(names) != 1:
            raise SpectrumError(f"{path}: Athena project with {len(names)} groups; name one with --group ({', '.join(names[:10])})")
        group = names[0]
    if group not in names:
        raise SpectrumError(f"{path}: no group {group!r} in Athena project (groups: {', '.join(names[:10])})")
    src = getattr(project, group)
    mu = getattr(src, "mu", None)
    if mu is None:
        raise SpectrumError(f"{path}: group {group!r} has no mu")
    return _group(energy=np.asarray(src.energy, float), mu=np.asarray(mu, float), groupname=group)


def _read_columns(path: Path, mu_columns: str | None = None):
    import re

    from larch.io import read_ascii, read_xdi

    with open(path, "rb") as fh:
        head = fh.read(2048)
    if b"\x00" in head:
        raise SpectrumError(f"{path}: binary file, not a spectrum")
    if re.match(rb"\s*#\s*XDI/1\.\d", head):
        xdi = read_xdi(str(path))
        labels = list(xdi.array_labels)
        arrays = [np.asarray(getattr(xdi, lab, col), float) for lab, col in zip(labels, xdi.data)]
        header = {"comments": getattr(xdi, "comments", ""), "attrs": getattr(xdi, "attrs", {})}  # as read_xdi's group
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = read_ascii(str(path))
        if data is None or getattr(data, "data", None) is None:
            raise SpectrumError(f"{path}: no numeric columns")
        arr = np.asarray(data.data, dtype=float)
        if arr.ndim != 2 or arr.shape[0] < 2:
            raise SpectrumError(f"{path}: needs at least two columns (energy, mu)")
        header = {"header": list(getattr(data, "header", []) or [])}  # the comment lines, as read_ascii's group
        labels = _column_labels(header["header"], list(data.array_labels), arr.shape[0])
        arrays = list(arr)
    try:
        energy, mu, source, is_norm = mu_from_columns(labels, arrays, mu_columns)
    except SpectrumError as exc:
        raise SpectrumError(f"{path}: {exc}") from None
    return _group(energy=np.asarray(energy, float), mu=np.asarray(mu, float), groupname=path.stem,
                  mu_source=source, is_normalized=is_norm, **header)


def _column_labels(header: list[str], larch_labels: list[str], n_columns: int) -> list[str]:
    """Column labels of a column file: a ``# columns: a b ...`` header line where there is one
    (Larch's ``read_ascii`` takes its first word for a label), else Larch's labels."""
    for line in reversed(header):
        text = line.lstrip("#").strip()
        if text.lower().startswith("columns:"):
            words = text.split(":", 1)[1].replace(",", " ").split()
            if len(words) >= n_columns:
                return [w.lower() for w in words[:n_columns]]
    labels = [str(lab).lower() for lab in larch_labels][:n_columns]
    return labels + [f"col{k + 1}" for k in range(len(labels), n_columns)]


def set_mu_from_columns(group, mu_columns: str | None = None) -> None:
    """Give a Larch Group read with Larch's own readers (``read_xdi``, ``read_ascii``) its ``mu``
    from its columns, as ``read_spectrum`` does for files: by ``mu_columns`` where given, else
    from the labels (``mu_from_columns``) where the Group has no ``mu`` yet. Writes ``mu``,
    ``mu_source`` and ``is_normalized`` (for a normalized column); raises ``SpectrumError``."""
    labels = [str(lab) for lab in getattr(group, "array_labels", None) or []]
    if mu_columns is None and (hasattr(group, "mu") or not labels):
        return
    names = labels or [n for n in dir(group) if not n.startswith("_")]
    columns = {n.lower(): getattr(group, n) for n in names
               if hasattr(group, n) and np.ndim(getattr(group, n)) == 1}
    if not columns:
        raise SpectrumError("the group has no columns to make mu from")
    if "energy" not in columns and hasattr(group, "energy"):
        columns = {"energy": group.energy, **columns}
    energy, mu, source, is_norm = mu_from_columns(list(columns), list(columns.values()), mu_columns)
    group.energy, group.mu, group.mu_source = np.asarray(energy, float), np.asarray(mu, float), source
    if is_norm:
        group.is_normalized = True


def broaden(energy: np.ndarray, mu: np.ndarray, gaussian_fwhm_eV: float,
            lorentzian_fwhm_eV: float, step_eV: float = 0.1) -> np.ndarray:
    """Convolve mu with a Gaussian and a Lorentzian (FWHM in eV); returns mu on ``energy``.

    The spectrum is resampled on a uniform grid of ``step_eV``, padded with its end values so
    the edges do not droop, convolved, and interpolated back.
    """
    if gaussian_fwhm_eV <= 0 and lorentzian_fwhm_eV <= 0:
        return np.asarray(mu, float).copy()
    fine = np.arange(energy[0], energy[-1] + step_eV, step_eV)
    y = np.interp(fine, energy, mu)
    width = 5 * (gaussian_fwhm_eV + 4 * lorentzian_fwhm_eV) + step_eV
    x = np.arange(-width, width + step_eV / 2, step_eV)
    kernel = np.zeros_like(x)
    kernel[len(x) // 2] = 1.0
    if gaussian_fwhm_eV > 0:
        sigma = gaussian_fwhm_eV / 2.3548
        kernel = np.exp(-0.5 * (x / sigma) ** 2)
    if lorentzian_fwhm_eV > 0:
        gamma = lorentzian_fwhm_eV / 2
        lor = gamma / (x**2 + gamma**2)
        kernel = np.convolve(kernel, lor, mode="same")
    kernel /= kernel.sum()
    pad = len(x)
    padded = np.concatenate([np.full(pad, y[0]), y, np.full(pad, y[-1])])
    smooth = np.convolve(padded, kernel, mode="same")[pad:-pad]
    return np.interp(energy, fine, smooth)


#: The half-step E0 is a crossing of 0.5 after which the normalized spectrum stays at or above
#: ``E0_HOLD_LEVEL`` for ``E0_HOLD_EV`` eV: the rise of the main edge, not a pre-edge peak. The
#: 1s->3d peak of a tetrahedral d0 site (chromates, permanganates, orthovanadates, Ba2TiO4)
#: reaches 0.6-1.2 of the edge step 10-15 eV below the edge and falls back to 0.2-0.4 within
#: 2-3 eV; the first crossing of 0.5 put E0 on it, 13-14 eV low, and most answers out of domain
#: (``benchmarks/intense_preedge.py``). Of the 2,669 database spectra as the models see them,
#: one moves (V in tillmannsite, whose own FEFF10 peak crosses 0.5, by 12.6 eV); no measured
#: file of ``../shared/data`` moves.
E0_HOLD_EV = 6.0
E0_HOLD_LEVEL = 0.45


def e0_half_step(energy: np.ndarray, flat: np.ndarray) -> float:
    """Energy (eV) where the normalized spectrum reaches 0.5 on the rise of the main edge,
    interpolated: the first upward crossing of 0.5 after which ``flat`` stays at or above
    ``E0_HOLD_LEVEL`` for ``E0_HOLD_EV`` eV (a pre-edge peak above 0.5 falls back below it);
    the first crossing of all where none holds."""
    energy, flat = np.asarray(energy, float), np.asarray(flat, float)
    above = flat >= 0.5
    if not above.any() or above[0]:
        raise SpectrumError("normalized spectrum never crosses half the edge step")
    crossings = np.nonzero(above[1:] & ~above[:-1])[0] + 1
    i = int(crossings[0])
    for c in crossings:
        hold = (energy > energy[c]) & (energy <= energy[c] + E0_HOLD_EV)
        if np.all(flat[hold] >= E0_HOLD_LEVEL):
            i = int(c)
            break
    e1, e2, f1, f2 = energy[i - 1], energy[i], flat[i - 1], flat[i]
    return float(e1 + (0.5 - f1) * (e2 - e1) / (f2 - f1)) if f2 != f1 else float(e2)


#: Larch ``pre_edge`` settings of a short scan (``cut_scan``): a constant post-edge level from
#: E0 + 20 eV to the scan's end. Larch's default fits a line over what a +45 eV scan covers
#: (white line and first oscillation) and tilts the step: on theory, Zn CN at +45 eV was 0.88
#: with it and 0.95 with these settings, 0.93 on the full grid (3 fold assignments, LightGBM).
SHORT_SCAN_POST_EDGE: dict[str, float] = {"nnorm": 0, "norm1": 20.0}


#: Energies all below this are keV (K edges of the bundled elements lie at 4.9-9.7 keV; no
#: spectrum in eV that the models answer lies below 100 eV): ``normalize`` converts them to eV.
KEV_BELOW = 100.0


def normalize(group, theory: bool = False, short_scan: bool = False) -> None:
    """Normalize a Group in place with Larch's ``pre_edge`` and set ``e0_half`` (eV).

    A group already normalized (``is_normalized``) keeps its mu as ``flat``. Writes ``e0``,
    ``edge_step``, ``norm``, ``flat``, ``e0_half`` and appends to ``group.motif_warnings``.
    ``short_scan``: the post-edge of ``SHORT_SCAN_POST_EDGE`` (``cut_scan``).
    """
    from larch.xafs import pre_edge

    energy, mu = check_spectrum(group.energy, group.mu, getattr(group, "filename", "spectrum"))
    warns = list(getattr(group, "motif_warnings", []))
    if energy.max() < KEV_BELOW:
        energy = group.energy = energy * 1000.0
        found = Finding("energy_in_keV", f"energy read as keV (up to {energy.max() / 1000:.4f}), converted to eV")
        if found not in warns:
            warns.append(found)
    if getattr(group, "is_normalized", False):
        group.norm = group.flat = mu
        group.edge_step = 1.0
        group.e0 = float(energy[np.argmax(np.gradient(mu, energy))])
    elif not (hasattr(group, "flat") and hasattr(group, "e0") and hasattr(group, "edge_step")
              and np.size(group.flat) == energy.size):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                # Larch's own E0 search for calculated spectra fails on some grids; give it ours
                e0 = float(energy[np.argmax(np.gradient(mu, energy))]) if theory else None
                pre_edge(group, e0=e0, iscalc=theory, **(SHORT_SCAN_POST_EDGE if short_scan else {}))
            except Exception as exc:
                raise SpectrumError(f"Larch pre_edge failed: {exc}") from None
    if not np.isfinite(group.edge_step) or group.edge_step <= 0:
        raise SpectrumError(f"edge step {group.edge_step!r}: no absorption edge found")
    flat = np.asarray(group.flat, float)
    group.e0_half = e0_half_step(energy, flat)
    post = flat[energy > group.e0_half + 30]
    if post.size >= 3 and abs(np.median(post) - 1) > 0.25:
        warns.append(Finding("normalization_unstable",
                             f"normalization unstable: post-edge level {np.median(post):.2f} instead of 1"))
    warns.extend(w for w in (_glitch_warning(energy, flat), _suppressed_white_line_warning(energy, flat, group.e0_half))
                 if w and w not in warns)
    group.motif_warnings = warns


def herfd_lorentzian_eV(element: str, edge: str = "K") -> float:
    """Lorentzian FWHM (eV) that gives a HERFD K-edge spectrum the core-hole broadening of a
    transmission or total-fluorescence one.

    A HERFD spectrum recorded on the Kalpha1 line has the effective width
    ``(G_K**-2 + G_L3**-2)**-0.5`` in place of the K core-hole width ``G_K`` (``G_L3``: the
    2p3/2 hole that the emission leaves; Hamalainen et al., PRL 67, 2850 (1991)); the
    difference is what is added back here. The core-hole widths are xraydb's (Krause and Oliver;
    Keski-Rahkonen and Krause), e.g. Fe: G_K 1.25, G_L3 0.36 eV; the widths added back are
    Ti 0.73, Fe 0.90, Cu 1.02, Zn 1.06 eV. The formula holds for a spectrometer whose resolution
    is well below ``G_L3``; a coarser one leaves less to add back, and this then over-broadens.
    Only K edges are HERFD-corrected (``SpectrumError`` otherwise).
    """
    import xraydb

    if edge != "K":
        raise SpectrumError(f"HERFD broadening is defined here for K edges (Kalpha1 detection), not {edge}")
    k, l3 = (float(xraydb.core_width(element, e)) for e in ("K", "L3"))
    return k - (k**-2 + l3**-2) ** -0.5


#: The word (any letter case) by which a spectrum says it is HERFD where the user has not said
#: (``herfd_evidence``): beamlines and Athena users name HERFD scans so
HERFD_WORD = "herfd"


def herfd_evidence(group) -> str | None:
    """Where a spectrum says it is HERFD: ``"its file name"``, ``"its group name"`` or ``"its
    header"`` when ``HERFD_WORD`` appears in the base name of ``group.filename``, in
    ``group.groupname`` (an Athena group) or in its header: ``group.header`` (the comment lines
    of a column file, as Larch's ``read_ascii`` keeps them), or ``comments`` and ``attrs`` (an XDI
    file, as Larch's ``read_xdi`` keeps them; ``read_spectrum`` keeps the same); None where none
    says it. What
    ``predict(..., herfd=None)`` reads a spectrum by when the user has not said."""
    name = Path(str(getattr(group, "filename", "") or "")).name
    if HERFD_WORD in name.lower():
        return "its file name"
    if HERFD_WORD in str(getattr(group, "groupname", "") or "").lower():
        return "its group name"
    header = getattr(group, "header", None) or []
    texts = [header] if isinstance(header, str) else [str(line) for line in header]
    texts += [str(getattr(group, key, "") or "") for key in ("comments", "attrs")]  # Larch's read_xdi
    return "its header" if any(HERFD_WORD in text.lower() for text in texts) else None


def herfd_broadened(group, element: str, edge: str = "K", reason: str = "herfd=True"):
    """A new normalized Group: the normalized spectrum (``flat``) of a normalized ``group``
    convolved with ``herfd_lorentzian_eV`` of its absorber, so that the models, which learned
    spectra with the full core-hole width, read a HERFD spectrum as they read transmission.

    ``group`` is left as it is: its mu, and the normalization it has (the user's own
    ``pre_edge`` ranges included), which the broadening keeps. The copy keeps the group's
    findings and adds ``herfd_broadened``, which says why (``reason``: the user's ``herfd=True``,
    or where the spectrum says it is HERFD, ``herfd_evidence``); E0 at half the edge step is that
    of the broadened spectrum."""
    width = herfd_lorentzian_eV(element, edge)
    energy = np.asarray(group.energy, float)
    copy = _group(energy=energy, mu=broaden(energy, np.asarray(group.flat, float), 0.0, width),
                  groupname=getattr(group, "groupname", None), filename=getattr(group, "filename", None),
                  is_normalized=True)
    normalize(copy)
    copy.motif_warnings = [*getattr(group, "motif_warnings", []), Finding(
        "herfd_broadened", f"read as HERFD ({reason}): broadened by a {width:.2f} eV Lorentzian (FWHM), the part "
                           f"of the {element} {edge} core-hole width that HERFD takes away, before the models read it")]
    return copy


#: A point farther than this many robust standard deviations from its neighbours' mean is a glitch.
GLITCH_SIGMAS = 12.0
#: Highest normalized mu within 30 eV above E0 below which the white line looks suppressed.
WHITE_LINE_MIN = 1.06


def _glitch_warning(energy: np.ndarray, flat: np.ndarray) -> Finding | None:
    """A warning naming the energy (eV) of a monochromator glitch: a single point that sticks
    out from both neighbours in the same direction, by far more than the neighbours differ from
    each other and than the spectrum's point-to-point noise (a sharp white line does not)."""
    if flat.size < 5:
        return None
    up, down = flat[1:-1] - flat[:-2], flat[1:-1] - flat[2:]
    spike = np.where(np.sign(up) == np.sign(down), np.minimum(np.abs(up), np.abs(down)), 0.0)
    across = np.abs(flat[2:] - flat[:-2])
    noise = 1.4826 * np.median(np.abs(np.diff(flat, 2))) + 1e-4
    candidates = (spike > 3 * across) & (spike > GLITCH_SIGMAS * noise) & (spike > 0.03)
    if not candidates.any():
        return None
    worst = int(np.argmax(np.where(candidates, spike, 0)))
    return Finding("glitch", f"glitch at {energy[worst + 1]:.1f} eV: one point {up[worst]:+.2f} (edge steps) "
                   "off its neighbours")


def _suppressed_white_line_warning(energy: np.ndarray, flat: np.ndarray, e0: float) -> Finding | None:
    """A finding when the normalized mu never rises above ``WHITE_LINE_MIN`` within 30 eV of E0:
    no white line. Metals and alloys often have none (the Co foil of the measured dev set) and some
    sulfides neither (covellite); a self-absorbed (thick, concentrated) fluorescence measurement
    loses it, and may then look metallic to the detector. The text names all three, so that a
    metal foil is not taken for a bad measurement (``docs/validation/measured.md`` lists the
    findings of the measured files)."""
    near = flat[(energy > e0) & (energy < e0 + 30)]
    if near.size >= 3 and near.max() < WHITE_LINE_MIN:
        return Finding("white_line_suppressed",
                       f"weak white line (highest normalized mu {near.max():.2f} within 30 eV of E0): metals and "
                       "some sulfides have none; in fluorescence data of a concentrated sample, self-absorption "
                       "flattens it (and can make a compound look metallic)")
    return None


def ends_short(last_eV: float, prep: Preprocessing) -> bool:
    """Whether a spectrum whose last point is ``last_eV`` (eV from the half-step E0) ends before
    the end of ``prep``'s grid (by more than a grid step): the models then read its end value
    past it, and ``predict`` caps their confidences (``prediction.check_range``)."""
    return float(last_eV) < prep.grid_max_eV - prep.grid_step_eV


def feature_vector(energy_eV: np.ndarray, flat: np.ndarray, prep: Preprocessing) -> tuple[np.ndarray, list[Finding]]:
    """The array core of ``features``: the feature vector of a normalized spectrum, ``flat``
    on ``energy_eV`` (eV relative to E0 at half the edge step), on ``prep.grid()``, and the
    findings about it (a list of warning texts).

    Parts of the grid the spectrum does not reach are filled with its end values, and a
    "range too short" finding says so (and, where the spectrum ends short, ``ends_short``, that
    the confidences are capped).
    """
    energy = np.asarray(energy_eV, float)
    grid = prep.grid()
    findings = []
    starts_late, short_end = energy[0] > grid[0] + prep.grid_step_eV, ends_short(energy[-1], prep)
    if starts_late or short_end:
        why = ("past its last point the spectrum is read as its end value, so the confidences of the answer "
               "are capped" if short_end else "below its first point the spectrum is read as its first value")
        findings.append(Finding(
            "range_too_short",
            f"range too short for the grid: spectrum covers {energy[0]:+.1f} to {energy[-1]:+.1f} eV "
            f"around E0, the model needs {grid[0]:+.1f} to {grid[-1]:+.1f} eV (the default models "
            f"answer scans that reach +{min(SHORT_SCAN_WINDOWS_EV):g} eV from a short-scan window; {why})"))
    values = np.interp(grid, energy, np.asarray(flat, float))
    if prep.derivative:
        values = np.concatenate([values, np.gradient(values, grid)])
    return values, findings


def features(group, prep: Preprocessing) -> np.ndarray:
    """Feature vector of a normalized group on ``prep.grid()`` (eV relative to ``e0_half``): the
    Group wrapper of ``feature_vector``, which adds its findings to ``group.motif_warnings``
    (the Group is written here only, as Larch's ``pre_edge`` wraps ``preedge``)."""
    values, findings = feature_vector(np.asarray(group.energy, float) - group.e0_half, group.flat, prep)
    warns = group.motif_warnings
    warns.extend(f for f in findings if f not in warns)
    return values


def theory_group(energy_eV: np.ndarray, mu: np.ndarray, prep: Preprocessing, name: str = "theory"):
    """A normalized Larch Group from a calculated spectrum, broadened as ``prep`` says."""
    energy, mu = check_spectrum(energy_eV, mu, name)
    broad = broaden(energy, mu, prep.gaussian_fwhm_eV, prep.lorentzian_fwhm_eV)
    grp = _group(energy=energy, mu=broad, groupname=name, is_normalized=False)
    normalize(grp, theory=True)
    return grp if prep.scan_end_eV is None else cut_scan(grp, prep.scan_end_eV, theory=True)


def cut_scan(group, scan_end_eV: float, theory: bool = False):
    """A new Group of a normalized ``group``'s spectrum up to ``scan_end_eV`` above its edge,
    normalized again as a short scan (``SHORT_SCAN_POST_EDGE``): what a window model sees, of
    theory and of measurement alike. A group given as normalized is cut, not renormalized.

    The edge is Larch's E0 (the steepest rise), or the half-step E0 where Larch's lies below it:
    the steepest rise of a chromate's or vanadate's pre-edge peak (measured, and FEFF10's own for
    some d0 sites) is 14 eV below the edge, and a cut from there left the window's grid uncovered
    ("range too short" for a scan to +50 eV answered by the +45 eV window)."""
    edge_eV = max(float(group.e0), float(group.e0_half))
    keep = np.asarray(group.energy, float) <= edge_eV + scan_end_eV
    cut = _group(energy=np.asarray(group.energy, float)[keep], mu=np.asarray(group.mu, float)[keep],
                 groupname=getattr(group, "groupname", None),
                 is_normalized=bool(getattr(group, "is_normalized", False)),
                 motif_warnings=list(getattr(group, "motif_warnings", [])))
    normalize(cut, theory=theory, short_scan=True)
    return cut


def feature_matrix(groups: list, prep: Preprocessing) -> np.ndarray:
    """Stack ``features`` of normalized groups into an (n_spectra, n_features) array."""
    return np.vstack([features(g, prep) for g in groups]) if groups else np.empty((0, prep.feature_energies().size))
