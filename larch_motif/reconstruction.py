"""XANES reconstruction: structural parameters in, theoretical spectrum out (a fast surrogate of
FEFF10), with TreeSHAP on every energy point and a fit of the parameters to a measured spectrum.

Training data, both from the project's own FEFF10 pipeline:

- a parametric series (``larch_motif.parametric``): a reference site distorted on a design; the
  parameters are ``bond_mean_A``, ``axial_elongation_A``, ``angle_bending_deg`` and
  ``second_shell_shift_A``;
- the structure database: site descriptors ``cn``, ``motif``, ``ligands``, ``oxidation_state``,
  ``bond_mean_A``, ``bond_std_A``, ``angle_std_deg`` against the site spectra (sites without a
  bond-valence oxidation state are left out).

Spectra are what the classifiers see: FEFF10 mu broadened and normalized by Larch
(``spectra.theory_group``) on ``Preprocessing.grid()`` (eV relative to E0 at half the edge
step). ``SpectrumReconstructor`` (scikit-learn contract) predicts the coefficients of a principal
component basis of the training spectra with one tree regressor per coefficient (rf: one
multi-output forest) from a backend of the hook layer; ``n_components=None`` predicts every
energy point directly instead. SHAP values of the coefficients map linearly onto the energy axis,
so the SHAP value of a parameter at each energy adds up exactly to the reconstructed spectrum.

R-factor, as in Larch's XANES fits: ``sum((mu_model - mu_ref)**2) / sum(mu_ref**2)`` over the
energy grid.
"""

from __future__ import annotations

import json
import os
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_array

from larch_motif.errors import LarchMotifError, ModelFileError
from larch_motif.modelfile import file_metadata, npy_array, npy_bytes, read_archive, write_archive
from larch_motif.models import backend_trait, checked_input, explained_model, get_backend
from larch_motif.spectra import Preprocessing, features, normalize, theory_group

RECONSTRUCTION_FORMAT = "larch_motif-reconstruction"
RECONSTRUCTION_FORMAT_VERSION = 1

#: Database descriptors the database reconstruction model takes (categorical ones coded).
DATABASE_PARAMETERS: tuple[tuple[str, str, str], ...] = (
    ("cn", "", "continuous"),
    ("motif", "", "categorical"),
    ("ligands", "", "categorical"),
    ("oxidation_state", "", "continuous"),
    ("bond_mean_A", "Angstrom", "continuous"),
    ("bond_std_A", "Angstrom", "continuous"),
    ("angle_std_deg", "degree", "continuous"),
)

#: Backend of the default reconstruction models (the best held-out R-squared in
#: benchmarks/reconstruction.py; see the README).
DEFAULT_BACKEND = "lightgbm"
DEFAULT_COMPONENTS = 10



def r_factor(model: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """XANES R-factor ``sum((model - reference)**2) / sum(reference**2)`` per row (last axis)."""
    model, reference = np.asarray(model, float), np.asarray(reference, float)
    return ((model - reference) ** 2).sum(-1) / (reference**2).sum(-1)


class SpectrumReconstructor(RegressorMixin, BaseEstimator):
    """Regressor of spectra (n, n_energies) from structural parameters (n, n_parameters).

    backend: a registered backend with a ``regressor`` factory (rf, xgboost, lightgbm, ...).
    n_components: principal components of the spectra the trees predict; ``None`` predicts
        every energy point directly.
    backend_params: hyper-parameters of the backend's regressor.
    random_state: seed of the regressors.
    """

    def __init__(self, backend: str = DEFAULT_BACKEND, n_components: int | None = DEFAULT_COMPONENTS,
                 backend_params: dict | None = None, random_state: int = 0) -> None:
        self.backend = backend
        self.n_components = n_components
        self.backend_params = backend_params
        self.random_state = random_state

    def fit(self, X: np.ndarray, Y: np.ndarray) -> SpectrumReconstructor:
        X = check_array(X, dtype=float)
        Y = check_array(Y, dtype=float)
        if Y.shape[0] != X.shape[0]:
            raise LarchMotifError(f"Y has {Y.shape[0]} spectra for {X.shape[0]} parameter rows")
        self.backend_ = get_backend(self.backend)
        self.mean_spectrum_ = Y.mean(axis=0)
        if self.n_components:
            k = min(int(self.n_components), *Y.shape)
            _, _, vt = np.linalg.svd(Y - self.mean_spectrum_, full_matrices=False)
            self.components_ = vt[:k]
        else:
            self.components_ = np.eye(Y.shape[1])
        targets = (Y - self.mean_spectrum_) @ self.components_.T
        # each backend's reconstruction_params: its estimator sees a handful of structural
        # parameters, not a spectrum (``models.ModelBackend``)
        params = {**backend_trait(self.backend_, "reconstruction_params"), **(self.backend_params or {})}
        if backend_trait(self.backend_, "multi_output"):  # one regressor for every coefficient
            est = self.backend_.regressor(random_state=self.random_state, **params)
            self.estimators_ = [est.fit(X, targets)]
        else:
            self.estimators_ = [self.backend_.regressor(random_state=self.random_state, **params).fit(X, t)
                                for t in targets.T]
        self.n_features_in_ = X.shape[1]
        self.n_outputs_ = Y.shape[1]
        return self

    def coefficients(self, X: np.ndarray) -> np.ndarray:
        """Predicted basis coefficients (n, n_components)."""
        X = checked_input(self, X, "estimators_", "parameters")
        if len(self.estimators_) == 1 and self.components_.shape[0] > 1:
            return np.asarray(self.backend_.predict(self.estimators_[0], X), float).reshape(X.shape[0], -1)
        return np.column_stack([self.backend_.predict(e, X) for e in self.estimators_])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Reconstructed spectra (n, n_energies)."""
        return self.mean_spectrum_ + self.coefficients(X) @ self.components_

    def shap_values(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TreeSHAP on the energy axis: values (n, n_parameters, n_energies) and the expected
        spectrum (n_energies,); ``expected + values.sum(1)`` equals ``predict(X)``."""
        import shap

        X = check_array(X, dtype=float)
        if not getattr(self.backend_, "tree_explainer", False):
            raise LarchMotifError(f"backend {self.backend_.name!r} declares no TreeSHAP support")
        explainers = getattr(self, "_explainers", None)
        if explainers is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                explainers = [shap.TreeExplainer(explained_model(self.backend_, e)) for e in self.estimators_]
            self._explainers = explainers
        values, expected = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for explainer in explainers:
                v = np.asarray(explainer.shap_values(X), float)
                values.append(v if v.ndim == 3 else v[:, :, None])
                expected.append(np.atleast_1d(np.asarray(explainer.expected_value, float)))
        coef_values = np.concatenate(values, axis=2)  # (n, p, k)
        coef_expected = np.concatenate(expected)
        return (np.einsum("npk,ke->npe", coef_values, self.components_),
                self.mean_spectrum_ + coef_expected @ self.components_)


@dataclass(frozen=True)
class Parameter:
    """An input of a reconstruction model: name, unit, kind and its trained range or categories."""

    name: str
    unit: str
    kind: str  # 'continuous' or 'categorical'
    low: float | None = None
    high: float | None = None
    categories: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"{self.name} (one of {', '.join(self.categories)})"
        return f"{self.name} (trained range {self.low:g} to {self.high:g}{' ' + self.unit if self.unit else ''})"


@dataclass
class ReconstructionModel:
    """A fitted reconstructor with its parameters, energy grid and provenance.

    series: ``'database'`` or the parametric series name (e.g. ``'Fe O:6 hematite'``).
    """

    reconstructor: SpectrumReconstructor
    element: str
    edge: str
    series: str
    parameters: list[Parameter]
    preprocessing: Preprocessing
    training_X: np.ndarray
    metadata: dict = field(default_factory=dict)

    @property
    def parameter_names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def energy(self) -> np.ndarray:
        """Energy grid of the reconstructed spectra (eV relative to E0 at half the edge step)."""
        return self.preprocessing.grid()

    def encode(self, values: dict[str, object]) -> tuple[np.ndarray, list[str]]:
        """One parameter row from ``{name: value}`` and the extrapolation warnings.

        An unknown or missing parameter, a value that is not a number or an unknown category
        raises ``LarchMotifError`` naming the parameter and its trained range; a value outside
        the trained range is used but flagged.
        """
        known = {p.name: p for p in self.parameters}
        unknown = [k for k in values if k not in known]
        if unknown:
            raise LarchMotifError(f"unknown parameter {unknown[0]!r}: the {self.series} model takes "
                                  + "; ".join(p.describe() for p in self.parameters))
        missing = [p for p in self.parameters if p.name not in values]
        if missing:
            raise LarchMotifError("missing parameter " + "; ".join(p.describe() for p in missing))
        row, warns = [], []
        for p in self.parameters:
            value = values[p.name]
            if p.kind == "categorical":
                if str(value) not in p.categories:
                    raise LarchMotifError(f"{p.name} {value!r} unknown to the model: {p.describe()}")
                row.append(float(p.categories.index(str(value))))
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise LarchMotifError(f"{p.name} {value!r} is not a number: {p.describe()}") from None
            if not np.isfinite(number):
                raise LarchMotifError(f"{p.name} {value!r} is not a finite number: {p.describe()}")
            if number < p.low or number > p.high:
                warns.append(f"extrapolation: {p.name} = {number:g} is outside the {p.describe()[len(p.name) + 2:-1]}; "
                             "the trees hold the value at the edge of the range")
            row.append(number)
        return np.array(row), warns

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Reconstructed normalized mu (n, n_energies) of encoded parameter rows X."""
        return self.reconstructor.predict(X)

    def reconstruct(self, values: dict[str, object]) -> dict:
        """The spectrum of one parameter set: ``energy`` (eV relative to E0), ``mu``
        (normalized), ``parameters``, ``in_range`` and ``warnings``."""
        x, warns = self.encode(values)
        mu = self.predict(x[None])[0]
        return {"element": self.element, "edge": self.edge, "series": self.series,
                "parameters": dict(values), "energy": self.energy.tolist(), "mu": mu.tolist(),
                "in_range": not warns, "warnings": warns}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model file (zip of JSON, .npy arrays and the backend's own format)."""
        rec = self.reconstructor
        members = {name: npy_bytes(np.asarray(array, float)) for name, array in (
            ("mean_spectrum.npy", rec.mean_spectrum_), ("components.npy", rec.components_),
            ("training_parameters.npy", self.training_X))}
        for k, est in enumerate(rec.estimators_):
            members[f"estimator_{k}.bin"] = rec.backend_.dumps(est)
        meta = {
            **file_metadata(RECONSTRUCTION_FORMAT, RECONSTRUCTION_FORMAT_VERSION, self.element, self.edge,
                            rec.backend_, self.preprocessing, rec.backend_params, rec.random_state,
                            rec.n_features_in_, self.energy),
            "series": self.series,
            "parameters": [p.__dict__ | {"categories": list(p.categories)} for p in self.parameters],
            "n_components": rec.n_components, "n_estimators": len(rec.estimators_), **self.metadata,
        }
        return write_archive(path, meta, members)


def load_reconstruction_model(path: str | os.PathLike) -> ReconstructionModel:
    """Read a reconstruction model file (never unpickled; SHA-256 of every member checked)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            n = int(json.loads(zf.read("metadata.json")).get("n_estimators", 0))
    except Exception:  # read_archive gives the precise message below
        n = 0
    names = ("mean_spectrum.npy", "components.npy", "training_parameters.npy",
             *(f"estimator_{k}.bin" for k in range(n)))
    meta, members = read_archive(path, RECONSTRUCTION_FORMAT, RECONSTRUCTION_FORMAT_VERSION, names)
    if n < 1:
        raise ModelFileError(f"{path}: reconstruction model without estimators")
    arrays = {name: npy_array(members[name]) for name in names[:3]}
    rec = SpectrumReconstructor(meta["backend"], meta["n_components"], meta.get("backend_params") or None,
                                meta.get("random_state", 0))
    rec.backend_ = get_backend(meta["backend"])
    rec.estimators_ = [rec.backend_.loads(members[f"estimator_{k}.bin"]) for k in range(n)]
    for est in rec.estimators_:  # as fitted: predict in one thread (scikit-learn-style estimators)
        if "n_jobs" in getattr(est, "get_params", dict)():
            est.set_params(n_jobs=1)
    rec.mean_spectrum_ = arrays["mean_spectrum.npy"]
    rec.components_ = arrays["components.npy"]
    rec.n_features_in_ = int(meta["n_features"])
    rec.n_outputs_ = rec.components_.shape[1]
    params = [Parameter(p["name"], p["unit"], p["kind"], p.get("low"), p.get("high"), tuple(p.get("categories", ())))
              for p in meta["parameters"]]
    known = {"element", "edge", "series", "parameters", "preprocessing"}
    return ReconstructionModel(rec, meta["element"], meta["edge"], meta["series"], params,
                               Preprocessing.from_dict(meta["preprocessing"]),
                               arrays["training_parameters.npy"], {k: v for k, v in meta.items() if k not in known})


# -- training data --------------------------------------------------------------------------
@dataclass
class ReconstructionSet:
    """Parameter rows X (n, p), spectra Y (n, n_energies), CV groups and the parameters."""

    X: np.ndarray
    Y: np.ndarray
    groups: np.ndarray
    site_ids: np.ndarray
    parameters: list[Parameter]


def _range(values: np.ndarray) -> tuple[float, float]:
    """Trained range of a parameter, widened to 4 decimals so that every training value is in."""
    return float(np.floor(values.min() * 1e4) / 1e4), float(np.ceil(values.max() * 1e4) / 1e4)


def spectra_matrix(sites: list[dict], prep: Preprocessing) -> np.ndarray:
    """Broadened, Larch-normalized site spectra on ``prep.grid()`` (n, n_energies)."""
    return np.vstack([features(theory_group(s["energy_eV"], s["mu"], prep, s["site_id"]), prep)
                      [: prep.grid().size] for s in sites])


def parametric_set(element: str, series: str | None = None, db: str | os.PathLike | None = None,
                   edge: str = "K", prep: Preprocessing | None = None) -> ReconstructionSet:
    """Training set of a parametric series of ``element`` (``series``: its motif, e.g. ``'O:6'``,
    or its full name; may be left out when the file holds one series)."""
    from larch_motif.parametric import MOTIF_DESIGNS, parametric_series

    prep = prep or Preprocessing()
    rows = parametric_series(db, element, edge)
    names = sorted({r["series"] for r in rows})
    if series is None:
        if len(names) > 1:
            raise LarchMotifError(f"several parametric series of {element}: choose one of "
                                  + ", ".join(n.split()[1] for n in names) + " (or 'database')")
        series = names[0]
    chosen = [n for n in names if n == series or n.split()[1] == series]
    if not chosen:
        raise LarchMotifError(f"no parametric series {series!r} of {element} (available: "
                              + ", ".join(n.split()[1] for n in names) + ", or 'database')")
    rows = [r for r in rows if r["series"] == chosen[0]]
    motif = chosen[0].split()[1]
    specs = MOTIF_DESIGNS[motif]["parameters"]
    X = np.array([[r["parameters"][p.name] for p in specs] for r in rows], float)
    parameters = [Parameter(p.name, p.unit, "continuous", *_range(X[:, j])) for j, p in enumerate(specs)]
    return ReconstructionSet(X, spectra_matrix(rows, prep), np.array([r["design_index"] for r in rows]),
                             np.array([r["site_id"] for r in rows]), parameters)


def database_set(element: str, db: str | os.PathLike | None = None, edge: str = "K",
                 prep: Preprocessing | None = None, min_category_sites: int = 3) -> ReconstructionSet:
    """Training set of database site descriptors (``DATABASE_PARAMETERS``) against site spectra:
    anion-coordinated sites with a bond-valence oxidation state; motifs and ligand sets with
    fewer than ``min_category_sites`` sites are left out. Groups are minerals."""
    from larch_motif.database import open_database
    from larch_motif.training import select_sites

    prep = prep or Preprocessing()
    with open_database(db) as store:
        sites = select_sites(store.site_spectra(element, edge))
    sites = [s for s in sites if s.get("oxidation_state") is not None]
    for name in ("motif", "ligands"):
        counts: dict[str, int] = {}
        for s in sites:
            counts[s[name]] = counts.get(s[name], 0) + 1
        sites = [s for s in sites if counts[s[name]] >= min_category_sites]
    if len(sites) < 10:
        raise LarchMotifError(f"the database holds {len(sites)} usable {element} {edge} sites, too few")
    parameters, columns = [], []
    for name, unit, kind in DATABASE_PARAMETERS:
        if kind == "categorical":
            cats = tuple(sorted({str(s[name]) for s in sites}))
            parameters.append(Parameter(name, unit, kind, categories=cats))
            columns.append([cats.index(str(s[name])) for s in sites])
        else:
            col = [float(s[name]) for s in sites]
            parameters.append(Parameter(name, unit, kind, *_range(np.array(col))))
            columns.append(col)
    groups = np.array([s.get("mineral") or s["structure_id"] for s in sites])
    return ReconstructionSet(np.array(columns, float).T, spectra_matrix(sites, prep), groups,
                             np.array([s["site_id"] for s in sites]), parameters)


def train_reconstruction(element: str, series: str | None = None, backend: str = DEFAULT_BACKEND,
                         db: str | os.PathLike | None = None, edge: str = "K",
                         n_components: int | None = DEFAULT_COMPONENTS, backend_params: dict | None = None,
                         prep: Preprocessing | None = None, random_state: int = 0,
                         out: str | os.PathLike | None = None) -> ReconstructionModel:
    """Fit a reconstruction model of ``element`` on a parametric series (``series`` its motif;
    ``db`` default: the bundled parametric file) or, with ``series='database'``, on the
    structure database's site descriptors (``db`` default: the bundled database)."""
    prep = prep or Preprocessing()
    if series == "database":
        ts = database_set(element, db, edge, prep)
        name = "database"
    else:
        ts = parametric_set(element, series, db, edge, prep)
        from larch_motif.parametric import parametric_series

        name = next(r["series"] for r in parametric_series(db, element, edge) if r["site_id"] == ts.site_ids[0])
    rec = SpectrumReconstructor(backend, n_components, backend_params, random_state).fit(ts.X, ts.Y)
    model = ReconstructionModel(rec, element, edge, name, ts.parameters, prep, ts.X,
                                {"n_spectra": int(ts.X.shape[0])})
    if out is not None:
        model.save(out)
    return model


def default_reconstruction_model(element: str, series: str | None = None, edge: str = "K",
                                 backend: str = DEFAULT_BACKEND) -> ReconstructionModel:
    """The default model of an element and series on the bundled data, trained on first use and
    cached (the key holds the data's content hash, the version and the settings)."""
    from larch_motif.database import open_database
    from larch_motif.defaults import cache_folder, cache_key, package_version
    from larch_motif.parametric import parametric_database_path

    if series == "database":
        path = None
    else:
        path = parametric_database_path()
        if not path.is_file():
            raise LarchMotifError("the bundled parametric series are missing from this installation")
    with open_database(path) as store:
        if (element, edge) not in store.elements():
            raise LarchMotifError(f"no bundled reconstruction data for {element} {edge} edge")
        digest = store.content_hash(element, edge)
    if series is None:  # resolve now, so that the cache key names the series
        series = _only_series(element, path, edge)
    key = cache_key(digest, package_version(), Preprocessing().as_dict(), backend, DEFAULT_COMPONENTS, series)
    safe = str(series).replace(":", "").replace(" ", "_")
    cache = cache_folder() / f"reconstruct_{element}_{edge}_{safe}_{backend}_{key}.lmr"
    if not cache.is_file():
        train_reconstruction(element, series, backend, db=path, edge=edge, out=cache)
    return load_reconstruction_model(cache)  # the same object on first and later calls


def _only_series(element: str, db: Path, edge: str) -> str:
    from larch_motif.parametric import parametric_series

    names = sorted({r["series"].split()[1] for r in parametric_series(db, element, edge)})
    if len(names) > 1:
        raise LarchMotifError(f"several parametric series of {element}: choose one of "
                              f"{', '.join(names)} (or 'database')")
    return names[0]


def _resolve(model: str | os.PathLike | ReconstructionModel | None, element: str | None,
             series: str | None, backend: str | None) -> ReconstructionModel:
    if isinstance(model, ReconstructionModel):
        return model
    if model is not None:
        return load_reconstruction_model(model)
    if element is None:
        raise LarchMotifError("give an element (e.g. element='Fe') or a reconstruction model file")
    if not isinstance(element, str):
        raise LarchMotifError(f"element must be a name such as 'Fe', got {type(element).__name__}")
    return default_reconstruction_model(element, series, backend=backend or DEFAULT_BACKEND)


# -- the user-facing functions -------------------------------------------------------------
def reconstruct(element: str | None = None, params: dict[str, object] | None = None, series: str | None = None,
                model: str | os.PathLike | ReconstructionModel | None = None, backend: str | None = None) -> dict:
    """The XANES of a structure from its parameters, by the surrogate of FEFF10.

    element: absorber (uses the bundled data's default model); or ``model``: a model file or
    object. series: motif of a parametric series (``'O:6'``, ``'T:4'``) or ``'database'``.
    params: ``{name: value}``, e.g. ``{'bond_mean_A': 2.05, ...}`` (Angstrom, degree).
    Returns ``energy`` (eV relative to E0 at half the edge step), ``mu`` (normalized),
    ``in_range`` (False when a value lies outside the trained range: computed but flagged),
    ``warnings``, ``series``, ``parameters``.
    """
    m = _resolve(model, element, series, backend)
    return m.reconstruct(params or {})


def explain_reconstruction(model: ReconstructionModel, params: dict[str, object] | None = None,
                           n_curve: int = 21) -> dict:
    """TreeSHAP of the reconstruction on the energy axis, and dependence curves.

    Returns ``energy`` (eV), ``parameters``; ``mean_abs_shap`` (n_parameters x n_energies, over
    the training designs: the heat map); with ``params`` the ``local`` SHAP values of that point
    with its ``expected`` spectrum; and ``dependence``: for each continuous parameter, the
    spectrum's main-peak energy (eV) and height along the parameter's trained range (the others
    at their training medians), with the fitted shift per step (``peak_shift_eV_per_step``).
    """
    values, _ = model.reconstructor.shap_values(model.training_X)
    out: dict = {"element": model.element, "series": model.series, "energy": model.energy.tolist(),
                 "parameters": model.parameter_names,
                 "mean_abs_shap": np.abs(values).mean(axis=0).tolist()}
    if params is not None:
        x, warns = model.encode(params)
        local, expected = model.reconstructor.shap_values(x[None])
        out["local"] = {"parameters": dict(params), "shap_values": local[0].tolist(),
                        "expected": expected.tolist(), "mu": model.predict(x[None])[0].tolist(),
                        "warnings": warns}
    median = np.median(model.training_X, axis=0)
    energy = model.energy
    out["dependence"] = {}
    for j, p in enumerate(model.parameters):
        if p.kind != "continuous":
            continue
        grid = np.linspace(p.low, p.high, n_curve)
        X = np.tile(median, (n_curve, 1))
        X[:, j] = grid
        mu = model.predict(X)
        peaks = [_main_peak(energy, m) for m in mu]
        pos, height = np.array([q[0] for q in peaks]), np.array([q[1] for q in peaks])
        step = _step(p)
        slope = float(np.polyfit(grid, pos, 1)[0]) * step
        rise = float(np.polyfit(grid, height, 1)[0]) * step
        out["dependence"][p.name] = {
            "unit": p.unit, "values": grid.tolist(), "peak_energy_eV": pos.tolist(),
            "peak_height": height.tolist(), "step": step, "peak_shift_eV_per_step": slope,
            "peak_height_change_per_step": rise, "mu": mu.tolist(),
            "reading": (f"+{step:g}{' ' + p.unit if p.unit else ''} on {p.name} moves the main peak by {slope:+.2f} eV "
                        f"and changes its height by {rise:+.3f}"),
        }
    return out


def _step(p: Parameter) -> float:
    return {"Angstrom": 0.1, "degree": 5.0}.get(p.unit, 1.0)


def _main_peak(energy: np.ndarray, mu: np.ndarray) -> tuple[float, float]:
    """Energy (eV) and height of the main peak (white line): the first local maximum above E0
    that rises over the edge step (else the highest point up to +30 eV), refined with a
    parabola through its neighbours."""
    inner = np.arange(1, len(mu) - 1)
    peaks = inner[(mu[inner] >= mu[inner - 1]) & (mu[inner] > mu[inner + 1]) & (energy[inner] > 0) & (mu[inner] > 1)]
    if peaks.size:
        i = int(peaks[0])
    else:
        window = np.nonzero((energy > 0) & (energy < 30))[0]
        i = int(window[np.argmax(mu[window])])
    if 0 < i < len(mu) - 1:
        y0, y1, y2 = mu[i - 1], mu[i], mu[i + 1]
        denom = y0 - 2 * y1 + y2
        if denom < 0:
            delta = 0.5 * (y0 - y2) / denom
            step = energy[i + 1] - energy[i]
            return float(energy[i] + delta * step), float(y1 - 0.25 * (y0 - y2) * delta)
    return float(energy[i]), float(mu[i])


def plot_explanation(expl: dict, path: str | os.PathLike) -> None:
    """PNG: the energy x parameter heat map of mean |SHAP| and the dependence curves (spectra
    along each parameter's range, and the main-peak energy against the parameter)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    energy = np.array(expl["energy"])
    heat = np.array(expl["mean_abs_shap"])
    dep = expl["dependence"]
    fig, axes = plt.subplots(1, 1 + len(dep), figsize=(4.2 * (1 + len(dep)), 3.8))
    ax = axes[0]
    im = ax.imshow(heat, aspect="auto", cmap="magma",
                   extent=(energy[0], energy[-1], len(heat) - 0.5, -0.5))
    ax.set_yticks(range(len(heat)), expl["parameters"], fontsize=7)
    ax.set_xlabel("E - E0 (eV)")
    ax.set_title(f"mean |SHAP| on normalized mu ({expl['series']})", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.05)
    cmap = plt.get_cmap("viridis")
    for ax, (name, d) in zip(axes[1:], dep.items()):
        mu = np.array(d["mu"])
        for k, row in enumerate(mu):
            ax.plot(energy, row, color=cmap(k / max(len(mu) - 1, 1)), lw=0.8)
        ax.plot(d["peak_energy_eV"], d["peak_height"], "k.", ms=3)
        ax.set_xlim(energy[0], min(energy[-1], 40))
        ax.set_xlabel("E - E0 (eV)")
        ax.set_title(f"{name} {d['values'][0]:.2f} to {d['values'][-1]:.2f} {d['unit']}\n" + d["reading"].replace(" and ", "\n"),
                     fontsize=7)
    axes[1].set_ylabel("normalized mu (dark: low, yellow: high)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fit_structure(spectrum: object, element: str | None = None, series: str | None = None,
                  model: str | os.PathLike | ReconstructionModel | None = None,
                  fixed: dict[str, object] | None = None, group: str | None = None, normalized: bool = False,
                  e0_shift_eV: float = 3.0, n_start: int = 2048, backend: str | None = None) -> dict:
    """Structural parameters whose reconstruction matches a measured spectrum best.

    spectrum: a file or a Larch Group with energy (eV) and mu; it is normalized with Larch's
    pre_edge and put on the model's grid (eV from E0 at half the edge step). ``fixed``: values
    of parameters held (categorical parameters of the database model must be fixed). The free
    parameters stay in their trained ranges; an energy shift of at most ``e0_shift_eV`` (eV) is
    fitted too. The search starts from the best of ``n_start`` design points and is refined
    with lmfit (``least_squares``, steps of 2 % of each range, because tree surrogates are
    piecewise constant). Returns ``parameters`` (best values), ``uncertainties`` (1 sigma, from
    the fit's covariance), ``e0_shift_eV``, ``r_factor``, ``chi_square``, ``energy``, ``mu``
    (measured, on the grid), ``mu_fit``, ``at_bound`` (parameters at an end of their range),
    ``warnings``, ``seconds``.
    """
    import lmfit
    from scipy.stats import qmc

    from larch_motif.prediction import _as_group

    t0 = time.perf_counter()
    m = _resolve(model, element, series, backend)
    fixed = dict(fixed or {})
    unknown = [k for k in fixed if k not in m.parameter_names]
    if unknown:
        raise LarchMotifError(f"unknown parameter {unknown[0]!r} in fixed: the {m.series} model takes "
                              + "; ".join(p.describe() for p in m.parameters))
    free = [p for p in m.parameters if p.name not in fixed]
    held = [p for p in free if p.kind == "categorical"]
    if held:
        raise LarchMotifError(f"categorical parameter {held[0].name} must be fixed: {held[0].describe()}")
    grp = _as_group(spectrum, group, normalized)
    grp.motif_warnings = []
    normalize(grp)
    energy_rel = np.asarray(grp.energy, float) - grp.e0_half
    flat = np.asarray(grp.flat, float)
    grid = m.energy
    warns = list(grp.motif_warnings)
    if energy_rel[0] > grid[0] + 1 or energy_rel[-1] < grid[-1] - 1:
        warns.append(f"range too short: the spectrum covers {energy_rel[0]:+.1f} to {energy_rel[-1]:+.1f} eV "
                     f"around E0, the model {grid[0]:+.1f} to {grid[-1]:+.1f} eV")
    base = {p.name: fixed.get(p.name, 0.0) for p in m.parameters}
    x0, _ = m.encode({**base, **{p.name: p.low for p in free}})
    index = [m.parameter_names.index(p.name) for p in free]
    lows = np.array([p.low for p in free])
    spans = np.array([p.high - p.low for p in free])

    def rows(unit: np.ndarray) -> np.ndarray:
        X = np.tile(x0, (unit.shape[0], 1))
        X[:, index] = lows + unit * spans
        return X

    measured = np.interp(grid, energy_rel, flat)
    starts = qmc.Halton(d=len(free), scramble=True, seed=0).random(n_start)
    chi2 = ((m.predict(rows(starts)) - measured) ** 2).sum(axis=1)
    best = starts[int(np.argmin(chi2))]

    params = lmfit.Parameters()
    for p, u in zip(free, best):
        params.add(f"u_{p.name}", value=float(u), min=0.0, max=1.0)
        params.add(p.name, expr=f"{p.low!r} + u_{p.name} * {p.high - p.low!r}")
    params.add("e0_shift_eV", value=0.0, min=-e0_shift_eV, max=e0_shift_eV)

    def residual_at(v: np.ndarray) -> np.ndarray:
        """Residual at unit-range values of the free parameters followed by the E0 shift (eV)."""
        return m.predict(rows(v[None, :-1]))[0] - np.interp(grid + v[-1], energy_rel, flat)

    def residual(pars: lmfit.Parameters) -> np.ndarray:
        return residual_at(np.array([pars[f"u_{p.name}"].value for p in free] + [pars["e0_shift_eV"].value]))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = lmfit.minimize(residual, params, method="least_squares", diff_step=0.02)
    final = result.params
    best_v = np.array([final[f"u_{p.name}"].value for p in free] + [final["e0_shift_eV"].value])
    stderr = _standard_errors(residual_at, best_v, np.r_[np.zeros(len(free)), -e0_shift_eV],
                              np.r_[np.ones(len(free)), e0_shift_eV], np.r_[np.full(len(free), 0.02), 0.25])
    unit = best_v[None, :-1]
    mu_fit = m.predict(rows(unit))[0]
    data = np.interp(grid + best_v[-1], energy_rel, flat)
    values = {p.name: float(final[p.name].value) for p in free}
    sigma = {p.name: (None if stderr[j] is None else float(stderr[j] * spans[j])) for j, p in enumerate(free)}
    at_bound = [p.name for p in free if min(final[f"u_{p.name}"].value, 1 - final[f"u_{p.name}"].value) < 0.01]
    if at_bound:
        warns.append("at the end of the trained range: " + ", ".join(at_bound))
    flat_params = [name for name, s in sigma.items() if s is None]
    if flat_params:
        warns.append("no uncertainty for " + ", ".join(flat_params) + ": the reconstruction does not "
                     "change with it near the fitted value")
    return {"element": m.element, "series": m.series, "file": getattr(grp, "filename", None),
            "parameters": {**values, **fixed}, "uncertainties": sigma,
            "e0_shift_eV": float(best_v[-1]), "e0_shift_uncertainty_eV": stderr[-1],
            "r_factor": float(r_factor(mu_fit, data)), "chi_square": float(result.chisqr),
            "n_evaluations": int(result.nfev), "energy": grid.tolist(), "mu": data.tolist(),
            "mu_fit": mu_fit.tolist(), "at_bound": at_bound, "warnings": warns,
            "seconds": time.perf_counter() - t0}


def _standard_errors(residual, best: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                     steps: np.ndarray) -> list[float | None]:
    """1-sigma errors from a central-difference Jacobian with finite ``steps`` (a tree surrogate
    is flat on small scales), scaled by the reduced chi-square as lmfit does; ``None`` for a
    parameter the spectrum does not depend on there."""
    r0 = residual(best)
    columns = []
    for j, h in enumerate(steps):
        up, down = best.copy(), best.copy()
        up[j], down[j] = min(best[j] + h, upper[j]), max(best[j] - h, lower[j])
        columns.append((residual(up) - residual(down)) / (up[j] - down[j]))
    J = np.column_stack(columns)
    norms = np.linalg.norm(J, axis=0)
    ok = norms > 1e-9 * max(norms.max(), 1e-300)
    dof = max(r0.size - len(steps), 1)
    out: list[float | None] = [None] * len(steps)
    try:
        cov = np.linalg.inv(J[:, ok].T @ J[:, ok]) * (r0 @ r0) / dof
    except np.linalg.LinAlgError:
        return out
    for k, j in enumerate(np.nonzero(ok)[0]):
        out[j] = float(np.sqrt(max(cov[k, k], 0.0)))
    return out


def plot_fit(fit: dict, path: str | os.PathLike) -> None:
    """PNG: the measured spectrum and the fitted reconstruction, with the residual."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    energy = np.array(fit["energy"])
    fig, (ax, axr) = plt.subplots(2, 1, figsize=(6, 4.6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot(energy, fit["mu"], "k", lw=1.5, label="measured (normalized)")
    ax.plot(energy, fit["mu_fit"], "tab:red", lw=1.2, label=f"reconstruction, R = {fit['r_factor']:.4f}")
    text = "\n".join(f"{k} = {v:.3f}" + (f" ± {fit['uncertainties'][k]:.3f}" if fit["uncertainties"].get(k) else "")
                     for k, v in fit["parameters"].items() if isinstance(v, float))
    ax.text(0.98, 0.05, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=7)
    ax.set_ylabel("normalized mu")
    ax.legend(fontsize=8)
    ax.set_title(f"fit of the {fit['series']} surrogate", fontsize=9)
    axr.plot(energy, np.array(fit["mu"]) - np.array(fit["mu_fit"]), "k", lw=1)
    axr.axhline(0, color="gray", lw=0.8)
    axr.set_xlabel("E - E0 (eV)")
    axr.set_ylabel("residual")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
