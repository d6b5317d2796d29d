"""Findings about a spectrum or an answer: a code, the message a person reads, and whether it
puts the spectrum outside the models' domain.

A ``Finding`` is made where the finding is made (the reader, the normalization, the features,
the models) with its code; nothing downstream reads its text to learn what it is. It is a
``str`` (its message) so that the JSON contract's ``warnings`` stay the list of texts they
always were, and ``to_dict`` gives the typed form (``findings`` in the JSON).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The codes, and whether each puts the spectrum out of the models' domain
CODES: dict[str, bool] = {
    "range_too_short": True,  # the spectrum does not reach the model's grid nor a window (ending short: confidences capped)
    "far_from_training": True,  # farther from every training spectrum than the threshold
    "pre_edge_not_smooth": True,  # not an absorption edge: noise, drift
    "normalization_unstable": True,  # post-edge level far from 1 after pre_edge
    "possibly_metallic": True,  # looks metallic, detector not sure: CN and motif may not apply
    "other_element": True,  # E0 far from the model's element and edge
    "short_scan": False,  # answered by a short-scan window's models
    "glitch": False,  # one point off its neighbours
    "white_line_suppressed": False,  # no white line: a metal, a sulfide or self-absorbed fluorescence
    "preedge_strong": False,  # pre-edge stronger than octahedra give, under a CN-6 answer (confidence capped)
    "preedge_weak": False,  # pre-edge weaker than tetrahedra give, under a CN-4 answer (Ti, V, Cr)
    "cn_motif_disagree": False,  # the motif's CN is not the CN answer (both confidences capped)
    "cn_site_average_disagree": False,  # the site-averaged CN is 0.5 or more from the CN answer (CN confidence capped)
    "energy_in_keV": False,  # energies read as keV, converted to eV
    "herfd_broadened": False,  # read as HERFD: the core-hole width it lacks added back (herfd=True)
    "error": True,  # the spectrum could not be read or normalized
}


class Finding(str):
    """A finding: the message (this string), ``code`` (one of ``CODES``) and ``out_of_domain``."""

    code: str
    out_of_domain: bool

    def __new__(cls, code: str, message: str) -> Finding:
        if code not in CODES:
            raise ValueError(f"unknown finding code {code!r}")
        self = super().__new__(cls, message)
        self.code = code
        self.out_of_domain = CODES[code]
        return self

    @property
    def message(self) -> str:
        return str(self)

    def to_dict(self) -> dict:
        return {"code": self.code, "message": str(self), "out_of_domain": self.out_of_domain}

    def __reduce__(self):  # copy and pickle keep the code
        return (Finding, (self.code, str(self)))


@dataclass(frozen=True)
class _Untyped:
    """How a plain string among findings (a third-party calculator's, an old Group's) counts."""

    code: str = "unknown"
    out_of_domain: bool = False


def code_of(finding: str) -> str:
    """The code of a finding; ``'unknown'`` for a plain string."""
    return getattr(finding, "code", _Untyped.code)


def out_of_domain(findings: list[str]) -> bool:
    """Whether any of the findings puts the spectrum outside the models' domain."""
    return any(getattr(f, "out_of_domain", _Untyped.out_of_domain) for f in findings)


def as_dicts(findings: list[str]) -> list[dict]:
    """The typed form of a list of findings, for JSON."""
    return [f.to_dict() if isinstance(f, Finding) else {"code": code_of(f), "message": str(f),
                                                        "out_of_domain": False} for f in findings]
