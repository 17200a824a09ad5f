"""Benchmark tasks, by name."""

from __future__ import annotations

from ..core import Task
from . import color, deblur, defects, denoise, inpaint, restore_photo, sharpen

TASKS: dict[str, Task] = {t.name: t for t in (
    denoise.TASK, deblur.TASK, deblur.BLIND_TASK, inpaint.TASK, defects.DETECT_TASK,
    defects.REMOVE_TASK, color.TASK, sharpen.TASK, restore_photo.TASK)}
