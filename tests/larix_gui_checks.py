"""The Motif menu in a real Larix window: run by tests/test_larix.py with Debian's wxPython
(.venv-gui) under Xvfb, never collected by the normal run (the name does not start with test_).

One Larix frame for the module; spectra are read through Larix's own column-file reader; menu
actions are fired as wx menu events through the event loop, and the worker threads' results are
awaited by running the event loop. Message dialogs go through ``larch_motif.larix.show_message``,
replaced here by a recorder (a modal dialog would block the test).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import wx
from conftest import write_measured_like

from larch_motif import larix
from larch_motif.larch_plugin import motif_explain, motif_predict

pytestmark = pytest.mark.gui

#: Where the figures of this run go (set by tests/test_larix.py), as JSON.
REPORT = os.environ.get("LARCH_MOTIF_GUI_REPORT")


def report(**figures) -> None:
    print(" ".join(f"{k}={v}" for k, v in figures.items()))
    if REPORT:
        path = Path(REPORT)
        known = json.loads(path.read_text()) if path.is_file() else {}
        path.write_text(json.dumps({**known, **figures}, indent=1))


def run_event_loop(seconds: float = 0.0, until=None, timeout: float = 120.0) -> None:
    """Process wx events for ``seconds``, or until ``until()`` is true (failing after ``timeout``)."""
    app = wx.GetApp()
    end = time.monotonic() + (timeout if until is not None else seconds)
    while until is None or not until():
        if time.monotonic() > end:
            if until is None:
                return
            raise AssertionError(f"not done after {timeout} s")
        app.Yield(True)
        time.sleep(0.002)


def post(frame, label: str) -> None:
    """Choose Motif > ``label`` as a click does: a menu event queued for the event loop."""
    item_id = frame.GetMenuBar().FindMenuItem("Motif", label)
    assert item_id != wx.NOT_FOUND, f"no menu item Motif > {label}"
    wx.PostEvent(frame, wx.CommandEvent(wx.wxEVT_MENU, item_id))


def fire(frame, label: str) -> None:
    """Choose Motif > ``label`` and let the event loop handle it."""
    post(frame, label)
    run_event_loop(0.05)


def finish(frame) -> None:
    run_event_loop(until=lambda: frame.motif_menu.job is None)


@pytest.fixture(scope="module")
def frame():
    from larch.wxxas.xasgui import LarixFrame

    app = wx.App(False)
    larix_frame = LarixFrame(check_version=False)
    larix.install_motif_menu(larix_frame)
    app.SetTopWindow(larix_frame)
    run_event_loop(0.5)
    yield larix_frame
    larix_frame.onClose(prompt=False)
    run_event_loop(0.3)


@pytest.fixture
def messages(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(larix, "show_message", lambda parent, message, caption="Motif": shown.append(message))
    return shown


def read_in_larix(frame, path: Path):
    """Read a two-column file with Larix's column-file reader (File > Open, then OK): its group."""
    frame.onRead(str(path))
    reader = frame.subframes["readfile"]
    run_event_loop(0.2)
    reader.onOK()
    run_event_loop(0.3)
    name = next(n for n in frame.controller.file_groups if n.startswith(path.name))
    return name, frame.controller.get_group(frame.controller.file_groups[name])


def screenshot(window, path: Path) -> Path:
    """PNG of the screen where ``window`` is (open menus and dialogs over it included)."""
    x, y, width, height = window.GetRect()
    bitmap = wx.Bitmap(width, height)
    memory = wx.MemoryDC(bitmap)
    memory.Blit(0, 0, width, height, wx.ScreenDC(), x, y)
    memory.SelectObject(wx.NullBitmap)
    bitmap.SaveFile(str(path), wx.BITMAP_TYPE_PNG)
    return path


def screenshot_alone(window, frame, path: Path) -> Path:
    """PNG of ``window``'s own contents, drawn from the window (Xvfb has no window manager to
    raise it above Larix: Larix is hidden meanwhile, then shown again)."""
    frame.Hide()
    try:
        window.Refresh()
        window.Update()
        run_event_loop(0.5)
        width, height = window.GetClientSize()
        bitmap = wx.Bitmap(width, height)
        memory = wx.MemoryDC(bitmap)
        memory.Blit(0, 0, width, height, wx.ClientDC(window), 0, 0)
        memory.SelectObject(wx.NullBitmap)
        bitmap.SaveFile(str(path), wx.BITMAP_TYPE_PNG)
    finally:
        frame.Show()
        run_event_loop(0.2)
    return path


def check(frame, names: list[str]) -> None:
    frame.controller.filelist.SetCheckedStrings(names)


@pytest.fixture(scope="module")
def fe_spectrum(frame, fe_sites, tmp_path_factory):
    path = tmp_path_factory.mktemp("spectra") / "fe_tetrahedral.dat"
    write_measured_like(path, next(s for s in fe_sites if s["cn"] == 4))
    name, group = read_in_larix(frame, path)
    assert group.datatype == "xas" and len(group.energy) == len(group.mu) > 100
    # as a user does in the XAS Normalization tab: Larix's default range (+150 eV to the end)
    # shrinks to 2 eV on a spectrum that ends 140 eV above E0, and the edge step doubles
    _, normalization = frame.get_nbpage("xasnorm")
    normalization.wids["norm1"].SetValue(40.0)
    normalization.wids["norm2"].SetValue(130.0)
    normalization.onSet_NormRange()
    run_event_loop(0.2)
    assert group.edge_step == pytest.approx(1.7, rel=0.2)  # written with an edge step of 1.7
    return name, group, path


@pytest.fixture(scope="module")
def zn_spectrum(frame, tmp_path_factory):
    from larch_motif.database import open_database

    with open_database(None) as db:
        site = db.site_spectra("Zn", "K")[0]
    path = tmp_path_factory.mktemp("spectra") / "zn_site.dat"
    write_measured_like(path, site)
    return read_in_larix(frame, path)


@pytest.fixture(scope="module")
def trained(frame):
    """Train model from database (Fe, CN, rf, no CV, no augmentation: seconds) through the menu."""
    settings = larix.TrainingSettings(element="Fe", target="cn", backend="rf", cv=0, augmentation=False)
    original = larix.ask_training_settings
    larix.ask_training_settings = lambda parent, elements, backends: settings
    try:
        start = time.perf_counter()
        fire(frame, "Train model from database ...")
        finish(frame)
        report(train_seconds=round(time.perf_counter() - start, 2))
    finally:
        larix.ask_training_settings = original
    return frame.motif_menu.model


def snapshot(group) -> dict:
    """Every attribute with a copy of its content (arrays, members of subgroups)."""
    def content(value):
        if isinstance(value, np.ndarray):
            return value.copy()
        return dict(vars(value)) if hasattr(value, "__dict__") else None
    return {k: (v, content(v)) for k, v in vars(group).items()}


def assert_unchanged(group, before: dict) -> None:
    assert vars(group).keys() == before.keys()
    for name, (value, content) in before.items():
        assert getattr(group, name) is value, name
        if isinstance(content, np.ndarray):
            np.testing.assert_array_equal(value, content)
        elif content is not None:
            assert vars(value) == content, name


def shell_copy(group):
    """A Larch Group with the attributes of ``group`` now, for the shell command to work on."""
    from larch import Group

    return Group(**{k: v for k, v in vars(group).items() if k != "__name__"})


def test_screenshot_shows_the_motif_menu_open(frame, fe_spectrum, tmp_path):
    opened = []
    frame.Bind(wx.EVT_MENU_OPEN, lambda event: (opened.append(event.GetMenu()), event.Skip()))
    frame.Raise()
    frame.SetFocus()
    run_event_loop(0.3)
    keys = wx.UIActionSimulator()
    keys.KeyDown(wx.WXK_ALT)
    keys.Char(ord("m"))
    keys.KeyUp(wx.WXK_ALT)
    run_event_loop(0.8)
    path = screenshot(frame, tmp_path / "larix_motif_menu.png")
    keys.Char(wx.WXK_ESCAPE)
    run_event_loop(0.3)
    report(screenshot=str(path))
    assert frame.motif_menu.menu in opened
    assert frame.GetMenuBar().FindMenu("Motif") == frame.GetMenuBar().FindMenu("Help") - 1
    assert path.stat().st_size > 10_000


def test_training_dialog_gives_its_defaults_on_ok(frame):
    def press_ok():
        (dialog,) = [w for w in wx.GetTopLevelWindows() if w.GetTitle() == "Motif: train a model from the database"]
        dialog.EndModal(wx.ID_OK)

    wx.CallLater(300, press_ok)  # the dialog's modal loop runs timers
    settings = larix.ask_training_settings(frame, ["Cu", "Fe", "Zn"], ["lightgbm", "rf", "xgboost"])
    assert settings == larix.TrainingSettings(element="Fe", target="cn", backend="rf", cv=5, augmentation=True,
                                              out=None)


def test_train_action_makes_the_trained_model_the_one_used(frame, trained):
    assert trained is not None and trained.element == "Fe" and trained.target == "cn"
    assert "Fe cn rf (trained in this session)" in frame.motif_menu.model_item.GetItemLabel()
    assert "trained Fe cn rf" in frame.statusbar.GetStatusText(0)


def test_predict_action_writes_what_motif_predict_writes(frame, fe_spectrum, trained, messages, tmp_path):
    name, group, _ = fe_spectrum
    shell_group = shell_copy(group)
    check(frame, [name])
    fire(frame, "Predict coordination")
    finish(frame)
    assert messages == []
    motif_predict(shell_group, model=trained, target="cn")  # the Larch shell command, same model
    assert group.motif.cn == "4"
    for attr in ("cn", "cn_probabilities", "in_domain", "warnings", "element", "edge", "domain_distance",
                 "target", "e0", "e0_half"):
        assert getattr(group.motif, attr) == getattr(shell_group.motif, attr), attr
    assert sum(group.motif.cn_probabilities.values()) == pytest.approx(1.0, abs=1e-3)
    (row,) = frame.motif_menu.results.rows()
    assert row[:3] == (name, "4", f"{group.motif.cn_probabilities['4']:.2f}")
    assert "predicted 1 groups" in frame.statusbar.GetStatusText(0)
    assert str(group.motif).splitlines()[1].split()[:2] == ["CN", "4"]  # prints as the shell's does
    report(results_window=str(screenshot_alone(frame.motif_menu.results.frame, frame,
                                               tmp_path / "results_window.png")))


def test_herfd_switch_predicts_as_motif_predict_herfd_and_keeps_the_arrays(frame, fe_spectrum, trained, messages):
    name, group, _ = fe_spectrum
    shell_group = shell_copy(group)
    mu, flat = group.mu, getattr(group, "flat", None)
    item = frame.motif_menu.items[larix.HERFD_LABEL]
    assert item.IsCheckable() and not item.IsChecked()
    item.Check(True)
    try:
        check(frame, [name])
        fire(frame, "Predict coordination")
        finish(frame)
        fire(frame, "Explain prediction")
        finish(frame)
    finally:
        item.Check(False)
    assert messages == []
    assert "herfd_broadened" in [f["code"] for f in group.motif_explain.findings]
    motif_predict(shell_group, model=trained, target="cn", herfd=True)
    assert "herfd_broadened" in [f["code"] for f in group.motif.findings]
    for attr in ("cn", "cn_probabilities", "in_domain", "warnings", "domain_distance"):
        assert getattr(group.motif, attr) == getattr(shell_group.motif, attr), attr
    assert group.mu is mu and getattr(group, "flat", None) is flat  # the broadened copy is the models' alone


def test_results_window_shows_a_metallic_answer_as_metallic_without_cn(frame):
    """A metallic answer (``group.motif`` as motif_predict writes it) in the results window."""
    from larch import Group

    motif = Group(name="motif", cn=None, motif="metallic", metallic=True, metallic_probability=0.97,
                  metallic_confidence=0.95, cn_site_average=None, in_domain=True, warnings=[])
    row = larix.prediction_row("zn_foil", motif)
    assert row == ("zn_foil", "-", "", "metallic", "0.97", "yes", "")
    window = larix.ResultsWindow(frame)
    window.show([row])
    assert window.rows() == [row]
    window.frame.Destroy()


def test_explain_action_fills_motif_explain_and_plots_shap_in_a_larix_plot_window(frame, fe_spectrum, trained,
                                                                                   messages, tmp_path):
    name, group, _ = fe_spectrum
    shell_group = shell_copy(group)
    check(frame, [name])
    fire(frame, "Explain prediction")
    finish(frame)
    assert messages == []
    expl = group.motif_explain
    motif_explain(shell_group, model=trained, target="cn")
    np.testing.assert_allclose(expl.shap_values, shell_group.motif_explain.shap_values)
    assert expl.class_name == "4"
    assert expl.expected_value + expl.shap_values.sum() == pytest.approx(expl.model_output, abs=1e-4)
    display = frame.motif_menu.shap_display
    assert display.IsShown() and display.window == larix.PLOT_WINDOW
    lines = [line for axes in display.panel.fig.get_axes() for line in axes.get_lines()]
    # the window sums in class probability, a step line over the window edges
    pushes = [w["probability"] for w in expl.windows]
    steps = np.array(pushes + pushes[-1:])
    assert any(len(line.get_ydata()) == steps.size and np.allclose(line.get_ydata(), steps) for line in lines)
    assert sum(pushes) == pytest.approx(expl.class_probability - expl.expected_probability, abs=1e-6)
    assert any(len(line.get_ydata()) == len(expl.norm) and np.allclose(line.get_ydata(), expl.norm)
               for line in lines)
    assert "SHAP" in display.GetTitle() and name in display.GetTitle()
    # the figure of the plot window (its canvas under Xvfb is not repainted for a screen grab)
    display.panel.fig.savefig(tmp_path / "shap_plot_window.png", dpi=90)
    report(shap_plot=str(tmp_path / "shap_plot_window.png"))


def test_use_model_file_action_predicts_with_that_file_and_records_it(frame, fe_spectrum, trained, messages,
                                                                     tmp_path, monkeypatch):
    name, group, _ = fe_spectrum
    path = str(trained.save(tmp_path / "fe_cn.lmm"))
    monkeypatch.setattr(larix, "ask_model_file", lambda parent: path)
    fire(frame, "Use model file ...")
    finish(frame)
    assert frame.motif_menu.model_file == path and frame.motif_menu.model is not trained
    assert "Fe cn rf (fe_cn.lmm)" in frame.motif_menu.model_item.GetItemLabel()
    check(frame, [name])
    fire(frame, "Predict coordination")
    finish(frame)
    assert messages == []
    assert group.motif.model == path and group.motif.cn == "4"
    fire(frame, "Use bundled models")
    assert frame.motif_menu.model is None
    frame.motif_menu.use_model(trained, None)  # the model of the tests that follow


def test_an_action_chosen_while_another_runs_is_refused_with_a_message(frame, fe_spectrum, trained, messages):
    name, group, _ = fe_spectrum
    check(frame, [name])
    post(frame, "Predict coordination")
    post(frame, "Explain prediction")  # handled before the prediction's result comes back
    run_event_loop(0.05)
    finish(frame)
    assert messages == ["Explain prediction: the Motif menu is still busy with Predict coordination: wait "
                        "until the status bar says it is done"]
    assert group.motif.cn == "4"


@pytest.mark.parametrize("action", ["Predict coordination", "Explain prediction"])
def test_no_group_checked_shows_a_message_and_changes_nothing(frame, fe_spectrum, trained, messages, action):
    name, group, _ = fe_spectrum
    before = snapshot(group)
    check(frame, [])
    fire(frame, action)
    finish(frame)
    assert messages == [f"{action}: no group selected: check one or more groups in the file list "
                        "(Select All checks every group)"]
    assert_unchanged(group, before)


def test_group_without_mu_shows_a_message_naming_it_and_changes_no_group(frame, fe_spectrum, trained, messages):
    fe_name, fe_group, _ = fe_spectrum
    frame.larch.eval("xy_only = group(x=arange(20.0), y=arange(20.0)**2, datatype='xydata')")
    frame.controller.install_group("xy_only", "xy_only.dat")
    xy_group = frame.controller.get_group("xy_only")
    before = {"fe": snapshot(fe_group), "xy": snapshot(xy_group)}
    check(frame, [fe_name, "xy_only.dat"])
    fire(frame, "Predict coordination")
    finish(frame)
    assert len(messages) == 1
    assert messages[0].startswith("Predict coordination: group 'xy_only.dat': the group has no energy and no mu")
    assert messages[0].endswith("No group was changed.")
    assert_unchanged(fe_group, before["fe"])
    assert_unchanged(xy_group, before["xy"])


@pytest.mark.parametrize("action", ["Predict coordination", "Explain prediction"])
def test_group_of_another_element_shows_a_message_and_changes_no_group(frame, fe_spectrum, zn_spectrum, trained,
                                                                      messages, action):
    fe_name, fe_group, _ = fe_spectrum
    zn_name, zn_group = zn_spectrum
    before = {"fe": snapshot(fe_group), "zn": snapshot(zn_group)}
    check(frame, [fe_name, zn_name])
    fire(frame, action)
    finish(frame)
    assert len(messages) == 1
    assert messages[0].startswith(f"{action}: group '{zn_name}': E0 ")
    assert "a spectrum of another element than the model's" in messages[0]
    assert_unchanged(fe_group, before["fe"])
    assert_unchanged(zn_group, before["zn"])
    run_event_loop(0.1)
    assert frame.motif_menu.job is None  # the session goes on


def test_500_groups_predicted_while_the_event_loop_keeps_running(frame, fe_spectrum, trained, messages):
    from larch import Group

    _, fe_group, _ = fe_spectrum
    rng = np.random.default_rng(0)
    names = []
    for i in range(500):
        groupname = f"fe_many_{i:03d}"
        setattr(frame.controller.symtable, groupname,
                Group(energy=fe_group.energy.copy(), mu=fe_group.mu + rng.normal(0, 0.002, fe_group.mu.size),
                      datatype="xas"))
        names.append(frame.controller.install_group(groupname, f"{groupname}.dat"))
    check(frame, names)
    ticks: list[float] = []
    timer = wx.Timer()
    timer.Bind(wx.EVT_TIMER, lambda event: ticks.append(time.perf_counter()))
    timer.Start(10)
    start = time.perf_counter()
    fire(frame, "Predict coordination")
    finish(frame)
    seconds = time.perf_counter() - start
    timer.Stop()
    assert messages == []
    groups = [frame.controller.filename2group(n) for n in names]
    assert all(g.motif.cn in trained.classes for g in groups)
    assert len(frame.motif_menu.results.rows()) == 500
    stall = float(np.diff(ticks).max())
    report(groups=500, predict_500_seconds=round(seconds, 2), timer_ticks=len(ticks),
           longest_event_loop_stall_s=round(stall, 3))
    assert stall < 1.0, f"the event loop stalled {stall:.2f} s"


def test_reconstruct_action_adds_the_surrogate_spectrum_as_a_new_group(frame, messages, monkeypatch):
    from larch_motif.reconstruction import default_reconstruction_model, reconstruct

    chosen = {}

    def parameters(parent, params):
        chosen.update({p.name: (p.low + p.high) / 2 for p in params})
        chosen["bond_mean_A"] = params[[p.name for p in params].index("bond_mean_A")].high
        return dict(chosen)

    monkeypatch.setattr(larix, "ask_reconstruction_series", lambda parent: ("Fe", "O:6"))
    monkeypatch.setattr(larix, "ask_reconstruction_parameters", parameters)
    before = set(frame.controller.file_groups)
    fire(frame, "Reconstruct spectrum from parameters ...")
    finish(frame)  # the model job, which then starts the reconstruction job
    run_event_loop(until=lambda: set(frame.controller.file_groups) - before)
    finish(frame)
    assert messages == []
    (name,) = set(frame.controller.file_groups) - before
    group = frame.controller.get_group(frame.controller.file_groups[name])
    expected = reconstruct(params=chosen, model=default_reconstruction_model("Fe", "O:6"))
    np.testing.assert_allclose(group.mu, expected["mu"], atol=1e-6)
    assert group.energy[0] == pytest.approx(7112.0 + expected["energy"][0], abs=1.0)  # Fe K edge scale
    assert "O:6" in group.motif_reconstruction.series and group.motif_reconstruction.in_range
    assert "reconstructed spectrum added" in frame.statusbar.GetStatusText(0)
