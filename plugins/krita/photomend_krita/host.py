"""KritaHost: photomend's host interface over a Krita paint layer.

It only moves pixels; :func:`photomend.hosts.apply_operation` (or the
dialog) does the rest. It calls Krita's objects (Document, Node, Selection)
without importing :mod:`krita`, so tests can hand it stand-ins.

Krita's ``setPixelData`` is not undoable (docs/hosts.md), so an in-place
write goes through an undoable merge:

1. the result goes on a new, unattached helper layer with the source's
   opacity and blend mode (so the merge keeps them instead of baking them);
2. the region is erased on the source for the length of the merge, so
   "normal" compositing copies the result exactly, alpha included;
3. the helper is added above the source and merged down — one undo step —
   and the erased region is put back on the old source object, which
   Krita keeps for undo;
4. the helper is hidden, so undoing the merge gives back exactly the
   original image. Adding the helper is a separate undo step (the scripting
   API has no undo macros); the extension's undo companion
   (:class:`~.extension.UndoCompanion`) passes over the state in between —
   the hidden helper named :data:`HELPER_SUFFIX` — so one Undo (or Redo)
   does the whole change. Should that state be reached another way (the
   Undo History docker), :class:`KritaHost` refuses the helper as a target,
   saying so.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from photomend.errors import ImageError
from photomend.hosts.base import Box
from photomend.hosts.layers import LayerSource
from photomend.image import Image
from photomend.progress import Progress, ProgressLike, as_progress

from . import pixels

#: Ends the name of the hidden layer one Undo leaves behind (see the module notes).
HELPER_SUFFIX = " (undone: press Undo again)"
#: Child nodes a merge would bake in (selection masks are kept by Krita).
_EFFECT_MASKS = ("transparencymask", "filtermask", "transformmask", "colorizemask")


def is_helper(node: Any) -> bool:
    """Return whether `node` is the hidden helper layer of an undone merge."""
    return bool(node.name().endswith(HELPER_SUFFIX) and not node.visible())


def find_helper(node: Any) -> Any:
    """Return the first hidden helper layer under `node` (depth first), or None."""
    for child in node.childNodes():
        if is_helper(child):
            return child
        found = find_helper(child)
        if found is not None:
            return found
    return None


class KritaHost:
    """Host over one paint layer of a Krita document.

    Parameters
    ----------
    document : krita.Document
        The document; its selection limits the operation.
    node : krita.Node, optional
        The target layer; default the document's active layer.
    progress : callable or Progress, optional
        Progress of operations run without their own reporter.
    notify : callable, optional
        Shows :meth:`message` texts; default prints them.

    Raises
    ------
    ImageError
        For anything but an unlocked RGB or grayscale paint layer at 8, 16
        (integer or half) or 32 (float) bits, with what to do instead.
    """

    blends_selection = False

    def __init__(self, document: Any, node: Any = None, *, progress: ProgressLike = None,
                 notify: Callable[[str], None] | None = None) -> None:
        node = node if node is not None else document.activeNode()
        if node is None:
            msg = "select the paint layer to restore first"
            raise ImageError(msg)
        pixels.check_layer(node.type(), node.name())
        if is_helper(node):
            msg = (f"“{node.name()}” is the hidden helper layer left by undoing photomend; "
                   "press Undo once more (or delete it) and select the layer to restore")
            raise ImageError(msg)
        if node.locked():
            msg = f"“{node.name()}” is locked; unlock it first (Layers docker, lock icon)"
            raise ImageError(msg)
        self.document = document
        self.node = node
        self.layout = pixels.layout(node.colorModel(), node.colorDepth(), node.name())
        self.transfer = pixels.transfer_of(node.colorProfile())
        self._progress = progress
        self._notify = notify
        self._label = "photomend"

    # -- reading ----------------------------------------------------------
    def size(self) -> tuple[int, int]:
        """Return the canvas ``(width, height)``: layers are read in image coordinates."""
        return self.document.width(), self.document.height()

    def selection_bounds(self) -> Box | None:
        """Return the selection's bounding box clipped to the canvas (None without one)."""
        sel = self.document.selection()
        if sel is None:
            return None
        width, height = self.size()
        x0, y0 = max(0, sel.x()), max(0, sel.y())
        x1, y1 = min(width, sel.x() + sel.width()), min(height, sel.y() + sel.height())
        if x1 <= x0 or y1 <= y0:
            return Box(0, 0, 0, 0)
        return Box(x0, y0, x1 - x0, y1 - y0)

    def selection(self, box: Box) -> np.ndarray:
        """Return the selection in `box` as float32 ``(h, w)`` in [0, 1]."""
        sel = self.document.selection()
        if sel is None:
            return np.ones((box.height, box.width), dtype=np.float32)
        return pixels.selection_from_bytes(bytes(sel.pixelData(*box)), box.width, box.height)

    def read(self, box: Box) -> Image:
        """Return the layer's pixels in `box` (alpha split off)."""
        data = bytes(self.node.pixelData(*box))
        return pixels.to_image(data, box.width, box.height, self.layout, self.transfer)

    def layer_sources(self) -> list[LayerSource]:
        """Return the document's other paint layers, offered for layer parameters.

        Top of the stack first, as the Layers docker lists them; layers in a
        colour model photomend cannot read are left out.
        """
        found: list[LayerSource] = []

        def visit(parent: Any) -> None:
            for node in reversed(parent.childNodes()):
                if node.type() == "paintlayer" and node.uniqueId() != self.node.uniqueId() \
                        and not is_helper(node):
                    try:
                        lay = pixels.layout(node.colorModel(), node.colorDepth(), node.name())
                    except ImageError:
                        lay = None
                    if lay is not None:
                        found.append(LayerSource(node.uniqueId().toString(), node.name(),
                                                 functools.partial(self._read_node, node, lay)))
                visit(node)

        visit(self.document.rootNode())
        return found

    def _read_node(self, node: Any, lay: pixels.Layout) -> Image:
        """Read another layer over the whole canvas."""
        width, height = self.size()
        data = bytes(node.pixelData(0, 0, width, height))
        return pixels.to_image(data, width, height, lay, pixels.transfer_of(node.colorProfile()))

    # -- writing ----------------------------------------------------------
    def write(self, box: Box, image: Image, *, new_layer: str | None = None) -> None:
        """Write `image` into `box` of the layer, or of a new copy named `new_layer`."""
        data = pixels.from_image(image, self.layout, self.transfer)
        if new_layer is not None:
            # A copy keeps everything of the source (opacity, mode, masks,
            # style); adding it is one undo step.
            copy = self.node.duplicate()
            copy.setName(new_layer)
            copy.setPixelData(data, *box)
            self._add_above(copy)
        else:
            self._replace(box, data)

    def write_mask(self, box: Box, mask: np.ndarray, name: str) -> None:
        """Add a detection mask as a new layer named `name` above the source."""
        layer = self._blank_layer(name)
        layer.setPixelData(pixels.mask_to_bytes(mask, self.layout), *box)
        self._add_above(layer)

    def _blank_layer(self, name: str) -> Any:
        layer = self.document.createNode(name, "paintlayer")
        node = self.node
        if (layer.colorModel(), layer.colorDepth(), layer.colorProfile()) != (
                node.colorModel(), node.colorDepth(), node.colorProfile()):
            # Layers may differ from the image's colour space; bytes must match.
            layer.setColorSpace(node.colorModel(), node.colorDepth(), node.colorProfile())
        return layer

    def _add_above(self, layer: Any) -> None:
        self.node.parentNode().addChildNode(layer, self.node)
        self.document.waitForDone()

    def _check_mergeable(self) -> None:
        """Refuse what a merge would bake in or cannot keep, saying what to do."""
        node = self.node
        masks = sorted({c.type().replace("mask", " mask") for c in node.childNodes()
                        if c.type() in _EFFECT_MASKS})
        problem = ""
        if masks:
            problem = f"has {', '.join(masks)}s, which an in-place change would bake in"
        elif getattr(node, "layerStyleToAsl", lambda: "")():
            problem = "has a layer style, which an in-place change would bake in"
        elif not all(channel.visible() for channel in node.channels()):
            problem = "has colour channels switched off (Layer Properties ▸ Active Channels)"
        elif node.animated():
            problem = "is animated, and photomend changes still layers in place only"
        if problem:
            msg = f"“{node.name()}” {problem}; choose “New layer” as output instead"
            raise ImageError(msg)

    def _replace(self, box: Box, data: bytes) -> None:
        self._check_mergeable()
        doc, node = self.document, self.node
        parent = node.parentNode()
        keep = {"inherit_alpha": node.inheritAlpha(), "alpha_locked": node.alphaLocked(),
                "visible": node.visible(), "color_label": node.colorLabel()}
        index = [c.uniqueId() for c in parent.childNodes()].index(node.uniqueId())
        helper = self._blank_layer(self._label + HELPER_SUFFIX)
        helper.setOpacity(node.opacity())
        if helper.blendingMode() != node.blendingMode():
            helper.setBlendingMode(node.blendingMode())  # also an (invisible) undo step
        helper.setPixelData(data, *box)
        original = node.pixelData(*box)
        node.setPixelData(bytes(len(original)), *box)
        try:
            parent.addChildNode(helper, node)
            helper.mergeDown()
            doc.waitForDone()
        finally:
            node.setPixelData(original, *box)
            helper.setVisible(False)
        if helper.parentNode() is not None:  # Krita refused to merge
            helper.remove()
            msg = f"Krita could not merge the result into “{node.name()}”"
            raise RuntimeError(msg)
        merged = parent.childNodes()[index]
        # Properties a merged layer does not inherit; the old node keeps its own.
        merged.setInheritAlpha(keep["inherit_alpha"])
        merged.setAlphaLocked(keep["alpha_locked"])
        merged.setVisible(keep["visible"])
        merged.setColorLabel(keep["color_label"])
        self.node = merged

    # -- feedback ---------------------------------------------------------
    def message(self, text: str) -> None:
        """Show `text` to the user."""
        if self._notify is not None:
            self._notify(text)
        else:
            print(f"photomend: {text}", file=sys.stderr)

    @contextlib.contextmanager
    def undo_group(self, label: str) -> Iterator[None]:
        """Name the helper layer after `label` and refresh the canvas afterwards.

        Krita's scripting API has no undo macros; every write above is a
        single merge or layer addition (see the module notes).
        """
        self._label = label
        try:
            yield
        finally:
            self.document.refreshProjection()
            self.document.waitForDone()

    def progress(self, label: str) -> Progress:
        """Return the progress reporter given at construction (silent by default)."""
        return as_progress(self._progress)

