"""Fuzzing of the spectrum readers and the preprocessing with hypothesis: every input ends in a
result or a SpectrumError (a ValueError of the project), never another exception or a hang."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from larch_motif.errors import SpectrumError
from larch_motif.spectra import Preprocessing, check_spectrum, features, normalize, read_spectrum

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@FUZZ
@given(energy=arrays(np.float64, st.integers(0, 80), elements=floats),
       mu=arrays(np.float64, st.integers(0, 80), elements=floats))
def test_check_spectrum_accepts_or_names_the_problem(energy, mu):
    try:
        e, m = check_spectrum(energy, mu)
    except SpectrumError:
        return
    assert e.size == m.size >= 20 and np.all(np.diff(e) > 0) and np.all(np.isfinite(m))


@FUZZ
@given(steps=arrays(np.float64, st.integers(20, 200), elements=st.floats(0.05, 20)),
       mu=arrays(np.float64, st.integers(20, 200), elements=st.floats(-1e3, 1e3)),
       start=st.floats(4000, 10000))
def test_normalization_of_random_spectra_gives_a_result_or_a_spectrum_error(steps, mu, start):
    n = min(steps.size, mu.size)
    energy = start + np.cumsum(steps[:n])
    from larch import Group

    grp = Group(energy=energy, mu=mu[:n])
    try:
        normalize(grp)
        values = features(grp, Preprocessing())
    except SpectrumError:
        return
    assert values.shape == Preprocessing().grid().shape


@FUZZ
@given(content=st.binary(min_size=0, max_size=4000))
def test_reading_random_bytes_gives_a_spectrum_or_a_spectrum_error(tmp_path, content):
    path = tmp_path / "junk.dat"
    path.write_bytes(content)
    try:
        grp = read_spectrum(path)
    except SpectrumError:
        return
    assert grp.energy.size == grp.mu.size >= 20


@FUZZ
@given(text=st.text(alphabet="0123456789.-+eE #\t\n,;abcXDI:/", max_size=3000))
def test_reading_random_text_columns_gives_a_spectrum_or_a_spectrum_error(tmp_path, text):
    path = tmp_path / "junk.xdi"
    path.write_text(text)
    try:
        read_spectrum(path)
    except SpectrumError:
        pass


def test_truncated_xdi_file_is_refused(tmp_path):
    lines = ["# XDI/1.0", "# Column.1: energy eV", "# Column.2: mutrans", "# Element.symbol: Fe",
             "# Element.edge: K", "#----", "# energy mutrans"]
    lines += [f"{7000 + i} {0.1 * i}" for i in range(5)]
    path = tmp_path / "short.xdi"
    path.write_text("\n".join(lines) + "\n7006 0.")
    with pytest.raises(SpectrumError):
        read_spectrum(path)


def test_a_million_point_spectrum_is_read_and_normalized(tmp_path):
    energy = np.linspace(6900, 8000, 1_000_000)
    mu = 0.2 + 1.0 / (1 + np.exp(-(energy - 7120) / 2))
    path = tmp_path / "big.dat"
    np.savetxt(path, np.c_[energy, mu], fmt="%.5f")
    grp = read_spectrum(path)
    normalize(grp)
    assert abs(grp.e0_half - 7120) < 1.0
