"""Raw beamline files: XDI in both header forms and column orders, fluorescence, column files by
their labels, and the files whose mu the labels do not tell (refused, never guessed)."""

from __future__ import annotations

import numpy as np
import pytest

from larch_motif.errors import SpectrumError
from larch_motif.spectra import mu_from_columns, normalize, read_spectrum, set_mu_from_columns


@pytest.fixture(scope="module")
def raw_channels(fe_sites):
    """Energy (eV), i0, itrans and ifluor counts of a measured-like Fe K spectrum made from a
    bundled FEFF10 site spectrum (raw absorption 0.3-2.0 on an extended pre-edge)."""
    from larch_motif.spectra import broaden

    site = next(s for s in fe_sites if s["cn"] == 6)
    energy, mu = site["energy_eV"], broaden(site["energy_eV"], site["mu"], 3.0, 2.0)
    pre = np.arange(energy[0] - 150, energy[0], 2.0)
    e = np.concatenate([pre, energy])
    mu_raw = 0.3 - 2e-5 * (e - e[0]) + 1.7 * np.concatenate([np.full(pre.size, mu[0]), mu])
    i0 = 2.0e5 * (1 + 0.1 * np.sin(e / 50.0))
    return {"energy": e, "i0": i0, "itrans": i0 * np.exp(-mu_raw), "ifluor": 3.0e3 * i0 / 2.0e5 * mu_raw,
            "mu": mu_raw}


def _write(path, first_line: str, names: list[str], ch: dict, extra_header: tuple[str, ...] = ()):
    lines = [first_line]
    lines += [f"# Column.{k + 1}: {name}{' eV' if name == 'energy' else ''}" for k, name in enumerate(names)]
    lines += ["# Element.symbol: Fe", "# Element.edge: K", *extra_header, "#-----", "# " + " ".join(names)]
    lines += [" ".join(f"{ch[n][k]:.6f}" for n in names) for k in range(ch["energy"].size)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("first_line", ["#XDI/1.1  GSE/1.0", "# XDI/1.0 GSE/1.0"])
@pytest.mark.parametrize("order", [["energy", "itrans", "i0"], ["energy", "i0", "itrans"]])
def test_xdi_transmission_mu_is_ln_i0_over_itrans_in_both_header_forms_and_orders(
        tmp_path, raw_channels, first_line, order):
    path = _write(tmp_path / "fe.xdi", first_line, order, raw_channels)
    grp = read_spectrum(path)
    # by hand, from the columns as written
    table = np.loadtxt(path)
    i0, itrans = table[:, order.index("i0")], table[:, order.index("itrans")]
    np.testing.assert_allclose(grp.mu, np.log(i0 / itrans), rtol=0, atol=1e-12)
    np.testing.assert_allclose(grp.energy, table[:, 0])
    assert grp.mu_source == "ln(i0/itrans)" and not grp.is_normalized
    grp.motif_warnings = []
    normalize(grp)
    assert 7100 < grp.e0_half < 7150


def test_xdi_fluorescence_mu_is_ifluor_over_i0(tmp_path, raw_channels):
    path = _write(tmp_path / "fe_fl.xdi", "#XDI/1.1", ["energy", "i0", "ifluor"], raw_channels)
    grp = read_spectrum(path)
    table = np.loadtxt(path)
    np.testing.assert_allclose(grp.mu, table[:, 2] / table[:, 1], rtol=1e-12)
    assert grp.mu_source == "ifluor/i0"


def test_mutrans_and_normalized_columns_are_taken_as_they_are(tmp_path, raw_channels):
    ch = {**raw_channels, "mutrans": raw_channels["mu"], "normfluor": raw_channels["mu"] / 1.7}
    grp = read_spectrum(_write(tmp_path / "mu.xdi", "# XDI/1.0", ["energy", "mutrans"], ch))
    np.testing.assert_allclose(grp.mu, np.round(raw_channels["mu"], 6), atol=1e-9)
    assert not grp.is_normalized
    grp = read_spectrum(_write(tmp_path / "nor.xdi", "#XDI/1.1", ["energy", "normfluor"], ch))
    assert grp.is_normalized and grp.mu_source == "normfluor"


def test_column_file_is_read_by_its_header_labels(tmp_path, raw_channels):
    ch = raw_channels
    path = tmp_path / "fe.dat"
    path.write_text("# Fe K raw\n# energy itrans i0\n"
                    + "\n".join(f"{a:.4f} {b:.3f} {c:.3f}" for a, b, c in zip(ch["energy"], ch["itrans"], ch["i0"])))
    grp = read_spectrum(path)
    table = np.loadtxt(path)
    np.testing.assert_allclose(grp.mu, np.log(table[:, 2] / table[:, 1]), atol=1e-12)
    # the '# columns: energy_eV mu ...' form (read_ascii alone takes 'columns' for a label)
    path = tmp_path / "fe_mu.dat"
    path.write_text("# columns: energy_eV mu (raw, not normalized)\n"
                    + "\n".join(f"{a:.4f} {b:.6f}" for a, b in zip(ch["energy"], ch["mu"])))
    grp = read_spectrum(path)
    assert grp.mu_source == "mu"
    np.testing.assert_allclose(grp.mu, np.loadtxt(path)[:, 1])


@pytest.mark.parametrize("names, message", [
    (["energy", "i0", "itrans", "ifluor"], "both ln\\(i0/itrans\\) and ifluor/i0 can be mu"),
    (["energy", "ifluor", "irefer"], "ifluor without i0"),
    (["energy", "i0", "irefer"], "none of them is labelled as mu"),
])
def test_files_whose_mu_the_labels_do_not_tell_are_refused_with_the_way_to_choose(
        tmp_path, raw_channels, names, message):
    ch = {**raw_channels, "irefer": raw_channels["itrans"] * 0.9}
    path = _write(tmp_path / "odd.xdi", "#XDI/1.1", names, ch)
    with pytest.raises(SpectrumError, match=message) as info:
        read_spectrum(path)
    text = str(info.value)
    assert "\n" not in text and "columns " + ", ".join(names) in text and "--mu-columns" in text


def test_mu_columns_chooses_where_the_labels_do_not_tell(tmp_path, raw_channels):
    path = _write(tmp_path / "both.xdi", "#XDI/1.1", ["energy", "i0", "itrans", "ifluor"], raw_channels)
    table = np.loadtxt(path)
    trans = read_spectrum(path, mu_columns="ln(i0/itrans)")
    np.testing.assert_allclose(trans.mu, np.log(table[:, 1] / table[:, 2]), atol=1e-12)
    fluor = read_spectrum(path, mu_columns="ifluor/i0")
    np.testing.assert_allclose(fluor.mu, table[:, 3] / table[:, 1], rtol=1e-12)
    with pytest.raises(SpectrumError, match="no column itr"):
        read_spectrum(path, mu_columns="ln(i0/itr)")
    with pytest.raises(SpectrumError, match="not a column, a ratio"):
        read_spectrum(path, mu_columns="i0*itrans")


def test_unlabelled_columns_beyond_two_are_refused(tmp_path, raw_channels):
    ch = raw_channels
    path = tmp_path / "three.dat"
    path.write_text("\n".join(f"{a:.4f} {b:.3f} {c:.3f}" for a, b, c in zip(ch["energy"], ch["i0"], ch["itrans"])))
    with pytest.raises(SpectrumError, match="none of them is labelled as mu"):
        read_spectrum(path)
    assert read_spectrum(path, mu_columns="ln(col2/col3)").mu_source == "ln(col2/col3)"


def test_a_group_from_larch_read_xdi_gets_its_mu_from_the_columns(tmp_path, raw_channels):
    from larch.io import read_xdi

    path = _write(tmp_path / "fe.xdi", "#XDI/1.1", ["energy", "itrans", "i0"], raw_channels)
    grp = read_xdi(str(path))
    assert not hasattr(grp, "mu")
    set_mu_from_columns(grp)
    table = np.loadtxt(path)
    np.testing.assert_allclose(grp.mu, np.log(table[:, 2] / table[:, 1]), atol=1e-12)


def test_mu_from_columns_is_an_array_core():
    e = np.linspace(7000, 7200, 30)
    energy, mu, source, normalized = mu_from_columns(["energy", "i0", "itrans"], [e, np.full(30, 2.0), np.ones(30)])
    assert source == "ln(i0/itrans)" and not normalized
    np.testing.assert_allclose(mu, np.log(2.0))
    np.testing.assert_array_equal(energy, e)


def test_energies_in_kev_are_converted_to_ev_and_said(tmp_path, fe_sites, fe_cn_model):
    """A file whose energy column is in keV (7.1-7.3) gives the answer of the same file in eV,
    with the finding that says so; before, it failed as 'never crosses half the edge step'."""
    from conftest import write_measured_like

    from larch_motif.findings import code_of
    from larch_motif.prediction import predict

    model_path, _, _ = fe_cn_model
    ev, kev = tmp_path / "ev.dat", tmp_path / "kev.dat"
    write_measured_like(ev, fe_sites[0])
    e, mu = np.loadtxt(ev, unpack=True)
    kev.write_text("# energy_keV mu\n" + "\n".join(f"{a / 1000:.7f} {b:.6f}" for a, b in zip(e, mu)) + "\n")
    (a,) = predict(ev, model=model_path, target="cn")
    (b,) = predict(kev, model=model_path, target="cn")
    assert b["e0_half"] == pytest.approx(a["e0_half"], abs=0.01)
    assert b["cn"] == a["cn"] and b["cn_probabilities"] == pytest.approx(a["cn_probabilities"], abs=1e-6)
    assert "energy_in_keV" in [code_of(f) for f in b.findings] and "energy_in_keV" not in [code_of(f) for f in a.findings]


def test_a_folder_given_as_a_spectrum_file_is_named_as_a_folder(tmp_path):
    with pytest.raises(SpectrumError, match="a folder, not a spectrum file"):
        read_spectrum(tmp_path)
