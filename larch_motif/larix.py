"""The "Motif" menu of Larix: CN and motif of the checked groups, their TreeSHAP explanation, and
training a model on the theoretical database, in the Larix window.

Start Larix with the menu with ``larix-motif`` (``larix-motif spectrum.dat`` opens a file too);
in Python, ``install_motif_menu(frame)`` adds it to a running ``LarixFrame``. The actions work on
the groups checked in Larix's file list:

- Predict coordination: CN and motif with the probability of every class, written into each
  group as ``group.motif`` (as ``motif_predict`` does in the Larch shell) and listed in a window.
- Explain prediction: ``group.motif_explain`` (as ``motif_explain``), and the SHAP values of the
  current group against E - E0 (eV) in a Larix plot window.
- Train model from database: a classifier trained on the bundled database (or another), used
  for the next predictions; Use model file / Use bundled models choose the model.

This module is an adapter. A menu handler gathers the checked groups and the settings and starts
a worker thread; the worker calls the same library functions as the Larch shell commands
(``larch_motif.larch_plugin.predict_groups``, ``explain_groups``, ``larch_motif.training.train``);
results come back to the window with ``wx.CallAfter``, where they are written into the groups and
shown. Progress is shown in the status bar. A problem with the input (no group checked, a group
without energy and mu, a spectrum of another element than the model's) is shown in a message
dialog that names it, and no group is changed. One more action is one ``add_action`` call.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from larch_motif.errors import LarchMotifError

try:
    import wx
except ImportError:  # main() says how to get wxPython; the rest needs it
    wx = None

#: Title of the menu in the Larix menu bar (Alt+M opens it).
MENU_TITLE = "&Motif"

#: Larix plot window of the SHAP plots (Larix itself uses windows 1 and 2).
PLOT_WINDOW = 5

#: Milliseconds between two steps of the indeterminate progress gauge.
PULSE_MS = 100


@dataclass
class TrainingSettings:
    """What "Train model from database" trains: ``cv`` folds grouped by mineral (0: none),
    ``augmentation`` (broadened, shifted copies of each spectrum), ``out`` a model file (.lmm)."""

    element: str
    target: str = "cn"
    backend: str = "rf"
    cv: int = 5
    augmentation: bool = True
    out: str | None = None
    db: str | None = None


def show_message(parent, message: str, caption: str = "Motif") -> None:
    """Show a problem to the user in a message dialog (every message of the menu comes here)."""
    wx.MessageBox(message, caption, wx.OK | wx.ICON_WARNING, parent)


def _lay_out_form(dialog, rows) -> None:
    """Lay out (label, widget) rows in two columns above OK and Cancel buttons."""
    grid = wx.FlexGridSizer(2, 8, 8)
    for label, widget in rows:
        grid.Add(wx.StaticText(dialog, label=label), 0, wx.ALIGN_CENTER_VERTICAL)
        grid.Add(widget, 1, wx.EXPAND)
    sizer = wx.BoxSizer(wx.VERTICAL)
    sizer.Add(grid, 1, wx.ALL | wx.EXPAND, 10)
    sizer.Add(dialog.CreateStdDialogButtonSizer(wx.OK | wx.CANCEL), 0, wx.ALL | wx.EXPAND, 10)
    dialog.SetSizerAndFit(sizer)


def ask_training_settings(parent, elements: list[str], backends: list[str]) -> TrainingSettings | None:
    """Ask what to train in a dialog; None when cancelled."""
    dialog = wx.Dialog(parent, title="Motif: train a model from the database")
    element = wx.Choice(dialog, choices=elements)
    element.SetSelection(elements.index("Fe") if "Fe" in elements else 0)
    target = wx.Choice(dialog, choices=["cn", "motif"])
    target.SetSelection(0)
    backend = wx.Choice(dialog, choices=backends)
    backend.SetSelection(backends.index("rf") if "rf" in backends else 0)
    cv = wx.SpinCtrl(dialog, min=0, max=10, initial=5)
    augmentation = wx.CheckBox(dialog, label="broadened and shifted copies of each spectrum")
    augmentation.SetValue(True)
    out = wx.FilePickerCtrl(dialog, message="Save the model as", wildcard="larch_motif model (*.lmm)|*.lmm",
                            style=wx.FLP_SAVE | wx.FLP_OVERWRITE_PROMPT | wx.FLP_USE_TEXTCTRL)
    _lay_out_form(dialog, (("Absorber element (K edge)", element), ("Target", target), ("Backend", backend),
                           ("Cross-validation folds (0: none)", cv), ("Augmentation", augmentation),
                           ("Save to (optional)", out)))
    try:
        if dialog.ShowModal() != wx.ID_OK or not elements:
            return None
        return TrainingSettings(element=element.GetStringSelection(), target=target.GetStringSelection(),
                                backend=backend.GetStringSelection(), cv=cv.GetValue(),
                                augmentation=augmentation.GetValue(), out=out.GetPath() or None)
    finally:
        dialog.Destroy()


#: The reconstruction models the Reconstruct action offers: (element, series) of the bundled data.
RECONSTRUCTION_CHOICES = (("Fe", "O:6"), ("Fe", "T:4"))


def ask_reconstruction_series(parent, choices: tuple[tuple[str, str], ...] = RECONSTRUCTION_CHOICES
                              ) -> tuple[str, str] | None:
    """Ask which parametric series to reconstruct from; (element, series) or None when cancelled."""
    labels = [f"{element} {series} (distorted {'hematite' if series == 'O:6' else 'chromite'} site)"
              for element, series in choices]
    with wx.SingleChoiceDialog(parent, "Structure series of the reconstruction model",
                               "Motif: reconstruct a spectrum", labels) as dialog:
        return choices[dialog.GetSelection()] if dialog.ShowModal() == wx.ID_OK else None


def ask_reconstruction_parameters(parent, parameters: list) -> dict[str, object] | None:
    """Ask the value of every structural parameter (Angstrom, degree), starting from the middle
    of its trained range; None when cancelled or when a value is not a number (after a message)."""
    dialog = wx.Dialog(parent, title="Motif: structural parameters")
    fields = {}
    for p in parameters:
        if p.kind == "categorical":
            widget = wx.Choice(dialog, choices=list(p.categories))
            widget.SetSelection(0)
        else:
            widget = wx.TextCtrl(dialog, value=f"{(p.low + p.high) / 2:.4g}")
        fields[p.name] = (p, widget)
    _lay_out_form(dialog, [(p.describe(), widget) for p, widget in fields.values()])
    try:
        if dialog.ShowModal() != wx.ID_OK:
            return None
        values: dict[str, object] = {}
        for name, (p, widget) in fields.items():
            if p.kind == "categorical":
                values[name] = widget.GetStringSelection()
                continue
            try:
                values[name] = float(widget.GetValue())
            except ValueError:
                show_message(parent, f"Reconstruct spectrum: {name} = {widget.GetValue()!r} is not a number")
                return None
        return values
    finally:
        dialog.Destroy()


def ask_model_file(parent) -> str | None:
    """Ask for a model file (.lmm); None when cancelled."""
    with wx.FileDialog(parent, "Motif: use a model file", wildcard="larch_motif model (*.lmm)|*.lmm",
                       style=wx.FD_OPEN | wx.FD_FILE_MUST_EXIST) as dialog:
        return dialog.GetPath() if dialog.ShowModal() == wx.ID_OK else None


class JobProgress:
    """Progress of the running job in the Larix status bar: text in field 0, a gauge over field 1
    (determinate when the job counts its steps, pulsing otherwise)."""

    def __init__(self, frame) -> None:
        self.frame = frame
        self.gauge = None
        self.timer = wx.Timer(frame)
        frame.Bind(wx.EVT_TIMER, self._pulse, self.timer)
        self.text = ""

    def start(self, text: str) -> None:
        statusbar = self.frame.statusbar
        rect = statusbar.GetFieldRect(1)
        self.gauge = wx.Gauge(statusbar, range=100, pos=rect.GetPosition(), size=rect.GetSize())
        self.text = text
        self.frame.write_message(f"Motif: {text} ...", 0)
        self.timer.Start(PULSE_MS)

    def relabel(self, text: str) -> None:
        """Say what the job does now (a default model prepared on first use), gauge pulsing."""
        if self.gauge is None:
            return
        self.text = text
        self.frame.write_message(f"Motif: {text} ...", 0)
        self.timer.Start(PULSE_MS)

    def update(self, done: int, total: int) -> None:
        """``done`` of ``total`` steps finished."""
        if self.gauge is None:
            return
        self.timer.Stop()
        self.gauge.SetRange(max(total, 1))
        self.gauge.SetValue(done)
        self.frame.write_message(f"Motif: {self.text}: {done} of {total}", 0)

    def stop(self, message: str) -> None:
        self.timer.Stop()
        if self.gauge is not None:
            self.gauge.Destroy()
            self.gauge = None
        self.frame.write_message(message, 0)

    def _pulse(self, event=None) -> None:
        if self.gauge is not None:
            self.gauge.Pulse()


class ResultsWindow:
    """A Larix sub-window listing the predictions of the last "Predict coordination"."""

    COLUMNS = (("Group", 220), ("CN", 50), ("P(CN)", 60), ("Motif", 70), ("P(motif)", 70),
               ("In domain", 80), ("Warnings", 420))

    def __init__(self, parent) -> None:
        self.frame = wx.Frame(parent, title="Motif: predictions", size=(980, 360))
        self.list = wx.ListCtrl(self.frame, style=wx.LC_REPORT | wx.LC_SINGLE_SEL)
        for index, (title, width) in enumerate(self.COLUMNS):
            self.list.InsertColumn(index, title, width=width)

    def show(self, rows: list[tuple[str, ...]]) -> None:
        self.list.Freeze()
        self.list.DeleteAllItems()
        for index, row in enumerate(rows):
            self.list.InsertItem(index, row[0])
            for column, text in enumerate(row[1:], start=1):
                self.list.SetItem(index, column, text)
        self.list.Thaw()
        self.frame.Show()
        self.frame.Raise()

    def rows(self) -> list[tuple[str, ...]]:
        """The rows shown, as text."""
        n_columns = len(self.COLUMNS)
        return [tuple(self.list.GetItemText(i, c) for c in range(n_columns))
                for i in range(self.list.GetItemCount())]


def prediction_row(name: str, motif) -> tuple[str, ...]:
    """One row of the results window from ``group.motif``."""
    def best(label: str | None, probabilities: dict | None) -> tuple[str, str]:
        if label is None:
            return "", ""
        return str(label), f"{probabilities[label]:.2f}"

    if getattr(motif, "metallic", False):  # no coordination polyhedron: the detector's answer
        cn, p_cn, motif_label, p_motif = "-", "", "metallic", f"{motif.metallic_probability:.2f}"
    else:
        cn, p_cn = best(getattr(motif, "cn", None), getattr(motif, "cn_probabilities", None))
        motif_label, p_motif = best(getattr(motif, "motif", None), getattr(motif, "motif_probabilities", None))
    return (name, cn, p_cn, motif_label, p_motif, "yes" if motif.in_domain else "NO", "; ".join(motif.warnings))


#: The Motif menu's switch for HERFD spectra (``predict(..., herfd=True)``)
HERFD_LABEL = "HERFD spectra"


class MotifMenu:
    """The "Motif" menu of a LarixFrame and the state behind it: the model used (``model``:
    None for the bundled models of the element found from E0) and the running job (one at a time).
    """

    def __init__(self, frame) -> None:
        self.frame = frame
        self.controller = frame.controller
        self.model = None
        self.model_file: str | None = None
        self.job: str | None = None
        self.progress = JobProgress(frame)
        self.results = None
        self.shap_display = None
        self.menu = wx.Menu()
        self.items: dict[str, wx.MenuItem] = {}
        for label, help_text, handler in (
            ("Predict coordination\tCtrl+Shift+P", "CN and motif of the checked groups, with probabilities",
             self.on_predict),
            ("Explain prediction\tCtrl+Shift+E", "TreeSHAP: which energies decided the prediction",
             self.on_explain),
            (None, None, None),
            ("Train model from database ...", "Train a classifier on the theoretical XANES database",
             self.on_train),
            ("Use model file ...", "Predict and explain with a model file (.lmm)", self.on_use_model_file),
            ("Use bundled models", "Predict with the bundled models of the element found from E0",
             self.on_use_bundled),
            (None, None, None),
            ("Reconstruct spectrum from parameters ...",
             "XANES of a distorted site from its structural parameters (tree surrogate of FEFF10), "
             "added as a new group", self.on_reconstruct),
            (None, None, None),
        ):
            if label is None:
                self.menu.AppendSeparator()
            else:
                self.add_action(label, help_text, handler)
        # a switch, not an action: Predict coordination reads it
        self.herfd_item = self.menu.AppendCheckItem(
            wx.ID_ANY, HERFD_LABEL, "The checked groups are HERFD spectra (K edge, Kalpha1): Predict coordination and "
                                    "Explain prediction read each broadened by the core-hole width HERFD takes away "
                                    "(predict --herfd). Unchecked, a group whose file name, group name or header says HERFD is "
                                    "still read so")
        self.items[HERFD_LABEL] = self.herfd_item
        self.menu.AppendSeparator()
        self.model_item = self.menu.Append(wx.ID_ANY, "model")
        self.model_item.Enable(False)
        self._show_model()
        menubar = frame.GetMenuBar()
        help_index = menubar.FindMenu("Help")
        menubar.Insert(help_index if help_index != wx.NOT_FOUND else menubar.GetMenuCount(), self.menu, MENU_TITLE)

    def add_action(self, label: str, help_text: str, handler: Callable) -> wx.MenuItem:
        """Append an action to the menu; ``handler(event)`` runs when it is chosen. A handler
        gathers its inputs (``checked_groups``), then calls ``run_job(title, text, work, done)``.
        The actions of the menu are the table in ``__init__``: one more is one more line there."""
        item = self.menu.Append(wx.ID_ANY, label, help_text)
        self.frame.Bind(wx.EVT_MENU, handler, item)
        self.items[label.split("\t")[0]] = item
        return item

    # ---- inputs -------------------------------------------------------------------------------
    def checked_groups(self, action: str) -> list[tuple[str, object]] | None:
        """(name in the file list, Larch group) of the checked groups; None, after a message,
        when none is checked."""
        names = [str(name) for name in self.controller.filelist.GetCheckedStrings()]
        if not names:
            show_message(self.frame, f"{action}: no group selected: check one or more groups in the "
                                     "file list (Select All checks every group)")
            return None
        return [(name, self.controller.get_group(self.controller.file_groups[name])) for name in names]

    # ---- actions ------------------------------------------------------------------------------
    def on_predict(self, event=None) -> None:
        """Predict coordination: ``group.motif`` for every checked group, and the results window."""
        from larch_motif.larch_plugin import predict_groups, write_prediction

        groups = self.checked_groups("Predict coordination")
        if groups is None:
            return
        model, recorded_model = self.model, self.model_file
        target = "both" if model is None else model.target
        herfd = True if self.herfd_item.IsChecked() else None  # unchecked: as predict decides

        def work(progress):
            return predict_groups([group for _, group in groups], model, target, herfd=herfd)

        def done(results, seconds):
            rows = []
            for (name, group), (copy, prediction) in zip(groups, results):
                write_prediction(group, copy, prediction, recorded_model, target)
                rows.append(prediction_row(name, group.motif))
            if self.results is None or not self.results.frame:
                self.results = ResultsWindow(self.frame)
            self.results.show(rows)
            return f"Motif: predicted {len(rows)} groups in {seconds:.1f} s: results in group.motif"

        self.run_job("Predict coordination", f"predicting the coordination of {len(groups)} groups", work, done)

    def on_explain(self, event=None) -> None:
        """Explain prediction: ``group.motif_explain`` for every checked group, and the SHAP plot of
        the current group (or the first checked one) in a Larix plot window."""
        from larch_motif.larch_plugin import explain_groups, write_explanation

        groups = self.checked_groups("Explain prediction")
        if groups is None:
            return
        model = self.model
        target = "cn" if model is None else model.target
        herfd = True if self.herfd_item.IsChecked() else None  # unchecked: as predict decides
        current = self.controller.get_group()
        shown = next((pair for pair in groups if pair[1] is current), groups[0])

        def work(progress):
            return explain_groups([group for _, group in groups], model, target, progress=progress, herfd=herfd)

        def done(results, seconds):
            for (_, group), (copy, explanation) in zip(groups, results):
                write_explanation(group, copy, explanation)
            self.plot_explanation(*shown)
            return f"Motif: explained {len(groups)} groups in {seconds:.1f} s: SHAP of {shown[0]} plotted"

        self.run_job("Explain prediction", f"explaining the {target} prediction of {len(groups)} groups",
                     work, done)

    def on_train(self, event=None) -> None:
        """Train model from database: the model trained is used for the next predictions."""
        from larch_motif.database import open_database
        from larch_motif.models import available_backends

        with open_database(None) as store:
            elements = [element for element, edge in store.elements() if edge == "K"]
        settings = ask_training_settings(self.frame, elements, sorted(available_backends()))
        if settings is None:
            return

        def work(progress):
            from larch_motif.training import FROM_DATABASE, train

            return train(settings.element, settings.target, settings.backend, db=settings.db,
                         cv=settings.cv or None, out=settings.out,
                         augmentation=FROM_DATABASE if settings.augmentation else None)

        def done(result, seconds):
            model, report = result
            self.use_model(model, settings.out)
            scores = f", CV accuracy {report['accuracy']:.3f}" if "accuracy" in report else ""
            return (f"Motif: trained {settings.element} {settings.target} {settings.backend} on "
                    f"{report['n_spectra']} spectra in {seconds:.1f} s{scores}; used for predictions")

        self.run_job("Train model from database",
                     f"training a {settings.element} {settings.target} {settings.backend} model", work, done)

    def on_reconstruct(self, event=None) -> None:
        """Reconstruct spectrum from parameters: a new group with the surrogate's XANES. The model
        is loaded (or trained on first use) in a worker, then the parameters are asked."""
        choice = ask_reconstruction_series(self.frame)
        if choice is None:
            return
        element, series = choice

        def load(progress):
            from larch_motif.reconstruction import default_reconstruction_model

            return default_reconstruction_model(element, series)

        def loaded(model, seconds):
            values = ask_reconstruction_parameters(self.frame, model.parameters)
            if values is not None:
                wx.CallAfter(self.reconstruct_group, model, values)  # once this job is marked done
            return f"Motif: {element} {series} reconstruction model ready ({seconds:.1f} s)"

        self.run_job("Reconstruct spectrum", f"loading the {element} {series} reconstruction model", load, loaded)

    def reconstruct_group(self, model, values: dict[str, object]) -> bool:
        """Reconstruct the spectrum of ``values`` with ``model`` in a worker and add it to Larix
        as a new group (energy in eV on the element's K-edge scale, mu normalized)."""

        def work(progress):
            from larch_motif.reconstruction import reconstruct

            return reconstruct(params=values, model=model)

        def done(result, seconds):
            name = self.add_reconstructed_group(result)
            flag = "" if result["in_range"] else f"; outside the trained range: {'; '.join(result['warnings'])}"
            return f"Motif: reconstructed spectrum added as {name} in {seconds * 1000:.0f} ms{flag}"

        return self.run_job("Reconstruct spectrum", "reconstructing the spectrum", work, done)

    def add_reconstructed_group(self, result: dict) -> str:
        """Install a reconstruction result as a Larix group; returns its name in the file list."""
        import xraydb
        from larch import Group

        edge_eV = xraydb.xray_edge(result["element"], result["edge"]).energy
        k = 1
        while hasattr(self.controller.symtable, f"motif_reconstruct_{k}"):
            k += 1
        groupname = f"motif_reconstruct_{k}"
        group = Group(energy=edge_eV + np.asarray(result["energy"], float), mu=np.asarray(result["mu"], float),
                      datatype="xas", motif_reconstruction=Group(**{key: result[key] for key in (
                          "element", "edge", "series", "parameters", "in_range", "warnings")}))
        setattr(self.controller.symtable, groupname, group)
        label = f"{result['series']} reconstructed {k}"
        return self.controller.install_group(groupname, label)

    def on_use_model_file(self, event=None) -> None:
        """Use model file: predictions and explanations with a model file (.lmm)."""
        path = ask_model_file(self.frame)
        if path is None:
            return

        def work(progress):
            from larch_motif.models import load_model

            return load_model(path)

        def done(model, seconds):
            self.use_model(model, path)
            return f"Motif: using {Path(path).name} ({model.element} {model.target})"

        self.run_job("Use model file", f"reading {Path(path).name}", work, done)

    def on_use_bundled(self, event=None) -> None:
        """Use bundled models: CN and motif with the bundled models of the element found from E0."""
        self.use_model(None, None)
        self.frame.write_message("Motif: using the bundled models", 0)

    def use_model(self, model, model_file: str | None) -> None:
        """The model of the next predictions and explanations (None: the bundled ones)."""
        self.model, self.model_file = model, model_file
        self._show_model()

    def _show_model(self) -> None:
        if self.model is None:
            text = "Model: bundled, CN and motif of the element found from E0"
        else:
            source = Path(self.model_file).name if self.model_file else "trained in this session"
            backend = self.model.classifier.backend_.name
            text = f"Model: {self.model.element} {self.model.target} {backend} ({source})"
        self.model_item.SetItemLabel(text)

    # ---- display ------------------------------------------------------------------------------
    def plot_explanation(self, name: str, group) -> None:
        """The normalized spectrum and what pushed the answer, summed over 5-eV windows as a step
        line in class probability (``explain.explain_spectrum``'s ``windows``), against E - E0
        (eV), in a Larix plot window."""
        explanation = group.motif_explain
        n = len(explanation.norm)
        energy, norm = explanation.energy[:n], explanation.norm
        words = f"{'CN' if explanation.target == 'cn' else explanation.target} {explanation.class_name}"
        windows = explanation.windows
        edges = np.array([w["start_eV"] for w in windows] + [windows[-1]["end_eV"]])
        pushes = np.array([w["probability"] for w in windows] + [windows[-1]["probability"]])
        display = self.shap_display = self.controller.get_display(win=PLOT_WINDOW)
        display.plot(energy, norm, new=True, label="normalized mu", xlabel="E - E0 (eV)",
                     ylabel="normalized mu", linewidth=2,
                     title=f"{name}: why {words} (p {explanation.expected_probability:.2f} on average, "
                           f"{explanation.class_probability:.2f} here)")
        display.oplot(edges, pushes, side="right", label=f"pushes towards {words} (+) / away (-)",
                      y2label=f"change of p({words}) per 5 eV", drawstyle="steps-post", linewidth=2)
        display.SetTitle(f"Motif: SHAP explanation of {name}")
        display.Show()
        display.Raise()

    # ---- jobs ---------------------------------------------------------------------------------
    def run_job(self, title: str, text: str, work: Callable, done: Callable) -> bool:
        """Run ``work(progress)`` in a worker thread (library calls only), then, in the GUI thread,
        ``done(result, seconds)``, which writes and shows the result and returns the status line.
        ``progress(done, total)`` may be called by ``work``. A ``LarchMotifError`` of ``work`` is
        shown in a message dialog. Returns False when another job is still running."""
        if self.job is not None:
            show_message(self.frame, f"{title}: the Motif menu is still busy with {self.job}: wait "
                                     "until the status bar says it is done")
            return False
        self.job = title
        self.progress.start(text)

        def progress(step: int, total: int) -> None:
            wx.CallAfter(self._progress, step, total)

        def preparing(label: str) -> Callable[[int, int], None]:
            """A default model trained on first use: its fits in the status bar, then the job's text."""
            wx.CallAfter(self.progress.relabel, label)

            def fits(step: int, total: int) -> None:
                wx.CallAfter(self._progress, step, total)
                if step >= total:
                    wx.CallAfter(self.progress.relabel, text)

            return fits

        def run() -> None:
            from larch_motif.defaults import reporting_to

            start = time.perf_counter()
            try:
                with reporting_to(preparing):
                    result = work(progress)
            except Exception as exc:  # shown in the window; the session goes on
                if not isinstance(exc, LarchMotifError):
                    traceback.print_exc()
                wx.CallAfter(self._failed, title, exc)
            else:
                wx.CallAfter(self._finished, title, done, result, time.perf_counter() - start)

        threading.Thread(target=run, name=f"larch_motif: {title}", daemon=True).start()
        return True

    def _progress(self, step: int, total: int) -> None:
        if self.frame:
            self.progress.update(step, total)

    def _finished(self, title: str, done: Callable, result, seconds: float) -> None:
        if not self.frame:  # Larix was closed meanwhile
            return
        try:
            message = done(result, seconds)
        except Exception as exc:  # a display problem is shown, not lost in the event loop
            traceback.print_exc()
            return self._failed(title, exc)
        self.job = None
        self.progress.stop(message)
        return None

    def _failed(self, title: str, exc: Exception) -> None:
        if not self.frame:
            return
        self.job = None
        self.progress.stop(f"Motif: {title} failed")
        from larch_motif.larch_plugin import GroupError

        what = str(exc) if isinstance(exc, LarchMotifError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, GroupError):
            what = f"group {self.name_of(exc.group)}: {what}"
        show_message(self.frame, f"{title}: {what}\nNo group was changed.")

    def name_of(self, group) -> str:
        """The name of a group in Larix's file list (its Larch name when it is not listed)."""
        for name, groupname in self.controller.file_groups.items():
            if getattr(self.controller.symtable, groupname, None) is group:
                return repr(name)
        return repr(getattr(group, "groupname", getattr(group, "__name__", "?")))


def install_motif_menu(frame) -> MotifMenu:
    """Add the Motif menu to a LarixFrame (before Help); it is kept as ``frame.motif_menu``."""
    if wx is None:
        raise LarchMotifError("wxPython is not installed: the Larix menu needs it")
    existing = getattr(frame, "motif_menu", None)
    if existing is not None:
        return existing
    frame.motif_menu = MotifMenu(frame)
    return frame.motif_menu


def main(argv: list[str] | None = None) -> int:
    """``larix-motif [FILE]``: Larix with the Motif menu."""
    parser = argparse.ArgumentParser(prog="larix-motif",
                                     description="Larix (Larch's XAS GUI) with the Motif menu of larch_motif: "
                                                 "CN and motif of the checked groups, TreeSHAP explanations, training.")
    parser.add_argument("filename", nargs="?", help="data file to open at start (as 'larix FILE')")
    parser.add_argument("-m", "--mode", default=None,
                        help="Larix mode (its panel set): xas (default), exafs, xydata, all, ...")
    args = parser.parse_args(argv)
    if wx is None:
        print("larix-motif: wxPython is not installed in this Python: `pip install wxpython` (or, on "
              "Debian/Ubuntu, `apt-get install python3-wxgtk4.0` and a venv made with "
              "--system-site-packages; see the README, 'Larix (GUI)')", file=sys.stderr)
        return 2
    try:
        from larch.wxxas.xasgui import LarixApp, LarixFrame
    except ImportError as exc:
        print(f"larix-motif: Larix cannot start: {exc} (install xraylarch[wxgui])", file=sys.stderr)
        return 2

    class LarixMotifApp(LarixApp):
        def createApp(self) -> bool:
            self.frame = LarixFrame(filename=self.filename, mode=self.mode, check_version=False)
            install_motif_menu(self.frame)
            self.SetTopWindow(self.frame)
            return True

    LarixMotifApp(filename=args.filename, mode=args.mode, check_version=False).MainLoop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
