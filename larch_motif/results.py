"""Typed results: a ``Prediction`` per spectrum, with one ``Answer`` per target.

``prediction.predict`` returns ``Prediction`` objects. Read their fields
(``p.answer("cn").confidence``, ``p.metallic``, ``p.findings``); ``p.to_dict()`` is the JSON
contract of the command line (``docs/results.md``), the one place where the composed keys
(``cn_probabilities``, ``motif_confidence``, ...) are written and read. A ``Prediction`` is
also a read-only mapping over that dict, so ``p["cn"]`` reads as it did when results were dicts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from larch_motif.findings import CODES, Finding, as_dicts, out_of_domain

#: The classifier targets whose answers a prediction carries
TARGETS = ("cn", "motif")


@dataclass(frozen=True)
class Answer:
    """One target's answer: ``value`` (a class, ``"uncertain"`` below ``min_confidence``),
    ``probabilities`` ({class: tempered probability}), ``confidence`` (calibrated chance that
    ``value`` is right, 0-1) and, for an uncertain answer, ``top2`` ([[class, p], [class, p]])."""

    target: str
    value: Any
    probabilities: dict = field(default_factory=dict)
    confidence: float | None = None
    top2: list | None = None

    @property
    def uncertain(self) -> bool:
        return self.value == "uncertain"

    @property
    def probability(self) -> float | None:
        """The probability of the answer's class (``None`` for an uncertain answer)."""
        return self.probabilities.get(self.value)

    def runners_up(self, n: int = 2, min_probability: float = 0.01) -> list[tuple[Any, float]]:
        """The next most probable classes after the answer, ``[(class, p), ...]``."""
        ranked = sorted(self.probabilities.items(), key=lambda kv: -kv[1])
        return [(c, p) for c, p in ranked if c != self.value and p >= min_probability][:n]

    def to_dict(self) -> dict:
        out = {self.target: self.value, f"{self.target}_probabilities": dict(self.probabilities),
               f"{self.target}_confidence": self.confidence}
        if self.top2 is not None:
            out[f"{self.target}_top2"] = [list(pair) for pair in self.top2]
        return out

    @classmethod
    def from_dict(cls, target: str, d: Mapping) -> Answer | None:
        """The answer of ``target`` in a result dict; ``None`` where it has none."""
        if target not in d or d.get(target) is None:
            return None
        return cls(target, d[target], dict(d.get(f"{target}_probabilities") or {}),
                   d.get(f"{target}_confidence"), d.get(f"{target}_top2"))


class _JSONMapping(Mapping):
    """A read-only mapping over ``to_dict()`` (computed once: the results are frozen)."""

    def to_dict(self) -> dict:  # pragma: no cover - each result defines it
        raise NotImplementedError

    def _cached_dict(self) -> dict:
        cached = self.__dict__.get("_dict")
        if cached is None:
            cached = self.to_dict()
            object.__setattr__(self, "_dict", cached)
        return cached

    def __getitem__(self, key: str) -> Any:
        return self._cached_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._cached_dict())

    def __len__(self) -> int:
        return len(self._cached_dict())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._cached_dict() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


#: Fields written to the dict as they are (in this order, after the answers where noted)
_HEAD = ("file", "group", "element", "edge", "e0", "e0_half", "edge_from_e0", "grid_eV")
_TAIL = ("cn_site_average", "metallic", "metallic_probability", "metallic_confidence", "domain_distance",
         "preedge")


@dataclass(frozen=True)
class Prediction(_JSONMapping):
    """The answer for one spectrum.

    file, group: where it came from; element, edge: the models' (``edge_from_e0``: what E0
    says); e0, e0_half: Larch's E0 and the half-step E0 (eV); grid_eV: the energies (eV around
    E0) the models read. answers: an ``Answer`` per classifier target. cn_site_average: the
    site-averaged CN (compounds with several absorber sites). metallic (bool), with
    ``metallic_probability`` and ``metallic_confidence``: a metallic answer has no CN
    (``cn`` None) and the motif ``"metallic"``. domain_distance: RMS distance to the nearest
    training spectrum (normalized units). preedge: the measured pre-edge peak
    (``preedge.PreEdgePeak.to_dict``). findings: each a ``findings.Finding`` (code, message,
    out of domain or not). error: why a spectrum was not predicted (then nothing else is set).
    """

    file: str | None = None
    group: str | None = None
    element: str | None = None
    edge: str | None = None
    e0: float | None = None
    e0_half: float | None = None
    edge_from_e0: str | None = None
    grid_eV: list[float] | None = None
    answers: dict[str, Answer] = field(default_factory=dict)
    cn_site_average: float | None = None
    metallic: bool | None = None
    metallic_probability: float | None = None
    metallic_confidence: float | None = None
    domain_distance: float | None = None
    preedge: dict | None = None
    findings: list[str] = field(default_factory=list)
    error: str | None = None
    #: keys of a result dict that no field holds (a plugin's), kept for ``to_dict``
    extra: dict = field(default_factory=dict)

    def answer(self, target: str) -> Answer | None:
        return self.answers.get(target)

    @property
    def cn(self) -> Any:
        """The CN answer (``None`` for a metallic answer or where CN was not predicted)."""
        return self.answers["cn"].value if "cn" in self.answers else None

    @property
    def motif(self) -> Any:
        if self.metallic:
            return "metallic"
        return self.answers["motif"].value if "motif" in self.answers else None

    @property
    def in_domain(self) -> bool:
        """False where a finding puts the spectrum outside the models' domain (or it failed)."""
        return self.error is None and not out_of_domain(self.findings)

    @property
    def warnings(self) -> list[str]:
        """The findings' messages (the JSON contract's ``warnings``)."""
        return [str(f) for f in self.findings]

    def to_dict(self) -> dict:
        """The JSON contract (``docs/results.md``): the keys results had as dicts."""
        if self.error is not None:
            out = {"file": self.file, "group": self.group, "error": self.error, "in_domain": False,
                   "warnings": self.warnings, "findings": as_dicts(self.findings), **self.extra}
        else:
            out = {k: getattr(self, k) for k in _HEAD}
            for target in TARGETS:
                if self.metallic and target in ("cn", "motif"):
                    continue
                if target in self.answers:
                    out.update(self.answers[target].to_dict())
            if self.metallic:
                out.update(cn=None, motif="metallic")
            out.update({k: getattr(self, k) for k in _TAIL if getattr(self, k) is not None
                        or k == "preedge" or k == "cn_site_average" and self.metallic})
            out.update(in_domain=self.in_domain, warnings=self.warnings, findings=as_dicts(self.findings))
            out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> Prediction:
        """A ``Prediction`` from a result dict (the JSON contract, or the library's own)."""
        if isinstance(d, Prediction):
            return d
        names = {f.name for f in fields(cls)} - {"answers", "findings", "extra"}
        answers = {t: a for t in TARGETS if (a := Answer.from_dict(t, d)) is not None
                   and not (d.get("metallic") and t in ("cn", "motif"))}
        composed = {k for t in TARGETS for k in (t, f"{t}_probabilities", f"{t}_confidence", f"{t}_top2")}
        findings = [w if isinstance(w, Finding) else _finding_of(w, d) for w in d.get("warnings", [])]
        extra = {k: v for k, v in d.items() if k not in names | composed | {"in_domain", "warnings", "findings"}}
        return cls(**{k: d[k] for k in names if k in d}, answers=answers, findings=findings, extra=extra)


def _finding_of(message: str, d: Mapping) -> str:
    """The typed finding of a warning text in a JSON result (its ``findings`` entry gives the
    code), else the text itself."""
    for f in d.get("findings") or []:
        if isinstance(f, Mapping) and f.get("message") == message and f.get("code") in CODES:
            return Finding(f["code"], message)
    return message



@dataclass(frozen=True)
class Explanation(_JSONMapping):
    """TreeSHAP explanation of one spectrum for one class (``explain.explain_spectrum``).

    target, class_name: what is explained (JSON ``class``). energy: the feature energies (eV
    from E0); shap_values: one per feature, in ``output_space`` (``probability`` or
    ``margin``); expected_value + sum(shap_values) = model_output. regions ({name: SHAP sum})
    and top_windows: the sums by physical region and the strongest windows. In probability
    (``explain.probability_scale``): expected_probability (mean over the training spectra),
    class_probability, windows (every 5-eV window: ``start_eV``, ``end_eV``, ``shap``,
    ``probability``) and regions_probability. norm: the normalized spectrum on the grid (for
    plotting). findings: as a prediction's. element, edge: the absorption edge of the model that
    explains it.
    """

    file: str | None
    group: str | None
    target: str
    class_name: Any
    energy: list[float]
    shap_values: list[float]
    expected_value: float
    model_output: float
    output_space: str
    regions: dict[str, float]
    top_windows: list
    expected_probability: float
    class_probability: float
    windows: list[dict]
    regions_probability: dict[str, float]
    norm: list[float]
    findings: list[str] = field(default_factory=list)
    element: str | None = None
    edge: str = "K"

    @property
    def in_domain(self) -> bool:
        return not out_of_domain(self.findings)

    @property
    def warnings(self) -> list[str]:
        return [str(f) for f in self.findings]

    def to_dict(self) -> dict:
        """The JSON form (``larch-motif explain --json``, plus ``norm``)."""
        return {"file": self.file, "group": self.group, "element": self.element, "edge": self.edge,
                "target": self.target, "class": self.class_name, "energy": list(self.energy), "shap_values": list(self.shap_values),
                "expected_value": self.expected_value, "model_output": self.model_output,
                "output_space": self.output_space, "regions": dict(self.regions), "top_windows": self.top_windows,
                "expected_probability": self.expected_probability, "class_probability": self.class_probability,
                "windows": self.windows, "regions_probability": dict(self.regions_probability),
                "in_domain": self.in_domain, "warnings": self.warnings, "findings": as_dicts(self.findings),
                "norm": list(self.norm)}


@dataclass(frozen=True)
class ModelExplanation(_JSONMapping):
    """Global TreeSHAP explanation of a model (``explain.explain_model``): per class the mean
    absolute SHAP value against ``energy`` (eV from E0) and each region's share, the impurity importance
    where the backend has one, and a one-line reading per class (``summary``). ``shap_array``
    (n_spectra, n_features, n_classes) and ``X`` (the spectra explained) are kept for plots
    and are not in the JSON form."""

    target: str
    element: str
    n_spectra: int
    output_space: str
    energy: list[float]
    classes: dict[str, dict]
    impurity_importance: list[float] | None
    summary: dict[str, str]
    shap_array: Any = field(default=None, repr=False, compare=False)
    X: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        return {"target": self.target, "element": self.element, "n_spectra": self.n_spectra,
                "output_space": self.output_space, "energy": list(self.energy), "classes": self.classes,
                "impurity_importance": self.impurity_importance, "summary": dict(self.summary)}
