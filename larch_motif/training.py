"""Training sets from the database, augmentation, grouped cross-validation and training
(``defaults`` finds, names and caches the default models).

Theoretical site spectra become training spectra through the same path as measurements
(``spectra.theory_group`` -> ``spectra.features``). Augmentation draws, per copy of a spectrum,
a broadening (Gaussian and Lorentzian FWHM, eV), an E0 shift (eV), a normalization scale error
and noise, so that the models tolerate what differs between FEFF and a beamline. Copies of
one mineral always stay in the same cross-validation fold (``GroupKFold`` by mineral).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import GroupKFold

from larch_motif.baselines import brier_scores, class_probabilities
from larch_motif.database import open_database
from larch_motif.errors import LarchMotifError
from larch_motif.labels import SITE_DOMAINS, cv_group, in_site_domain, is_metallic
from larch_motif.models import (
    TARGETS,
    MotifClassifier,
    MotifModel,
    SiteAverageRegressor,
    get_backend,
    temper,
)
from larch_motif.spectra import Preprocessing, features, preprocessing_for, theory_group

#: A progress callback: ``progress(done, total)`` after each model fit
Progress = Callable[[int, int], None]

MIN_CLASS_SITES = 5
DEFAULT_SITE_DOMAIN = "anion"
#: The sites a target is trained on where ``site_domain`` is not given: the metallic detector
#: learns metallic sites against the anion-coordinated ones (``labels.is_metallic``).
SITE_DOMAIN_BY_TARGET: dict[str, str] = {"metallic": "anion+metallic"}
#: The two classes of the ``metallic`` target
METALLIC, NOT_METALLIC = "metallic", "not metallic"
#: LightGBM: the best of the three on both grouped CV and the measured references (README)
DEFAULT_BACKEND = "lightgbm"
#: Whole-spectrum shape features of the default classifiers (``MotifClassifier.shape_components``):
#: the scores on the first 20 principal components of the training spectra, appended to the grid.
#: With LightGBM's extremely randomized splits (its ``classifier_defaults``), grouped CV on fold
#: seeds 100-102 summed 17.07 over the 18 element-target cells against 16.95 before
#: (``benchmarks/hyperparameters.py --sets before default``, docs/validation/hyperparameters.md).
#: LightGBM only: XGBoost with them lost Zn motif 0.015 (docs/validation/hyperparameters_xgboost.md),
#: the random forest gained nothing (summed 16.883 -> 16.887, ``benchmarks/hyperparameters.py --backend
#: rf --sets no_shape default --shape-components 20``, seeds 100-102); both keep the grid alone (0).
SHAPE_COMPONENTS = 20
SHAPE_COMPONENTS_BY_BACKEND: dict[str, int] = {"lightgbm": SHAPE_COMPONENTS}


def shape_components_for(backend: str) -> int:
    """The number of shape features of ``backend``'s default classifiers
    (``SHAPE_COMPONENTS_BY_BACKEND``, else 0)."""
    return SHAPE_COMPONENTS_BY_BACKEND.get(backend, 0)

#: The 3d K edges in order of atomic number: the neighbours of an element for ``metallic_pool``
#: (``neighbour_elements``)
ELEMENTS_BY_Z: tuple[str, ...] = ("Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn")
#: Training weight of each pooled metallic row (an element's own rows weigh 1)
METALLIC_POOL_WEIGHT = 0.25
#: The elements whose metallic detector also learns the metallic sites of its neighbours in
#: ``ELEMENTS_BY_Z`` (Z - 1 and Z + 1), as training-only rows of ``METALLIC_POOL_WEIGHT``: a
#: metal's K edge relative to E0 looks alike between neighbours (similar lattices, bond lengths
#: within a few per cent), and V has 9 metallic sites of its own. Chosen by grouped CV, 5 fold
#: assignments (``benchmarks/metallic.py --pool neighbours``, ``docs/validation/metallic_neighbours.md``
#: against ``--pool none``), and by the measured files: right for Cr .982 -> .995, V .964 ->
#: .979, Ti .965 -> .971. Cu (.975 -> .983) and Zn (.980 -> .982) gain on theory too, but with
#: them the detector's probability on measured sulfides rose to the border (ZnS reagent
#: 0.06 -> 0.53, flagged "possibly metallic"; sphalerite 0.06 -> 0.42; covellite 0.07 -> 0.48),
#: so they keep their own sites; Co (.981 -> .958), Ni, Fe and Mn lose on theory (their
#: neighbours' 114-182 metallic sites turn their arsenides, antimonides and tellurides metallic).
METALLIC_POOL_ELEMENTS: frozenset[str] = frozenset({"Ti", "V", "Cr"})


#: Elements whose CN and motif models also learn the spectra of structures derived for their
#: rare motifs (``build.build_derived``: the element on a donor's tetrahedral or square-planar
#: sites), shipped in ``derived_database_path()``, as training-only rows of ``DERIVED_WEIGHT``
#: (never scored; each held out with its parent mineral). Chosen per element by
#: ``benchmarks/derived.py`` (``docs/validation/derived.md``, 3 fold assignments) and the
#: measured files. Mn, 95 tetrahedra derived from Zn, Co, Fe and Cr sites: CN 0.964 -> 0.971, CN 4
#: recall 0.711 -> 0.911, T:4 0.744 -> 0.821, at the cost of CN 2 1.000 -> 0.800 (2 of 10 linear
#: sites), motif 0.974 -> 0.972. Ni, 60 tetrahedra and 33 square planes: T:4 becomes a class
#: (4 of its 4 sites right), S:4 one that is nearly never right (0.083), and its octahedra lose
#: (O:6 1.000 -> 0.985, motif 0.979 -> 0.969): not taken. Ti, 28 tetrahedra and 17 square
#: pyramids from the vanadates: CN 0.970 = 0.970, CN 5 recall 0.389 -> 0.722, CN 4 becomes a
#: class (3 sites of its own), O:6 0.993 -> 0.980 (macedonite PbTiO3, Ti-O 1.76 and 2.41 A,
#: now called 5), motif 0.972 -> 0.970; no measured Ti file here.
DERIVED_ELEMENTS: frozenset[str] = frozenset({"Mn", "Ti"})
DERIVED_WEIGHT = 1.0
#: The targets that learn from derived structures
DERIVED_TARGETS: tuple[str, ...] = ("cn", "motif")
#: The derived sites learnt from, by element: those of the rare motifs they were derived for
#: (the motifs of ``build.DERIVED_DONORS``, which this module does not import: pymatgen comes
#: with it). A donor's other sites come along in a derived structure (octahedral Zn beside the
#: tetrahedral, square pyramids of Cu): with them the Ni CN 5 class came to be (2 sites of its
#: own, 8 derived) and drew Ni's octahedra, CN 0.941 -> 0.919 (``benchmarks/derived.py``)
DERIVED_MOTIFS: dict[str, tuple[str, ...]] = {"Mn": ("T:4",), "Ni": ("T:4", "S:4"), "Ti": ("T:4", "S:5")}


def derived_training_sites(sites: list[dict], element: str) -> list[dict]:
    """The derived sites of ``element`` a model learns from: anion-coordinated, of its
    ``DERIVED_MOTIFS``."""
    return [s for s in select_sites(sites) if s["motif"] in DERIVED_MOTIFS.get(element, ())]


def derived_database_path() -> Path:
    """The database of derived spectra shipped with the package (``data/derived_xanes.sqlite``)."""
    return Path(__file__).resolve().parent / "data" / "derived_xanes.sqlite"


def _derived_database_for(element: str, target: str) -> Path | None:
    """``derived_database_path()`` where ``element``'s ``target`` model learns derived sites
    (``DERIVED_ELEMENTS``, ``DERIVED_TARGETS``, the file shipped), else ``None``."""
    path = derived_database_path()
    if element not in DERIVED_ELEMENTS or target not in DERIVED_TARGETS or not path.is_file():
        return None
    return path


def derived_pool(element: str, target: str, edge: str = "K") -> tuple[list[dict], str | None]:
    """The derived sites (anion-coordinated) that ``element``'s default ``target`` model learns
    from, and their content hash (the model's key); ``([], None)`` where ``DERIVED_ELEMENTS``
    or ``DERIVED_TARGETS`` leave it out or the file holds none."""
    path = _derived_database_for(element, target)
    if path is None:
        return [], None
    with open_database(path) as store:
        if (element, edge) not in store.elements():
            return [], None
        return derived_training_sites(store.site_spectra(element, edge), element), store.content_hash(element, edge)


_DERIVED_HASHES: dict[tuple, str | None] = {}


def derived_content_hash(element: str, target: str, edge: str = "K") -> str | None:
    """The content hash of the derived sites ``derived_pool`` gives (``None`` where none), read
    once per process while the file is unchanged: the default models' names key it."""
    path = _derived_database_for(element, target)
    if path is None:
        return None
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size, element, edge)
    if key not in _DERIVED_HASHES:
        with open_database(path) as store:
            _DERIVED_HASHES[key] = (store.content_hash(element, edge) if (element, edge) in store.elements()
                                    else None)
    return _DERIVED_HASHES[key]


def metallic_pool(store, element: str, edge: str = "K") -> tuple[list[dict], dict[str, str]]:
    """The metallic sites of other elements that ``element``'s metallic detector learns from
    (``METALLIC_POOL_ELEMENTS``: those of its neighbours in the database ``store``; none for the
    other elements) and the content hash of each element they come from (the model's key)."""
    if element not in METALLIC_POOL_ELEMENTS:
        return [], {}
    near = neighbour_elements(element, [el for el, k in store.elements() if k == edge])
    sites = [s for el in near for s in store.site_spectra(el, edge) if is_metallic(s.get("ligands"))]
    return sites, {el: store.content_hash(el, edge) for el in near}


def neighbour_elements(element: str, available: list[str] | None = None) -> list[str]:
    """The elements next to ``element`` in ``ELEMENTS_BY_Z`` (Z - 1, Z + 1), those of
    ``available`` only where given; ``[]`` for an element outside the list."""
    if element not in ELEMENTS_BY_Z:
        return []
    z = ELEMENTS_BY_Z.index(element)
    near = [ELEMENTS_BY_Z[k] for k in (z - 1, z + 1) if 0 <= k < len(ELEMENTS_BY_Z)]
    return [el for el in near if available is None or el in available]


#: energy-axis stretch of the augmentation, by calculation: against the measured references,
#: FEFF10 without SCF matches best stretched by 1.10-1.45 around E0 (mean 1.16), with SCF
#: (3 A) by 1.00-1.10 (mean 1.04) (``benchmarks/theory_vs_measurement.py``). The lower end 0.85,
#: below those fits, covers sharp measurements whose first peak lies nearer E0 than theory's
#: (measured ZnSe: +4 eV, FEFF10 stilleite +8 eV): with 1.0 the Zn detector called it metallic
#: at p 0.99 (``benchmarks/augmentation.py``, ``docs/validation/augmentation.md``)
STRETCH_WITHOUT_SCF: tuple[float, float] = (0.85, 1.4)
STRETCH_WITH_SCF: tuple[float, float] = (0.85, 1.15)


#: ``Augmentation.width_draw`` values
WIDTH_DRAWS = ("uniform", "log")

#: The shape of the foot gap (``Augmentation.foot_gap``): knots (eV from the half-step E0) and
#: the depth there, 1 at the deepest. Measured spectra lie under their FEFF10 theory from -7 to
#: -1 eV, deepest at -3 eV; this is the mean of measured - theory over 21 measured references,
#: divided by its value at -3 eV (-0.084 of the edge step; ``benchmarks/edge_foot.py``,
#: ``docs/validation/edge_foot.md``). Zero at and above E0.
FOOT_GAP_ENERGIES_EV: tuple[float, ...] = (-8.0, -7.0, -6.0, -5.0, -4.0, -3.0, -2.0, -1.0, 0.0)
FOOT_GAP_SHAPE: tuple[float, ...] = (0.12, 0.27, 0.44, 0.64, 0.85, 1.0, 0.96, 0.56, 0.0)


def foot_gap_profile(energy_eV: np.ndarray) -> np.ndarray:
    """``FOOT_GAP_SHAPE`` on ``energy_eV`` (eV from E0): linear between the knots, the value at
    -8 eV below it, 0 above E0."""
    return np.interp(np.asarray(energy_eV, float), FOOT_GAP_ENERGIES_EV, FOOT_GAP_SHAPE,
                     left=FOOT_GAP_SHAPE[0], right=0.0)


@dataclass(frozen=True)
class Augmentation:
    """Random perturbations of theoretical spectra (uniform draws in the ranges; the broadening
    widths as ``width_draw`` says).

    copies: augmented copies per site spectrum (besides the unperturbed one).
    gaussian_fwhm_eV, lorentzian_fwhm_eV: (min, max) broadening widths (eV).
    e0_shift_eV: largest E0 misalignment (eV), drawn in [-e0_shift_eV, +e0_shift_eV].
    energy_stretch: (min, max) factor on the energy axis around E0 (FEFF10 without SCF puts
        features closer to the edge than measurements show; ``augmentation_for`` picks the
        range by the database's calculation settings; the default is ``STRETCH_WITHOUT_SCF``).
    scale: largest relative normalization error of the edge step.
    noise: standard deviation of Gaussian noise in normalized units.
    seed: random seed (augmentation is reproducible).
    width_draw: how each broadening width is drawn in its range: ``"uniform"`` in the width,
        or ``"log"``, uniform in its logarithm (as many copies between 0.5 and 1.6 eV as between
        1.6 and 5 eV Gaussian FWHM), which puts more copies at the sharp end that HERFD and
        other high-resolution measurements reach (``benchmarks/sharp_spectra.py``).
    foot_gap: largest depth (fraction of the edge step) of the foot gap subtracted from each
        copy: ``foot_gap_profile`` times a depth drawn uniformly in [0, foot_gap]. Measured
        spectra lie under theory just below E0 (``FOOT_GAP_SHAPE``), and a classifier trained
        without it reads a lower foot as an octahedron; 0 (the default) adds none.
    """

    copies: int = 4
    gaussian_fwhm_eV: tuple[float, float] = (0.5, 5.0)
    lorentzian_fwhm_eV: tuple[float, float] = (0.3, 4.0)
    e0_shift_eV: float = 1.5
    energy_stretch: tuple[float, float] = STRETCH_WITHOUT_SCF
    scale: float = 0.05
    noise: float = 0.005
    seed: int = 0
    width_draw: str = "uniform"
    foot_gap: float = 0.0

    def __post_init__(self) -> None:
        if self.width_draw not in WIDTH_DRAWS:
            raise LarchMotifError(f"width_draw must be one of {', '.join(WIDTH_DRAWS)}, not {self.width_draw!r}")
        if self.width_draw == "log" and min(self.gaussian_fwhm_eV[0], self.lorentzian_fwhm_eV[0]) <= 0:
            raise LarchMotifError("width_draw 'log' needs broadening ranges that start above 0 eV")
        if not 0.0 <= self.foot_gap < 1.0:
            raise LarchMotifError(f"foot_gap is a depth in fractions of the edge step, 0 to 1, not {self.foot_gap}")

    def draw_width_eV(self, rng: np.random.Generator, low_high: tuple[float, float]) -> float:
        """One broadening width (eV FWHM) in ``low_high``, drawn as ``width_draw`` says."""
        low, high = low_high
        if self.width_draw == "log":
            return float(np.exp(rng.uniform(np.log(low), np.log(high))))
        return float(rng.uniform(low, high))

    def as_dict(self) -> dict:
        """The fields; ``width_draw`` only where it is not ``"uniform"`` and ``foot_gap`` only
        where it is not 0, so that the model files and cache keys of models trained without them
        stay what they were."""
        d = asdict(self)
        if d["width_draw"] == "uniform":
            del d["width_draw"]
        if not d["foot_gap"]:
            del d["foot_gap"]
        return d


#: ``augmentation=FROM_DATABASE``: the augmentation that suits the database's calculation settings
FROM_DATABASE = "database"


#: ``Augmentation.foot_gap`` of the default models, by target; 0 where not named. The CN and motif
#: classifiers (the short-scan windows too) learn the gap that measurement shows below E0:
#: trained without it, they read the lower foot of a measured tetrahedral Fe or Mn site as an
#: octahedron (``benchmarks/foot_gap.py``). The site average reads from -2 eV
#: (``spectra.CN_MEAN_GRID_MIN_EV``), under most of the gap; the metallic detector is not measured
#: with it.
FOOT_GAP_BY_TARGET: dict[str, float] = {"cn": 0.25, "motif": 0.25}


def augmentation_for(calculation: dict | None, target: str = "cn") -> Augmentation:
    """The default augmentation of spectra computed with ``calculation`` (the settings a
    database records per element, ``SpectralDatabase.calculation``) for a model of ``target``
    (``cn``, ``motif``, ``metallic`` or ``cn_mean``): the energy stretch is ``STRETCH_WITH_SCF``
    for a self-consistent potential, else ``STRETCH_WITHOUT_SCF``; the foot gap is
    ``FOOT_GAP_BY_TARGET``'s."""
    params = (calculation or {}).get("parameters") or {}
    stretch = STRETCH_WITH_SCF if params.get("scf_radius_A") else STRETCH_WITHOUT_SCF
    return Augmentation(energy_stretch=stretch, foot_gap=FOOT_GAP_BY_TARGET.get(target, 0.0))


def _resolve_augmentation(augmentation: Augmentation | str | None, store, element: str,
                          edge: str, target: str = "cn") -> Augmentation | None:
    if isinstance(augmentation, str):
        if augmentation != FROM_DATABASE:
            raise LarchMotifError(f"augmentation must be an Augmentation, None or {FROM_DATABASE!r}")
        return augmentation_for(store.calculation(element, edge), target)
    return augmentation


@dataclass
class TrainingSet:
    """Features X (n, n_features), labels y, CV groups (minerals), and the source site ids."""

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    site_ids: np.ndarray
    augmented: np.ndarray  # True for augmented copies
    dropped_classes: dict
    #: per-row training weights (``None``: every row 1); set by ``with_pooled_sites(weight=...)``
    weights: np.ndarray | None = None


def select_sites(sites: list[dict], site_domain: str = DEFAULT_SITE_DOMAIN) -> list[dict]:
    """The database sites of ``site_domain`` (``labels.SITE_DOMAINS``): ``anion`` keeps sites
    whose ligands are all anions, ``all`` keeps every site."""
    if site_domain not in SITE_DOMAINS:
        raise LarchMotifError(f"unknown site domain {site_domain!r} (choose from {', '.join(SITE_DOMAINS)})")
    return [s for s in sites if in_site_domain(s.get("ligands"), site_domain)]


def site_label(site: dict, target: str) -> str:
    if target == "cn":
        return str(site["cn"])
    if target == "motif":
        return str(site["motif"])
    if target == "metallic":
        return METALLIC if is_metallic(site.get("ligands")) else NOT_METALLIC
    raise LarchMotifError(f"unknown target {target!r} (choose from {', '.join(TARGETS)})")


def perturbed_features(grp, prep: Preprocessing, shift_eV: float, scale: float, stretch: float = 1.0) -> np.ndarray:
    """Features of a normalized group with E0 moved by ``shift_eV``, the energy axis stretched
    by ``stretch`` around E0 and the edge step scaled by ``scale``."""
    energy = grp.energy
    grp.energy = grp.e0_half + stretch * (np.asarray(energy, float) - grp.e0_half)
    grp.e0_half += shift_eV
    try:
        values = features(grp, prep)
    finally:
        grp.e0_half -= shift_eV
        grp.energy = energy
    n = prep.grid().size
    values[:n] = values[:n] * scale
    if prep.derivative:
        values[n:] = values[n:] * scale
    return values


def _foot_gap_features(prep: Preprocessing) -> np.ndarray:
    """``foot_gap_profile`` as a feature vector of ``prep``: on the grid, and its d/dE (1/eV)
    on the derivative channel where ``prep`` has one."""
    grid = prep.grid()
    profile = foot_gap_profile(grid)
    return np.concatenate([profile, np.gradient(profile, grid)]) if prep.derivative else profile


@dataclass
class SiteFeatures:
    """Features of every site spectrum and its augmented copies (target-independent)."""

    X: np.ndarray
    site_index: np.ndarray  # index into the sites list, one per row
    augmented: np.ndarray  # True for augmented copies


def site_features(sites: list[dict], prep: Preprocessing,
                  augmentation: Augmentation | None = None) -> SiteFeatures:
    """Features of database site spectra through the measurement path, with augmented copies."""
    rng = np.random.default_rng(augmentation.seed if augmentation else 0)
    X, index, aug = [], [], []
    foot = _foot_gap_features(prep) if augmentation and augmentation.foot_gap else None
    # the foot depths have their own stream, so every other draw stays that of foot_gap 0
    foot_rng = np.random.default_rng([augmentation.seed, 1]) if foot is not None else None
    for k, site in enumerate(sites):
        base = theory_group(site["energy_eV"], site["mu"], prep, site["site_id"])
        X.append(features(base, prep))
        index.append(k), aug.append(False)
        for _ in range(augmentation.copies if augmentation else 0):
            varied = Preprocessing(**{**prep.as_dict(),
                                      "gaussian_fwhm_eV": augmentation.draw_width_eV(rng, augmentation.gaussian_fwhm_eV),
                                      "lorentzian_fwhm_eV": augmentation.draw_width_eV(rng, augmentation.lorentzian_fwhm_eV)})
            grp = theory_group(site["energy_eV"], site["mu"], varied, site["site_id"])
            values = perturbed_features(grp, prep, rng.uniform(-1, 1) * augmentation.e0_shift_eV,
                                1 + rng.uniform(-1, 1) * augmentation.scale,
                                rng.uniform(*augmentation.energy_stretch))
            values = values + rng.normal(0, augmentation.noise, values.shape)
            if foot is not None:
                values = values - foot_rng.uniform(0.0, augmentation.foot_gap) * foot
            X.append(values)
            index.append(k), aug.append(True)
    return SiteFeatures(np.vstack(X), np.array(index), np.array(aug))


def training_set(sites: list[dict], target: str, prep: Preprocessing,
                 augmentation: Augmentation | None = None,
                 computed: SiteFeatures | None = None, also_counted: list[dict] = ()) -> TrainingSet:
    """Features and labels of database site spectra for ``target``; classes with fewer than
    ``MIN_CLASS_SITES`` sites (2 where fewer than two classes reach it) are left out and
    listed in ``dropped_classes``. ``also_counted`` (sites that ``with_pooled_sites`` adds
    after, such as derived structures) count towards that threshold, so that a class with 4
    sites of its own and 20 derived ones is kept."""
    labels = np.array([site_label(s, target) for s in sites])
    extra = [site_label(s, target) for s in also_counted]
    classes, counts = np.unique(np.concatenate([labels, extra]) if extra else labels, return_counts=True)
    own = np.isin(classes, labels)  # derived sites count only towards the element's own classes
    classes, counts = classes[own], counts[own]
    # a database with one large class (Ni: CN 6) keeps its rare classes down to 2 sites, so
    # that the model can still say "not CN 6"
    min_sites = MIN_CLASS_SITES if (counts >= MIN_CLASS_SITES).sum() >= 2 else 2
    keep = set(classes[counts >= min_sites])
    dropped = {str(c): int(n) for c, n in zip(classes, counts) if c not in keep}
    if not keep:
        raise LarchMotifError(f"no class of {target} has {MIN_CLASS_SITES} or more sites")
    sf = computed if computed is not None else site_features(sites, prep, augmentation)
    rows = np.array([labels[k] in keep for k in sf.site_index])
    idx = sf.site_index[rows]
    groups = np.array([cv_group(sites[k]) for k in idx])
    site_ids = np.array([sites[k]["site_id"] for k in idx])
    return TrainingSet(sf.X[rows], labels[idx], groups, site_ids, sf.augmented[rows], dropped)


def training_set_with_derived(sites: list[dict], target: str, prep: Preprocessing,
                              augmentation: Augmentation | None, derived: list[dict],
                              computed: SiteFeatures | None = None, weight: float = DERIVED_WEIGHT) -> TrainingSet:
    """``training_set`` of ``sites`` with the ``derived`` sites (``derived_pool``) counted towards
    the classes kept and added as training-only rows of ``weight`` (``with_pooled_sites``): how
    the default models, the demo and the benchmarks train where an element learns derived
    structures. Without ``derived`` it is ``training_set``."""
    ts = training_set(sites, target, prep, augmentation, computed, also_counted=derived)
    return with_pooled_sites(ts, derived, target, prep, augmentation, weight) if derived else ts


def with_pooled_sites(ts: TrainingSet, other_sites: list[dict], target: str, prep: Preprocessing,
                      augmentation: Augmentation | None = None, weight: float = 1.0) -> TrainingSet:
    """``ts`` with the site spectra of other absorber elements added as training-only rows.

    The metallic detector's lever: a metallic K edge (no white line, a smooth shoulder) looks
    alike from V to Zn on an energy axis relative to E0, while an element has only 8 (Zn) to 133
    (Fe) metallic sites of its own. ``other_sites`` (database site dicts of other elements, in
    the target's site domain) are put through ``prep`` (the element's grid and broadening) with
    ``augmentation``, labelled for ``target`` and appended with ``augmented`` true: trained on,
    never scored, and not part of the model's reference spectra (its domain). Their CV group is
    their mineral, so a mineral held out in grouped CV is held out with every element it holds.
    Classes that ``ts`` does not have are not added. ``weight`` (> 0) is the training weight of
    each added row against 1 for the element's own rows.
    """
    if not weight > 0:
        raise LarchMotifError(f"the weight of pooled sites must be positive, not {weight}")
    classes = set(ts.y)
    keep = [s for s in other_sites if site_label(s, target) in classes]
    if not keep:
        return ts
    sf = site_features(keep, prep, augmentation)
    labels = np.array([site_label(keep[k], target) for k in sf.site_index])
    groups = np.array([cv_group(keep[k]) for k in sf.site_index])
    site_ids = np.array([keep[k]["site_id"] for k in sf.site_index])
    weights = None
    if weight != 1.0 or ts.weights is not None:
        own = np.ones(len(ts.y)) if ts.weights is None else ts.weights
        weights = np.concatenate([own, np.full(len(labels), float(weight))])
    return TrainingSet(np.vstack([ts.X, sf.X]), np.concatenate([ts.y, labels]), np.concatenate([ts.groups, groups]),
                       np.concatenate([ts.site_ids, site_ids]), np.concatenate([ts.augmented, np.ones(len(labels), bool)]),
                       ts.dropped_classes, weights)


def grouped_folds(groups: np.ndarray, augmented: np.ndarray, cv: int = 5,
                  fold_seed: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Row indices (training, held out) of grouped K-fold CV: rows of one group (mineral) are
    never on both sides, and the held-out rows are the unaugmented spectra only (the training
    rows keep their augmented copies).

    ``fold_seed``: ``None`` assigns groups to folds as ``GroupKFold`` does (by size, the same
    every time); a number shuffles the assignment with that seed.
    """
    folds = (GroupKFold(n_splits=cv) if fold_seed is None
             else GroupKFold(n_splits=cv, shuffle=True, random_state=fold_seed))
    return [(train, test[~augmented[test]])
            for train, test in folds.split(np.zeros(len(groups)), groups=groups)]


def cross_validate(ts: TrainingSet, backend: str, cv: int = 5, backend_params: dict | None = None,
                   random_state: int = 0, return_predictions: bool = False,
                   estimator: object | None = None, fold_seed: int | None = None,
                   progress: Progress | None = None, shape_components: int | None = None) -> dict:
    """Grouped K-fold CV: sites of one mineral are never in both train and test.

    Scores count only unaugmented spectra in the test folds. Returns accuracy, balanced
    accuracy, macro F1, the mean multi-class Brier score of the class probabilities
    (``brier``: 0 sure and right, 2 sure and wrong; an estimator without ``predict_proba``
    counts as sure of its answer), the same after temperature scaling (``brier_calibrated``:
    each fold tempered by ``fit_temperature`` on the other folds' held-out probabilities, so
    out of sample), the mean ``log_losses`` before and after, ``temperature`` (what ``train``
    stores: ``fit_temperature`` of all folds) and the confusion matrix (rows: true, columns:
    predicted).
    ``estimator`` (a scikit-learn classifier, e.g. a baseline of ``larch_motif.baselines``)
    replaces the backend's classifier; it is cloned for every fold. Baselines are trained on
    the unaugmented spectra only, as a scientist's reference library would be.
    ``fold_seed``: ``None`` assigns minerals to folds as ``GroupKFold`` does (by size, the same
    every time); a number shuffles the assignment with that seed, so that repeated CV over
    several seeds shows how much a score owes to one assignment. ``progress(done, total)`` is
    called after each fold's fit (total: the ``cv`` folds). ``shape_components``: as
    ``MotifClassifier``'s (the backend's classifier only); default ``shape_components_for(backend)``.
    """
    from sklearn.base import clone

    if shape_components is None:
        shape_components = shape_components_for(backend)

    n_groups = np.unique(ts.groups).size
    if n_groups < cv:
        raise LarchMotifError(f"{n_groups} minerals are too few for {cv}-fold grouped CV")
    labels = sorted(np.unique(ts.y), key=_label_order)
    y_true, y_pred, ids, p_max, p_all, fold = [], [], [], [], [], []
    for k, (train, test) in enumerate(grouped_folds(ts.groups, ts.augmented, cv, fold_seed)):
        if estimator is not None:
            train = train[~ts.augmented[train]]
            clf = clone(estimator).fit(ts.X[train], ts.y[train])
            pred = np.asarray(clf.predict(ts.X[test])).astype(str)
            proba = class_probabilities(clf, ts.X[test])
            confidence = proba.max(axis=1)
        else:
            clf = MotifClassifier(backend, backend_params, random_state=random_state,
                                  shape_components=shape_components).fit(
                ts.X[train], ts.y[train], sample_weight=None if ts.weights is None else ts.weights[train],
                shape_rows=~ts.augmented[train])
            proba = clf.predict_proba(ts.X[test])
            pred, confidence = clf.classes_[proba.argmax(axis=1)], proba.max(axis=1)
        full = np.zeros((len(test), len(labels)))  # a class missing from a training fold has p = 0
        full[:, [labels.index(c) for c in np.asarray(clf.classes_).astype(str)]] = proba
        y_true.append(ts.y[test])
        y_pred.append(pred)
        ids.append(ts.site_ids[test])
        p_max.append(confidence)
        p_all.append(full)
        fold.append(np.full(len(test), k))
        if progress is not None:
            progress(k + 1, cv)
    y_true, y_pred, p_all, fold = (np.concatenate(a) for a in (y_true, y_pred, p_all, fold))
    tempered = np.empty_like(p_all)  # each fold tempered by a T fitted on the other folds only
    for k in range(cv):
        tempered[fold == k] = temper(p_all[fold == k],
                                     fit_temperature(p_all[fold != k], labels, y_true[fold != k]))
    loss, loss_tempered = (float(log_losses(p, labels, y_true).mean()) for p in (p_all, tempered))
    return {
        "cv_folds": cv,
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
        "brier": float(brier_scores(p_all, labels, y_true).mean()),
        "brier_calibrated": float(brier_scores(tempered, labels, y_true).mean()),
        "log_loss": loss, "log_loss_calibrated": loss_tempered,
        "temperature": fit_temperature(p_all, labels, y_true),
        "confusion_matrix": {"labels": labels,
                             "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist()},
        **({"predictions": {"site_id": np.concatenate(ids).tolist(), "true": y_true.tolist(),
                            "predicted": y_pred.tolist(),
                            "probability": np.round(np.concatenate(p_max), 4).tolist(),
                            "labels": labels, "probabilities": p_all.tolist()}}
           if return_predictions else {}),
    }


def _label_order(label: str) -> tuple:
    return (0, int(label), "") if label.isdigit() else (1, 0, label)


def train(element: str, target: str = "cn", backend: str = "rf", db: str | os.PathLike | None = None,
          edge: str = "K", cv: int | None = 5, out: str | os.PathLike | None = None,
          prep: Preprocessing | None = None, augmentation: Augmentation | str | None = FROM_DATABASE,
          backend_params: dict | None = None, random_state: int = 0,
          site_domain: str | None = None, progress: Progress | None = None) -> tuple[MotifModel, dict]:
    """Train a classifier of ``target`` for ``element`` on the database; cross-validate it.

    ``target``: ``cn``, ``motif``, or ``metallic`` (metallic sites against anion-coordinated
    ones: the detector that answers "metallic, no coordination polyhedron" for foils and alloys).

    ``augmentation``: an ``Augmentation``, ``None`` (none), or ``"database"`` (the default:
    ``augmentation_for`` the element's calculation settings, a smaller stretch with SCF).

    ``site_domain`` chooses the database sites (``anion``: absorber bonded only to anion
    ligands; ``anion+metallic``: metallic sites too; ``all``: every site); ``None`` takes
    ``SITE_DOMAIN_BY_TARGET`` of the target, else ``anion``.

    ``prep``: the feature grid and broadening; ``None`` takes ``preprocessing_for(element, target=target)``,
    the grid of the element's default models.

    Returns the model fitted on all spectra and a report: target, backend, n_spectra (site
    spectra), n_groups (minerals), cv_folds, accuracy, balanced_accuracy, macro_f1,
    confusion_matrix, seconds. ``cv=None`` skips cross-validation. ``out`` saves the model.
    ``progress(done, total)`` is called after each fit: the ``cv`` folds, then the final model.
    """
    t0 = time.perf_counter()
    if target not in TARGETS:
        raise LarchMotifError(f"unknown target {target!r} (choose from {', '.join(TARGETS)})")
    get_backend(backend)
    prep = prep or preprocessing_for(element, target=target)
    site_domain = site_domain or SITE_DOMAIN_BY_TARGET.get(target, DEFAULT_SITE_DOMAIN)
    with open_database(db) as store:
        sites = store.site_spectra(element, edge)
        db_hash = store.content_hash(element, edge)
        db_path = str(store.path)
        augmentation = _resolve_augmentation(augmentation, store, element, edge, target)
        pool_sites, pool_hashes = metallic_pool(store, element, edge) if target == "metallic" else ([], {})
    # derived structures join the default database's models only, not a database of the user's
    derived, derived_hash = derived_pool(element, target, edge) if db is None else ([], None)
    if not sites:
        raise LarchMotifError(f"the database {db_path} holds no {element} {edge}-edge spectra")
    n_all = len(sites)
    sites = select_sites(sites, site_domain)
    if not sites:
        raise LarchMotifError(f"none of the {n_all} {element} {edge}-edge sites is in the site domain {site_domain!r}")
    ts = training_set_with_derived(sites, target, prep, augmentation, derived)
    if pool_sites:
        ts = with_pooled_sites(ts, pool_sites, target, prep, augmentation, METALLIC_POOL_WEIGHT)
    report: dict = {"target": target, "backend": backend, "element": element, "edge": edge,
                    "site_domain": site_domain,
                    "pooled_metallic": ({"elements": sorted(pool_hashes), "n_sites": len(pool_sites),
                                         "weight": METALLIC_POOL_WEIGHT} if pool_sites else None),
                    "derived": ({"n_sites": len(derived), "content_hash": derived_hash, "weight": DERIVED_WEIGHT}
                                if derived else None),
                    "n_spectra": int((~ts.augmented).sum()), "n_training_rows": int(len(ts.y)),
                    "n_groups": int(np.unique(ts.groups).size), "dropped_classes": ts.dropped_classes}
    calibration = None
    n_fits = (cv or 0) + 1
    if cv:
        res = cross_validate(ts, backend, cv, backend_params, random_state, return_predictions=True,
                             progress=None if progress is None else lambda k, _: progress(k, n_fits))
        held_out = res.pop("predictions")
        calibration = fit_confidence_calibration(
            np.array(held_out["probability"]), np.array(held_out["true"]) == np.array(held_out["predicted"]))
        report.update(res)
    clf = MotifClassifier(backend, backend_params, random_state=random_state,
                          shape_components=shape_components_for(backend)).fit(ts.X, ts.y, sample_weight=ts.weights,
                                                                 shape_rows=~ts.augmented)
    if progress is not None:
        progress(n_fits, n_fits)
    metadata = {"database": db_path, "database_sha256": db_hash,
                "augmentation": augmentation.as_dict() if augmentation else None,
                "site_domain": site_domain, "calibration": calibration,
                "temperature": report.get("temperature"),
                "training": {k: v for k, v in report.items() if k != "seconds"}}
    model = MotifModel(clf, element, edge, target, prep, ts.X[~ts.augmented], metadata)
    model.metadata["domain_threshold"] = domain_threshold(model)
    if out is not None:
        model.save(out)
    report["seconds"] = round(time.perf_counter() - t0, 2)
    return model, report


def _true_class_cells(labels: list[str], truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of each answer's true class (answers whose truth is in ``labels``)."""
    truth = np.asarray(truth).astype(str)
    rows = np.flatnonzero(np.isin(truth, labels))
    return rows, np.array([labels.index(t) for t in truth[rows]], dtype=int)


def _log_losses_at(probabilities: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    return -np.log(np.clip(np.asarray(probabilities, float)[rows, cols], 1e-4, 1.0))


def log_losses(probabilities: np.ndarray, labels: list[str], truth: np.ndarray) -> np.ndarray:
    """-ln p(true class) of each answer (the truths found in ``labels``), p floored at 1e-4 so
    that a site whose true class the model excludes (p = 0) counts 9.2, not infinity."""
    return _log_losses_at(probabilities, *_true_class_cells(labels, truth))


def fit_temperature(probabilities: np.ndarray, labels: list[str], truth: np.ndarray) -> float:
    """The temperature T (``models.temper``) that minimizes the mean log loss (``log_losses``)
    of held-out class probabilities (n_spectra, n_classes in ``labels`` order) against ``truth``.

    A grid search over T from 0.05 to 20 (log-spaced; T = 1 included); where several T score
    the same (sure one-class answers, which no temperature changes), the one nearest 1. The log
    loss, not the Brier score, is the objective: on the small Ni set the Brier-optimal T ran to
    the end of the grid (0.05).
    """
    rows, cols = _true_class_cells(labels, truth)
    if rows.size == 0:
        return 1.0
    probabilities = np.asarray(probabilities, float)
    grid = np.unique(np.r_[np.geomspace(0.05, 20.0, 121), 1.0])
    losses = np.array([_log_losses_at(temper(probabilities, t), rows, cols).mean() for t in grid])
    best = losses <= losses.min() + 1e-9
    return float(grid[best][np.abs(np.log(grid[best])).argmin()])


#: Held-out answers' worth of pseudo-answers that pull the isotonic confidence toward the
#: model's own top probability where held-out answers are few: spread evenly over the top
#: probabilities from the lowest held-out one (at most 0.5) to 1, each right with the chance it states.
#: Without them, the two or three held-out answers below a very sure model's usual probability
#: set the confidence there: xgboost's Cr CN model gave measured CrO2 (right, p 0.92) confidence
#: 0.00, and an rf metallic model jumped from 0 to 1 at p 0.6 (``benchmarks/calibration_prior.py``).
CALIBRATION_PRIOR_WEIGHT = 10.0
CALIBRATION_PRIOR_POINTS = 41


def fit_confidence_calibration(p_max: np.ndarray, correct: np.ndarray,
                               prior_weight: float = CALIBRATION_PRIOR_WEIGHT) -> dict:
    """Isotonic map from the model's top-class probability to the chance that the top class is
    right, fitted on held-out (grouped-CV) predictions and ``prior_weight`` answers' worth of
    pseudo-answers at the model's own probability (``CALIBRATION_PRIOR_WEIGHT``; 0: the held-out
    answers alone). Returned as JSON-ready knots ``{"p_max": [...], "accuracy": [...], "n": N,
    "prior_weight": W}`` for ``MotifModel.confidence``."""
    from sklearn.isotonic import IsotonicRegression

    p_max = np.asarray(p_max, float)
    correct = np.asarray(correct, float)
    n_answers = int(p_max.size)
    weight = np.ones_like(p_max)
    if prior_weight > 0:
        prior = np.linspace(float(p_max.min(initial=0.5)), 1.0, CALIBRATION_PRIOR_POINTS)
        p_max, correct = np.concatenate([p_max, prior]), np.concatenate([correct, prior])
        weight = np.concatenate([weight, np.full(prior.size, prior_weight / prior.size)])
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p_max, correct, sample_weight=weight)
    return {"p_max": np.round(iso.X_thresholds_, 5).tolist(),
            "accuracy": np.round(iso.y_thresholds_, 5).tolist(), "n": n_answers,
            "prior_weight": float(prior_weight)}


def select_compounds(compounds: list[dict], sites: list[dict],
                     site_domain: str = DEFAULT_SITE_DOMAIN) -> list[dict]:
    """Compound spectra whose absorber sites all belong to ``site_domain``, each given a
    ``site_id`` (its structure id) so that ``site_features`` treats it like a site."""
    outside = {s["structure_id"] for s in sites if not in_site_domain(s.get("ligands"), site_domain)}
    return [{**c, "site_id": c["structure_id"]} for c in compounds
            if c["structure_id"] not in outside and c.get("cn_mean") is not None]


def mixed_cn(cn_mean: np.ndarray | float) -> np.ndarray:
    """Whether each site-averaged CN is not a whole number (a compound whose absorber sites
    differ in CN, such as magnetite: 5.33)."""
    cn_mean = np.asarray(cn_mean, float)
    return np.abs(cn_mean - np.round(cn_mean)) > 1e-6


def train_cn_mean(element: str, backend: str = DEFAULT_BACKEND,
                  db: str | os.PathLike | None = None, edge: str = "K", cv: int | None = 5,
                  out: str | os.PathLike | None = None, prep: Preprocessing | None = None,
                  augmentation: Augmentation | str | None = FROM_DATABASE, backend_params: dict | None = None,
                  random_state: int = 0, site_domain: str = DEFAULT_SITE_DOMAIN,
                  progress: Progress | None = None, fold_seed: int | None = None,
                  mixed_weight: float = 1.0) -> tuple[MotifModel, dict]:
    """Train a regressor of the site-averaged CN (``cn_mean``) on the database's compound
    spectra (multiplicity-weighted over the absorber sites of each structure), for compounds
    with several absorber sites such as magnetite or hausmannite Mn3O4.

    Grouped CV by mineral reports the mean absolute error (MAE, in CN units), the MAE on the
    compounds with mixed CN and the share within 0.5 of the truth. ``progress(done, total)`` is
    called after each fit, as in ``train``. ``prep``: default ``preprocessing_for(element,
    target="cn_mean")``, whose grid starts at ``spectra.CN_MEAN_GRID_MIN_EV``. ``fold_seed``: as
    ``grouped_folds``'s. ``mixed_weight`` (> 0): the training weight of each compound of mixed
    CN (``mixed_cn``) and its augmented copies, against 1 for the others.
    """
    t0 = time.perf_counter()
    get_backend(backend)
    if not (np.isfinite(mixed_weight) and mixed_weight > 0):
        raise LarchMotifError(f"the weight of mixed compounds must be positive and finite, not {mixed_weight}")
    prep = prep or preprocessing_for(element, target="cn_mean")
    with open_database(db) as store:
        compounds = select_compounds(store.compound_spectra(element, edge), store.site_spectra(element, edge),
                                     site_domain)
        db_hash = store.content_hash(element, edge)
        db_path = str(store.path)
        augmentation = _resolve_augmentation(augmentation, store, element, edge, "cn_mean")
    if len(compounds) < 10:
        raise LarchMotifError(f"{len(compounds)} {element} {edge}-edge compound spectra are too few for cn_mean")
    sf = site_features(compounds, prep, augmentation)
    y = np.array([compounds[k]["cn_mean"] for k in sf.site_index], float)
    groups = np.array([cv_group(compounds[k]) for k in sf.site_index])
    weights = np.where(mixed_cn(y), float(mixed_weight), 1.0) if mixed_weight != 1.0 else None
    report: dict = {"target": "cn_mean", "backend": backend, "element": element, "edge": edge,
                    "site_domain": site_domain, "n_spectra": len(compounds), "n_training_rows": int(len(y)),
                    "n_groups": int(np.unique(groups).size), "mixed_weight": float(mixed_weight)}
    n_fits = (cv or 0) + 1
    if cv:
        pred, true = [], []
        for k, (train_idx, test_idx) in enumerate(grouped_folds(groups, sf.augmented, cv, fold_seed)):
            reg = SiteAverageRegressor(backend, backend_params, random_state).fit(
                sf.X[train_idx], y[train_idx], None if weights is None else weights[train_idx])
            pred.append(reg.predict(sf.X[test_idx]))
            true.append(y[test_idx])
            if progress is not None:
                progress(k + 1, n_fits)
        pred, true = np.concatenate(pred), np.concatenate(true)
        mixed = mixed_cn(true)
        report.update({"cv_folds": cv, "mae": round(float(np.abs(pred - true).mean()), 3),
                       "mae_mixed": round(float(np.abs(pred - true)[mixed].mean()), 3) if mixed.any() else None,
                       "n_mixed": int(mixed.sum()),
                       "within_0.5": round(float((np.abs(pred - true) <= 0.5).mean()), 3)})
    reg = SiteAverageRegressor(backend, backend_params, random_state).fit(sf.X, y, weights)
    if progress is not None:
        progress(n_fits, n_fits)
    metadata = {"database": db_path, "database_sha256": db_hash,
                "augmentation": augmentation.as_dict() if augmentation else None, "site_domain": site_domain,
                "training": dict(report)}
    model = MotifModel(reg, element, edge, "cn_mean", prep, sf.X[~sf.augmented], metadata)
    model.metadata["domain_threshold"] = domain_threshold(model)
    if out is not None:
        model.save(out)
    report["seconds"] = round(time.perf_counter() - t0, 2)
    return model, report


def domain_threshold(model: MotifModel, quantile: float = 0.99, factor: float = 1.5) -> float:
    """Largest in-domain distance: ``factor`` times the ``quantile`` of the training spectra's
    distances to their nearest other training spectrum (RMS, normalized units)."""
    T = model.training_features
    d2 = (T**2).sum(1)[:, None] + (T**2).sum(1)[None, :] - 2 * T @ T.T
    np.fill_diagonal(d2, np.inf)
    nearest = np.sqrt(np.maximum(d2.min(axis=1), 0) / T.shape[1])
    return float(factor * np.quantile(nearest, quantile))
