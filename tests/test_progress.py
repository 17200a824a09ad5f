import threading

import pytest

from photomend import Cancelled, Progress
from photomend.progress import as_progress


def test_spans_map_to_the_parent_range():
    seen = []
    p = Progress(seen.append)
    p.span(0.5, 1.0).span(0.0, 0.5).update(1.0)
    assert seen == [0.75]


def test_callback_returning_false_cancels():
    p = Progress(lambda f: f < 0.5)
    p.update(0.2)
    with pytest.raises(Cancelled):
        p.update(0.6)
    assert p.cancelled
    with pytest.raises(Cancelled):
        p.span(0, 1).check()


def test_cancel_from_another_thread_reaches_children():
    p = Progress()
    child = p.span(0.2, 0.4).silent()
    t = threading.Thread(target=p.cancel)
    t.start()
    t.join()
    with pytest.raises(Cancelled):
        child.check()


def test_as_progress():
    p = Progress()
    assert as_progress(p) is p
    assert isinstance(as_progress(None), Progress)
    with pytest.raises(TypeError, match="callable"):
        as_progress(3)  # type: ignore[arg-type]
