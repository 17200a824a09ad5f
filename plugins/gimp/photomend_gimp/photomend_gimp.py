#!/usr/bin/env python3
"""photomend for GIMP 3: one procedure per photomend operation.

Procedures, menus and arguments are generated from photomend's registry
(see ``gimp_procedures.py``); :class:`GimpHost` moves pixels between GIMP
and :func:`photomend.hosts.apply_operation`, which does everything else.
Install with ``photomend install gimp``.

Interactive runs show photomend's shared Qt dialog with live preview
(:func:`photomend.ui.ask_and_apply`) when PyQt5 imports in GIMP's Python,
and GIMP's generated procedure dialog otherwise, or when the environment
variable ``PHOTOMEND_GIMP_DIALOG`` is ``gimp``. Both leave the chosen values
in GIMP's last values (Filters ▸ Repeat), the Qt dialog also in its own
settings file shared with Krita.
"""

import contextlib
import functools
import os
import sys
import traceback

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
gi.require_version("Babl", "0.1")
from gi.repository import Babl, Gegl, Gimp, GimpUi, GLib, GObject  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # GIMP puts it first; a test importing this file may not
    sys.path.insert(0, HERE)
import gimp_procedures as procs  # noqa: E402

try:
    photomend = procs.load_photomend(HERE)
    import numpy as np

    from photomend.hosts import Box, apply_operation
    from photomend.hosts.apply import plan_region, write_report, write_result
    from photomend.hosts.layers import LayerSource, read_param
    PROBLEM = None
except Exception as exc:  # shown by the "setup problem" procedure below
    traceback.print_exc()
    photomend, PROBLEM = None, procs.startup_problem(exc, HERE)

SETUP_PROCEDURE = procs.PREFIX + "setup-problem"
#: ``gimp`` chooses GIMP's procedure dialog even where the Qt one works.
DIALOG_ENV = "PHOTOMEND_GIMP_DIALOG"
#: Object name of the Qt progress dialog of ``photomend.ui.run_with_progress``.
QT_PROGRESS_NAME = "photomend-progress"


def _rect(x, y, width, height):
    return Gegl.Rectangle.new(x, y, width, height)


class GimpHost:
    """photomend's host interface over one GIMP drawable (drawable coordinates)."""

    # merge_shadow blends the shadow buffer through the (feathered) selection.
    blends_selection = True

    def __init__(self, image, drawable):
        self.image, self.drawable = image, drawable
        _, self.ox, self.oy = drawable.get_offsets()
        self.pixels = procs.pixel_format(image.get_precision().value_nick,
                                         drawable.is_gray(), drawable.has_alpha())
        # Native values for images in another colour space than sRGB.
        self.format = Babl.get_name(
            Babl.format_with_space(self.pixels.encoding, drawable.get_format()))
        self.started = False

    def size(self):
        return self.drawable.get_width(), self.drawable.get_height()

    def selection_bounds(self):
        if Gimp.Selection.is_empty(self.image):
            return None
        ok, x, y, w, h = self.drawable.mask_intersect()
        return Box(x, y, w, h) if ok else Box(0, 0, 0, 0)

    def selection(self, box):
        # The selection channel is in image coordinates; outside it is empty.
        data = self.image.get_selection().get_buffer().get(
            _rect(box.x + self.ox, box.y + self.oy, box.width, box.height), 1.0,
            "Y float", Gegl.AbyssPolicy.NONE)
        return np.frombuffer(data, np.float32).reshape(box.height, box.width)

    def read(self, box):
        data = self.drawable.get_buffer().get(_rect(*box), 1.0, self.format,
                                              Gegl.AbyssPolicy.CLAMP)
        pixels = np.frombuffer(data, np.float32).reshape(
            box.height, box.width, self.pixels.channels)
        return photomend.Image.from_array(pixels, transfer=self.pixels.transfer)

    def layer_sources(self):
        """The image's other layers (top first, inside groups too) and its channels."""
        found = []

        def visit(items):
            for item in items:
                if item.is_group():
                    visit(item.get_children())
                elif item.get_id() != self.drawable.get_id():
                    found.append(self._source(item))

        visit(self.image.get_layers())
        found += [self._source(channel) for channel in self.image.get_channels()
                  if channel.get_id() != self.drawable.get_id()]
        return found

    def _source(self, drawable):
        name = drawable.get_name()
        if isinstance(drawable, Gimp.Channel):
            name += " (channel)"
        return LayerSource(str(drawable.get_id()), name,
                           functools.partial(self.read_other, drawable))

    def read_other(self, drawable):
        """Read another layer or channel over this drawable's area (transparent outside).

        Layers come as R'G'B'A values; channels as their mask values.
        """
        _, ox, oy = drawable.get_offsets()
        width, height = self.size()
        rect = _rect(self.ox - ox, self.oy - oy, width, height)
        if isinstance(drawable, Gimp.Channel):
            data = drawable.get_buffer().get(rect, 1.0, "Y float", Gegl.AbyssPolicy.NONE)
            values = np.frombuffer(data, np.float32).reshape(height, width, 1)
            return photomend.Image(color=values.copy(), dtype=np.dtype(np.float32))
        fmt = Babl.get_name(Babl.format_with_space("R'G'B'A float", drawable.get_format()))
        data = drawable.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.NONE)
        rgba = np.frombuffer(data, np.float32).reshape(height, width, 4)
        return photomend.Image.from_array(rgba.copy(), transfer="perceptual")

    def layer_params(self, spec, params):
        """Replace drawables given for layer parameters with the arrays they stand for.

        A drawable of another image, or the one being changed, is refused.
        """
        out = dict(params)
        for param in spec.params:
            drawable = params.get(param.name)
            if not (param.layer and isinstance(drawable, Gimp.Drawable)):
                continue
            problem = None
            if drawable.get_id() == self.drawable.get_id():
                problem = "is the layer being changed; choose another layer or channel"
            elif drawable.get_image().get_id() != self.image.get_id():
                problem = "belongs to another image; choose a layer or channel of this one"
            if problem:
                msg = f"{param.label}: “{drawable.get_name()}” {problem}"
                raise photomend.ParameterError(msg)
            width, height = self.size()
            out[param.name] = read_param(param, self._source(drawable), (height, width))
        return out

    def write(self, box, image, *, new_layer=None):
        data = image.in_transfer(self.pixels.transfer).to_array(np.float32).tobytes()
        if new_layer is None:
            # The shadow merge blends through the selection (in linear light)
            # and records the undo step.
            target, buffer = self.drawable, self.drawable.get_shadow_buffer()
        else:
            target = self.drawable.copy()
            target.set_name(new_layer)
            self.image.insert_layer(target, self.drawable.get_parent(),
                                    self.image.get_item_position(self.drawable))
            buffer = target.get_buffer()
        buffer.set(_rect(*box), self.format, data)
        buffer.flush()
        if new_layer is None:
            target.merge_shadow(True)
        target.update(*box)

    def write_mask(self, box, mask, name):
        width, height = self.image.get_width(), self.image.get_height()
        x0, y0 = max(box.x + self.ox, 0), max(box.y + self.oy, 0)
        x1 = min(box.x + self.ox + box.width, width)
        y1 = min(box.y + self.oy + box.height, height)
        channel = Gimp.Channel.new(self.image, name, width, height, 100.0,
                                   Gegl.Color.new("black"))
        self.image.insert_channel(channel, None, 0)
        if x1 > x0 and y1 > y0:
            part = mask[y0 - box.y - self.oy:y1 - box.y - self.oy,
                        x0 - box.x - self.ox:x1 - box.x - self.ox]
            buffer = channel.get_buffer()
            buffer.set(_rect(x0, y0, x1 - x0, y1 - y0), "Y float",
                       np.ascontiguousarray(part, np.float32).tobytes())
            buffer.flush()
            channel.update(x0, y0, x1 - x0, y1 - y0)

    def message(self, text):
        Gimp.message(text)

    @contextlib.contextmanager
    def undo_group(self, label):
        self.image.undo_group_start()
        try:
            yield
        finally:
            self.image.undo_group_end()

    def progress(self, label):
        Gimp.progress_init(label)
        self.started = True
        # Gimp.progress_update answers True, which must not read as "cancel".
        return photomend.Progress(lambda fraction: Gimp.progress_update(fraction) and None)


def _status(procedure, status, message=None):
    error = (GLib.Error() if message is None
             else GLib.Error.new_literal(Gimp.PlugIn.error_quark(), message, 0))
    return procedure.new_return_values(status, error)


def _failure(procedure, message):
    return _status(procedure, Gimp.PDBStatusType.EXECUTION_ERROR, message)


def _needs_a_layer(spec):
    return (f"{spec.plain_label}: output to a new layer needs a layer; select a layer, "
            "not a channel or mask.")


def _dialog(procedure, config, spec):
    """Show the generated dialog; return whether the user pressed OK."""
    GimpUi.init(procs.PREFIX.rstrip("-"))
    dialog = GimpUi.ProcedureDialog.new(procedure, config, spec.plain_label)
    for arg in procs.arguments(spec):
        if arg.step:  # the registry's step and precision, not GIMP's guess from the range
            widget = dialog.get_widget(arg.name, GObject.TYPE_NONE)
            widget.set_digits(arg.digits)
            widget.set_increments(arg.step, arg.step * 10)
    dialog.fill(None)
    try:
        return dialog.run()
    finally:
        dialog.destroy()


def _shared_ui():
    """Return :mod:`photomend.ui` when the shared Qt dialog is to be used, else None."""
    if os.environ.get(DIALOG_ENV, "").strip().lower() == "gimp":
        return None
    try:
        import PyQt5.QtWidgets  # noqa: F401

        from photomend import ui
        from photomend.ui import dialog  # noqa: F401 - Qt problems show now, not mid-run
    except ImportError:
        return None
    except Exception:  # a broken PyQt5 (e.g. sip mismatch): GIMP's dialog still works
        traceback.print_exc()
        return None
    return ui


class _ProgressMirror:
    """Show the Qt progress dialog's value in GIMP's progress bar too.

    GIMP's own Cancel button there ends the plug-in process: safe, since
    nothing is written before the job has finished (:meth:`stop` is called
    before writing).
    """

    def __init__(self, label):
        from PyQt5.QtCore import QTimer

        self.label, self.started = label, False
        self.timer = QTimer()
        self.timer.setInterval(100)
        self.timer.timeout.connect(self._poll)
        self.timer.start()

    def _poll(self):
        # A slot: an exception leaving it would abort the process.
        try:
            from PyQt5.QtWidgets import QApplication, QProgressDialog

            for widget in QApplication.topLevelWidgets():
                if (widget.objectName() == QT_PROGRESS_NAME
                        and isinstance(widget, QProgressDialog)):
                    if not self.started:
                        Gimp.progress_init(self.label)
                        self.started = True
                    span = max(1, widget.maximum() - widget.minimum())
                    fraction = (widget.value() - widget.minimum()) / span
                    Gimp.progress_update(min(max(fraction, 0.0), 1.0))
                    return
        except Exception:
            traceback.print_exc()

    def stop(self):
        self.timer.stop()
        if self.started:
            self.started = False
            Gimp.progress_end()


def _gimp_window(dialog):
    """Keep `dialog` above the image window GIMP called us from (X11 only).

    Returns the foreign parent window (keep it alive), or None.
    """
    from PyQt5.QtGui import QGuiApplication, QWindow

    if QGuiApplication.platformName() != "xcb":
        return None
    handle = Gimp.progress_get_window_handle()
    data = bytes(handle.get_data() or b"") if handle is not None else b""
    xid = int.from_bytes(data, sys.byteorder) if len(data) in (4, 8) else 0
    if not xid:
        return None
    parent = QWindow.fromWinId(xid)
    dialog.winId()  # creates the dialog's native window
    dialog.windowHandle().setTransientParent(parent)
    return parent


def _remember(config, spec, params, output, layers):
    """Store values chosen in the Qt dialog as GIMP's last values of the procedure.

    GIMP saves the config of a successful interactive run; parameters GIMP
    cannot express (automatic ``None`` defaults) are not among its arguments.
    Layer parameters are stored as the drawable chosen (`layers`: keys).
    """
    for arg in procs.arguments(spec):
        if arg.kind == "drawable":
            key = layers.get(arg.param)  # a drawable's id; other choices (its alpha): none
            config.set_property(arg.name, Gimp.Drawable.get_by_id(int(key))
                                if key is not None and key.isdigit() else None)
            continue
        value = output if arg.param is None else params.get(arg.param)
        if value is not None:
            config.set_property(arg.name, value)


def _run_shared_dialog(ui, procedure, config, spec, image, drawable):
    """Interactive run with photomend's Qt dialog: live preview, progress, Cancel."""
    host = GimpHost(image, drawable)
    try:
        plan_region(host, spec, spec.defaults())  # refuses a missing or empty selection
        width, height = host.size()
        whole = Box(0, 0, width, height)
        pixels = host.read(whole)
        mask = host.selection(whole) if host.selection_bounds() is not None else None
        layers = host.layer_sources()
    except photomend.PhotomendError as exc:
        return _failure(procedure, str(exc))
    is_layer = isinstance(drawable, Gimp.Layer)
    chosen, keep = {}, []

    def accepted(dialog):
        try:  # a slot: nothing may escape
            chosen.update(params=dialog.values(), output=dialog.output,
                          layers=dialog.layer_keys())
        except Exception:
            traceback.print_exc()

    def prepare(dialog):
        dialog.accepted.connect(lambda: accepted(dialog))
        if not is_layer:  # channels and masks: in place only
            combo = dialog.output_combo
            combo.setCurrentIndex(combo.findData("in-place"))
            combo.model().item(combo.findData("new-layer")).setEnabled(False)
        try:
            keep.append(_gimp_window(dialog))
        except Exception:  # only cosmetic
            traceback.print_exc()

    def write(result, box, output):
        mirror.stop()  # GIMP's Cancel must not end the process mid-write
        if output == "new-layer" and not is_layer:
            raise photomend.PhotomendError(_needs_a_layer(spec))
        write_result(host, spec, box, result, output)
        chosen["written"] = True

    def add_report(report, box):
        with host.undo_group(spec.plain_label):
            write_report(host, spec, box, report)

    ui.ensure_app()
    mirror = _ProgressMirror(spec.plain_label)
    try:
        ui.ask_and_apply(spec, pixels, mask, write, blends_selection=host.blends_selection,
                         dialog_hook=prepare, write_report=add_report, layers=layers)
    finally:
        mirror.stop()
    if not chosen.get("written"):
        # Cancelled, or a core error the dialog has already shown.
        return _status(procedure, Gimp.PDBStatusType.CANCEL)
    if "params" in chosen:
        _remember(config, spec, chosen["params"], chosen["output"], chosen["layers"])
    Gimp.displays_flush()
    return _status(procedure, Gimp.PDBStatusType.SUCCESS)


def run_operation(procedure, run_mode, image, drawables, config, data):
    spec = photomend.get_operation(procs.operation_id(procedure.get_name()))
    if image.get_base_type() == Gimp.ImageBaseType.INDEXED:
        return _failure(procedure, f"{spec.plain_label} works on RGB and grayscale images; "
                                   "convert this indexed image first (Image ▸ Mode ▸ RGB).")
    if len(drawables) != 1:
        return _failure(procedure, f"{spec.plain_label}: select exactly one layer "
                                   f"({len(drawables)} are selected).")
    drawable = drawables[0]
    if drawable.is_group():
        return _failure(procedure, f"{spec.plain_label} cannot change a layer group; "
                                   "select one of its layers.")
    if run_mode == Gimp.RunMode.INTERACTIVE:
        ui = _shared_ui()
        if ui is not None:
            return _run_shared_dialog(ui, procedure, config, spec, image, drawable)
        if not _dialog(procedure, config, spec):
            return _status(procedure, Gimp.PDBStatusType.CANCEL)
    params, output = procs.read_values(spec, config.get_property)
    if output == "new-layer" and not isinstance(drawable, Gimp.Layer):
        return _failure(procedure, _needs_a_layer(spec))
    host = GimpHost(image, drawable)
    try:
        params = host.layer_params(spec, params)
        apply_operation(host, spec.id, params, output=output)
    except photomend.Cancelled:
        return _status(procedure, Gimp.PDBStatusType.CANCEL)
    except photomend.PhotomendError as exc:
        return _failure(procedure, str(exc))
    finally:
        if host.started:
            Gimp.progress_end()
    Gimp.displays_flush()
    return _status(procedure, Gimp.PDBStatusType.SUCCESS)


def report_problem(procedure, run_mode, image, drawables, config, data):
    Gimp.message(PROBLEM)
    return _failure(procedure, PROBLEM)


def _add_argument(procedure, arg):
    flags = GObject.ParamFlags.READWRITE
    if arg.kind == "boolean":
        procedure.add_boolean_argument(arg.name, arg.nick, arg.blurb, arg.default, flags)
    elif arg.kind == "drawable":  # none allowed: the operation's default
        procedure.add_drawable_argument(arg.name, arg.nick, arg.blurb, True, flags)
    elif arg.kind == "choice":
        choice = Gimp.Choice.new()
        for i, (nick, label, help_text) in enumerate(arg.choices):
            choice.add(nick, i, label, help_text)
        procedure.add_choice_argument(arg.name, arg.nick, arg.blurb, choice, arg.default, flags)
    else:
        add = getattr(procedure, f"add_{arg.kind}_argument")
        add(arg.name, arg.nick, arg.blurb, arg.min, arg.max, arg.default, flags)


class PhotomendPlugIn(Gimp.PlugIn):
    def do_set_i18n(self, name):
        return False

    def do_query_procedures(self):
        if photomend is None:
            return [SETUP_PROCEDURE]
        return [procs.procedure_name(spec) for spec in photomend.operations()]

    def do_create_procedure(self, name):
        if photomend is None:
            procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN,
                                                report_problem, None)
            procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.ALWAYS)
            procedure.set_menu_label("photomend: Setup Problem...")
            procedure.add_menu_path(procs.MENU_ROOT)
            procedure.set_documentation("Explain why photomend cannot start", PROBLEM, name)
            return procedure
        spec = photomend.get_operation(procs.operation_id(name))
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN,
                                            run_operation, None)
        procedure.set_image_types(procs.IMAGE_TYPES)
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label(procs.menu_label(spec))
        procedure.add_menu_path(procs.menu_path(spec))
        procedure.set_documentation(spec.summary, spec.description or spec.summary, name)
        procedure.set_attribution("photomend contributors",
                                  "photomend contributors, GPL-3.0-or-later", "2026")
        for arg in procs.arguments(spec):
            _add_argument(procedure, arg)
        return procedure


if __name__ == "__main__":
    Gimp.main(PhotomendPlugIn.__gtype__, sys.argv)
