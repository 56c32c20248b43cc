"""GUI tests run offscreen against the real model; no thread may outlive its test.

``open_window`` is the one way tests build the main window: it opens the app, shows the
window, waits for the model when asked, and at the end closes both and checks that the
window's background lanes are idle.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from tests.policies import policy_root

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _no_background_work_left(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail a test that leaves background work behind.

    The suite-wide ``_no_leaked_threads`` sees Python threads that are not daemons; this adds
    what the GUI starts: any QThread (``QThread.start`` is watched, as napari's
    ``_dangling_qthreads`` does), a ``BackgroundLane`` still holding a job, work left on the
    global QThreadPool, and daemon threads the test started.
    """
    from PySide6.QtCore import QThread, QThreadPool

    from app.ui.background import busy_lanes

    started: list[QThread] = []
    original_start = QThread.start

    def start(self: QThread, *args: Any) -> None:
        started.append(self)
        original_start(self, *args)

    monkeypatch.setattr(QThread, "start", start)
    before = set(threading.enumerate())
    yield
    lanes = busy_lanes()
    qthreads = [t.objectName() or type(t).__name__ for t in started if t.isRunning()]
    for thread in started:  # stop them so the next test starts clean
        if thread.isRunning():
            thread.quit()
            thread.wait(5000)
    pool = QThreadPool.globalInstance()
    pool_busy = not pool.waitForDone(5000)
    daemons = []
    for t in set(threading.enumerate()) - before:
        if t.daemon and not isinstance(t, threading._DummyThread):
            t.join(timeout=5.0)
            if t.is_alive():
                daemons.append(t.name)
    assert not lanes, f"background lanes still busy: {lanes}"
    assert not qthreads, f"QThreads left running: {qthreads}"
    assert not pool_busy, "work left running on the global QThreadPool"
    assert not daemons, f"daemon threads left running: {daemons}"


def write_policy(base: Path, managed: dict[str, Any]) -> Path:
    """A trusted policy root (root-owned, 0755/0644; tests run as root) with one managed file."""
    return policy_root(base, managed, file_name="50-test.json")


@pytest.fixture
def with_policy(tmp_path: Path) -> Callable[[Any, dict[str, Any]], Any]:
    """``with_policy(paths, {...managed values...})``: the paths with that policy in force."""

    def make(paths: Any, managed: dict[str, Any]) -> Any:
        return dataclasses.replace(paths, policy_root=write_policy(tmp_path, managed))

    return make


@pytest.fixture
def open_window(qtbot: QtBot) -> Iterator[Callable[..., Any]]:
    """``open_window(paths, ...)``: the real main window on a real app context.

    Keyword arguments: ``passphrase`` (default ``PASSPHRASE``; ``None`` opens an unsaved
    session), ``params`` (generation parameters for the chat), ``wait_for_model`` (wait until
    a model is loaded, default False) and ``timeout_ms`` for that wait. A test may close the
    window itself (to close it mid-answer); the context stays open until the test ends.
    """
    from app.core.context import open_app
    from app.ui.main_window import MainWindow

    opened: list[tuple[Any, Any]] = []

    def make(paths: Any, *, passphrase: str | None = PASSPHRASE, params: Any = None,
             wait_for_model: bool = False, timeout_ms: int = 30_000) -> MainWindow:
        ctx = (open_app(paths, save=False) if passphrase is None
               else open_app(paths, passphrase=passphrase))
        if params is not None:
            ctx.chat.params = params
        window = MainWindow(ctx)
        opened.append((window, ctx))
        qtbot.addWidget(window)
        window.show()
        if wait_for_model:
            qtbot.waitUntil(lambda: window.engine_info is not None, timeout=timeout_ms)
        return window

    yield make
    for window, ctx in opened:
        window.close()
        idle = not any(lane.active for lane in window.lanes())
        ctx.close()
        assert idle, "background work must end with the window"
