"""Progress reporting and cancellation: one mechanism for every operation.

A host (GIMP's progress bar, a Qt progress dialog, the CLI's terminal bar)
passes a callable receiving the completed fraction in [0, 1]. Returning
``False`` from it requests cancellation; so does calling
:meth:`Progress.cancel` from another thread. Long-running code calls
:meth:`Progress.update` (or :meth:`Progress.check`) regularly, which raises
:class:`~photomend.errors.Cancelled` once cancellation was requested.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .errors import Cancelled

__all__ = ["Progress", "ProgressLike", "as_progress"]

ProgressCallback = Callable[[float], bool | None]


class Progress:
    """Report the completed fraction of a job and honour cancellation.

    Parameters
    ----------
    callback : callable, optional
        Called with the overall completed fraction in [0, 1]. If it returns
        ``False`` the job is cancelled.
    start, stop : float
        The slice of the parent's range this object maps [0, 1] onto; use
        :meth:`span` rather than setting these directly.

    Examples
    --------
    >>> seen = []
    >>> p = Progress(seen.append)
    >>> p.span(0.0, 0.5).update(1.0)
    >>> seen
    [0.5]
    """

    def __init__(
        self,
        callback: ProgressCallback | None = None,
        *,
        start: float = 0.0,
        stop: float = 1.0,
        _event: threading.Event | None = None,
        _lock: threading.Lock | None = None,
    ) -> None:
        self._callback = callback
        self._start = float(start)
        self._stop = float(stop)
        self._event = _event if _event is not None else threading.Event()
        self._lock = _lock if _lock is not None else threading.Lock()

    @property
    def cancelled(self) -> bool:
        """Whether cancellation has been requested."""
        return self._event.is_set()

    def cancel(self) -> None:
        """Request cancellation (thread-safe)."""
        self._event.set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancellation has been requested."""
        if self._event.is_set():
            raise Cancelled("cancelled by the user")

    def update(self, fraction: float) -> None:
        """Report that `fraction` of this (sub-)job is done.

        Raises
        ------
        Cancelled
            If cancellation was requested, here or by the callback.
        """
        self.check()
        f = min(max(float(fraction), 0.0), 1.0)
        overall = self._start + (self._stop - self._start) * f
        if self._callback is not None:
            with self._lock:  # tiles finish on worker threads
                answer = self._callback(overall)
            if answer is False:
                self._event.set()
        self.check()

    def silent(self) -> Progress:
        """Return a child that reports nothing but shares cancellation.

        Used for work running in parallel (tiles), whose overall progress
        is reported by the code that schedules it.
        """
        return Progress(None, _event=self._event, _lock=self._lock)

    def span(self, start: float, stop: float) -> Progress:
        """Return a child mapping its [0, 1] onto [start, stop] of this one."""
        a = self._start + (self._stop - self._start) * start
        b = self._start + (self._stop - self._start) * stop
        return Progress(self._callback, start=a, stop=b, _event=self._event, _lock=self._lock)


ProgressLike = Progress | ProgressCallback | None


def as_progress(progress: ProgressLike) -> Progress:
    """Wrap a callback (or ``None``) in a :class:`Progress`."""
    if isinstance(progress, Progress):
        return progress
    if progress is None or callable(progress):
        return Progress(progress)
    msg = f"progress must be a callable or a Progress, not {type(progress).__name__}"
    raise TypeError(msg)
