"""Retention keeps running while the window stays open; the layout survives 200% scaling."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from app.core.paths import AppPaths
from tests.ui.conftest import PASSPHRASE

pytestmark = pytest.mark.model


def test_daily_retention_deletes_old_conversations_while_open(
    qtbot: QtBot, model_paths: AppPaths, open_window: Any
) -> None:
    w = open_window(model_paths)
    ctx = w.app
    ctx.settings.set("history.retention_days", 7)
    assert ctx.history is not None
    old = ctx.history.create_conversation("from last month")
    fresh = ctx.history.create_conversation("from today")
    month_ago = time.time() - 30 * 86400
    ctx.history._write(lambda c: c.execute(  # noqa: SLF001 - age a row for the test
        "UPDATE conversations SET updated = ? WHERE id = ?", (month_ago, old)))
    w.retention_timer.timeout.emit()  # as if a day had passed
    qtbot.waitUntil(lambda: [c.id for c in ctx.history.list_conversations()] == [fresh],
                    timeout=10_000)


def test_layout_survives_200_percent_scaling_in_a_small_window(model_paths: AppPaths) -> None:
    script = textwrap.dedent(f"""
        import sys
        from PySide6.QtWidgets import QApplication
        from app.core.context import open_app
        from app.ui.main_window import MainWindow
        app = QApplication(sys.argv)
        ctx = open_app(passphrase={PASSPHRASE!r})
        w = MainWindow(ctx)
        w.resize(1024, 700)
        w.show()
        app.processEvents()
        for name in ("composer", "send_button", "stop_button", "view", "sidebar"):
            widget = getattr(w, name)
            r = widget.geometry()
            top_left = widget.mapTo(w, r.topLeft() - r.topLeft())
            ok = (widget.isVisible() and widget.width() > 20 and widget.height() > 10
                  and top_left.x() >= 0 and top_left.y() >= 0
                  and top_left.x() + widget.width() <= w.width() + 1
                  and top_left.y() + widget.height() <= w.height() + 1)
            print(name, "ok" if ok else "CLIPPED", widget.width(), widget.height())
        w.close()
        ctx.close()
    """)
    env = {**os.environ, "QT_SCALE_FACTOR": "2", "QT_QPA_PLATFORM": "offscreen"}
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120, env=env, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [line for line in r.stdout.splitlines() if line.split()[:1]]
    assert len(lines) == 5, r.stdout
    assert all(" ok " in f"{line} " for line in lines), r.stdout


def test_about_shows_the_version_from_pyproject(model_paths: AppPaths, open_window: Any
                                                ) -> None:
    import tomllib
    from pathlib import Path

    version = tomllib.loads(
        (Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]["version"]
    w = open_window(model_paths)
    assert f"Enclave {version}" in w.menus.about_text()
    assert w.app.audit is not None
    import json

    first = json.loads(w.app.audit.path.read_text().splitlines()[0])
    assert first["actor"]["version"] == version


def test_saved_settings_apply_to_the_next_answer(app_paths: AppPaths, open_window: Any
                                                 ) -> None:
    w = open_window(app_paths)
    w.app.settings.set("engine.context_length", 1024)
    w.app.settings.set("generation.temperature", 0.2)
    w.apply_settings()
    assert w.app.chat.local.options.context_length == 1024
    assert w.app.chat.params.temperature == 0.2
