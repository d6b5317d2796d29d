"""Fuzzing of the spectrum readers and the preprocessing with hypothesis: every input ends in a
result or a SpectrumError (a ValueError of the project), never another exception or a hang.

Cases per run (``pytest tests/test_fuzz.py --hypothesis-show-statistics`` prints them): 150 for
each ``FUZZ`` test, 100 for each ``FILE_FUZZ`` test (readers on files, 10 s limit per case), and
every value of the small spaces (point counts below 20).
"""

from __future__ import annotations

import gzip
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from larch_motif.errors import SpectrumError
from larch_motif.spectra import (
    MIN_POINTS,
    Preprocessing,
    broaden,
    check_spectrum,
    features,
    normalize,
    read_spectrum,
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# a reader that takes more than 10 s on a 20 kB file counts as a hang
FILE_FUZZ = settings(max_examples=100, deadline=timedelta(seconds=10),
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
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


# -- arrays: order, duplicates, constant mu, too few points -------------------------------------

def _valid_spectrum(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    energy = 7000.0 + np.arange(n, dtype=float)
    return energy, 0.1 + 1.0 / (1 + np.exp(-(energy - 7030) / 2))


@FUZZ
@given(i=st.integers(0, 59), j=st.integers(0, 59))
def test_unsorted_energies_are_refused_with_the_position_named(i, j):
    energy, mu = _valid_spectrum()
    if i == j:
        return
    energy[[i, j]] = energy[[j, i]]
    with pytest.raises(SpectrumError, match=r"energy is not increasing \(at [0-9.]+ eV\)"):
        check_spectrum(energy, mu)


@FUZZ
@given(i=st.integers(0, 58), extra=st.integers(1, 5))
def test_duplicated_energies_are_refused(i, extra):
    energy, mu = _valid_spectrum()
    energy = np.insert(energy, i + 1, np.full(extra, energy[i]))
    mu = np.insert(mu, i + 1, np.full(extra, mu[i]))
    with pytest.raises(SpectrumError, match="duplicated energies"):
        check_spectrum(energy, mu)


@FUZZ
@given(value=st.floats(allow_nan=False, allow_infinity=False), n=st.integers(MIN_POINTS, 500))
def test_constant_mu_is_refused(value, n):
    energy = 7000.0 + np.arange(n, dtype=float)
    with pytest.raises(SpectrumError, match="mu is constant"):
        check_spectrum(energy, np.full(n, value))


@FUZZ
@given(n=st.integers(0, MIN_POINTS - 1))
def test_fewer_than_twenty_points_and_a_single_point_are_refused(tmp_path, n):
    energy, mu = _valid_spectrum(n)
    with pytest.raises(SpectrumError, match=f"{n} points, at least {MIN_POINTS}"):
        check_spectrum(energy, mu)
    path = tmp_path / "few.dat"
    path.write_text("".join(f"{e} {m}\n" for e, m in zip(energy, mu)))
    with pytest.raises(SpectrumError):
        read_spectrum(path)


def test_a_single_point_spectrum_is_refused_by_predict(tmp_path):
    from larch import Group

    from larch_motif.prediction import predict_iter

    (res,) = predict_iter([Group(energy=np.array([7112.0]), mu=np.array([1.0]))], element="Fe", errors="flag")
    assert res["in_domain"] is False and "1 points, at least 20" in res["error"]


# -- files: truncated and damaged XDI and Athena projects of a computed spectrum -----------------

@pytest.fixture(scope="module")
def computed_spectrum(fe_sites) -> tuple[np.ndarray, np.ndarray]:
    """A FEFF10 site spectrum of the bundled database, broadened, with 100 eV of pre-edge (eV, mu)."""
    site = fe_sites[0]
    energy = site["energy_eV"]
    mu = broaden(energy, site["mu"], 1.5, 1.0)
    pre = np.arange(energy[0] - 100, energy[0], 2.0)
    return np.concatenate([pre, energy]), np.concatenate([np.full(pre.size, mu[0]), mu])


@pytest.fixture(scope="module")
def xdi_text(computed_spectrum) -> str:
    energy, mu = computed_spectrum
    header = ["# XDI/1.0", "# Column.1: energy eV", "# Column.2: mutrans", "# Element.symbol: Fe",
              "# Element.edge: K", "# Mono.d_spacing: 3.13555", "#----", "# energy mutrans"]
    return "\n".join(header + [f"{e:.4f} {m:.6f}" for e, m in zip(energy, mu)]) + "\n"


@pytest.fixture(scope="module")
def athena_project(computed_spectrum, tmp_path_factory) -> bytes:
    """An Athena project written by Larch's own writer (gzip-compressed, as Athena writes it)."""
    from larch import Group
    from larch.io.athena_project import AthenaProject

    energy, mu = computed_spectrum
    path = tmp_path_factory.mktemp("athena") / "fe.prj"
    project = AthenaProject()
    project.add_group(Group(energy=energy, mu=mu, groupname="fe_site"))
    project.save(str(path))
    return path.read_bytes()


def _prefix_or_refused(path, energy: np.ndarray, mu: np.ndarray) -> str:
    """Read ``path``: a SpectrumError, or the first points of the original spectrum (the last
    point may be cut inside its number). Returns 'refused' or 'read'."""
    try:
        grp = read_spectrum(path)
    except SpectrumError:
        return "refused"
    n = grp.energy.size
    assert MIN_POINTS <= n <= energy.size
    np.testing.assert_allclose(grp.energy[: n - 1], energy[: n - 1], atol=1e-3)
    np.testing.assert_allclose(grp.mu[: n - 1], mu[: n - 1], atol=1e-5)
    return "read"


def test_the_whole_xdi_file_and_athena_project_read_back(tmp_path, computed_spectrum, xdi_text, athena_project):
    energy, mu = computed_spectrum
    (tmp_path / "fe.xdi").write_text(xdi_text)
    (tmp_path / "fe.prj").write_bytes(athena_project)
    for name in ("fe.xdi", "fe.prj"):
        grp = read_spectrum(tmp_path / name)
        np.testing.assert_allclose(grp.energy, energy, atol=1e-3)
        np.testing.assert_allclose(grp.mu, mu, atol=1e-5)


@FILE_FUZZ
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_xdi_truncated_at_a_random_offset(tmp_path, computed_spectrum, xdi_text, fraction):
    path = tmp_path / "cut.xdi"
    path.write_text(xdi_text[: int(fraction * len(xdi_text))])
    _prefix_or_refused(path, *computed_spectrum)


@FILE_FUZZ
@given(fraction=st.floats(0, 1, exclude_max=True), junk=st.binary(min_size=1, max_size=64))
def test_xdi_with_random_bytes_at_a_random_offset(tmp_path, xdi_text, fraction, junk):
    data = xdi_text.encode()
    at = int(fraction * len(data))
    path = tmp_path / "damaged.xdi"
    path.write_bytes(data[:at] + junk + data[at + len(junk):])
    try:
        grp = read_spectrum(path)
    except SpectrumError:
        return
    check_spectrum(grp.energy, grp.mu)


@FILE_FUZZ
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_athena_project_truncated_at_a_random_offset(tmp_path, athena_project, fraction):
    path = tmp_path / "cut.prj"
    path.write_bytes(athena_project[: int(fraction * len(athena_project))])
    with pytest.raises(SpectrumError):  # a cut gzip stream is never half-read
        read_spectrum(path)


@FILE_FUZZ
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_athena_project_text_truncated_at_a_random_offset(tmp_path, computed_spectrum, athena_project, fraction):
    text = gzip.decompress(athena_project)
    path = tmp_path / "cut.prj"
    path.write_bytes(gzip.compress(text[: int(fraction * len(text))]))
    energy, mu = computed_spectrum
    try:
        grp = read_spectrum(path)
    except SpectrumError:
        return
    # a group is only read once its record is complete: then it is the whole spectrum
    np.testing.assert_allclose(grp.energy, energy, atol=1e-3)
    np.testing.assert_allclose(grp.mu, mu, atol=1e-5)


@FILE_FUZZ
@given(fraction=st.floats(0, 1, exclude_max=True), junk=st.binary(min_size=1, max_size=64),
       compressed=st.booleans())
def test_athena_project_with_random_bytes_at_a_random_offset(tmp_path, athena_project, fraction, junk, compressed):
    data = athena_project if compressed else gzip.decompress(athena_project)
    at = int(fraction * len(data))
    damaged = data[:at] + junk + data[at + len(junk):]
    path = tmp_path / "damaged.prj"
    path.write_bytes(damaged if compressed else gzip.compress(damaged))
    try:
        grp = read_spectrum(path)
    except SpectrumError:
        return
    check_spectrum(grp.energy, grp.mu)


@pytest.mark.parametrize("payload", [
    "__import__('os').system('touch {marker}')",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "open('{marker}', 'w').write('x')",
    "open('{secret}').read()",
])
@pytest.mark.parametrize("field", ["$old_group", "@args", "@x", "@journal"])
def test_code_in_an_athena_project_is_refused_never_run(tmp_path, athena_project, payload, field):
    """Larch evaluates Athena's Perl-like fields with asteval, which can still call open(...):
    a field that is not literal data is refused before Larch reads the project."""
    marker, secret = tmp_path / "pwned", tmp_path / "secret.txt"
    secret.write_text("do not leak")
    lines = gzip.decompress(athena_project).decode().splitlines()
    k = next(i for i, line in enumerate(lines) if line.startswith(field))
    lines[k] = f"{field} = ({payload.format(marker=marker, secret=secret)});"
    path = tmp_path / "evil.prj"
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    with pytest.raises(SpectrumError, match=f"line {k + 1} .* holds an expression, not data"):
        read_spectrum(path)
    assert not marker.exists()


def test_a_huge_binary_file_is_refused_at_once(tmp_path):
    path = tmp_path / "detector_dump.dat"
    path.write_bytes(np.random.default_rng(0).bytes(20_000_000))
    with pytest.raises(SpectrumError, match="binary file"):
        read_spectrum(path)
