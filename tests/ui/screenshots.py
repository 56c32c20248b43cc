"""Screenshots for the docs: the real window, the real model, light and dark, policy views.

Run by ``make screenshots`` (under Xvfb):
``.venv/bin/python tests/ui/screenshots.py docs/screenshots``

Everything lives in a temporary ENCLAVE_HOME; a temporary managed policy (root-owned files,
so run as root, as the build machine does) adds the banner and a locked setting.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

QUESTION = "Give me three tips for writing clear emails, as a short list."
THINKING_ANSWER = (
    "<think>The user wants the difference in one or two lines. A list is the wrong shape "
    "here; two plain sentences will do, and I should not pad them.</think>\n\n"
    "**TCP** delivers every byte in order and resends what is lost; **UDP** sends datagrams "
    "with no such promise, which makes it lighter and quicker for live audio or games."
)
CODE_ANSWER = (
    "Here is a small function:\n\n```python\ndef greet(name: str) -> str:\n"
    "    return f\"Hello, {name}!\"\n```\n\n| Tip | Why |\n|---|---|\n"
    "| Short subject | Easy to scan |\n| One ask | Gets answered |\n"
)


def wait(condition: Any, timeout: float = 120) -> None:
    """Run the event loop until ``condition()`` (QEventLoop: see bench/ui_stall.py)."""
    from PySide6.QtCore import QEventLoop

    loop = QEventLoop()
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("timed out")
        loop.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 20)


def settle(ms: int = 300) -> None:
    end = time.perf_counter() + ms / 1000
    wait(lambda: time.perf_counter() > end)


def grab(widget: Any, out: Path, name: str) -> None:
    settle()
    path = out / f"{name}.png"
    widget.grab().save(str(path))
    print(f"wrote {path}")


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="enclave-shots-"))
    os.environ["ENCLAVE_HOME"] = str(home)
    os.environ.setdefault("ENCLAVE_SITE_MODELS_DIR",
                          str(Path.home() / ".local/share/Enclave/models"))

    from PySide6.QtWidgets import QApplication

    from app.core.context import open_app
    from app.core.engines.base import GenerationParams
    from app.core.paths import default_paths
    from app.ui.dialogs import PolicyDialog, SettingsDialog
    from app.ui.main_window import MainWindow
    from tests.ui.conftest import write_policy

    app = QApplication(sys.argv[:1])
    app.setApplicationName("Enclave")
    paths = default_paths().ensure()

    def session(theme: str, policy: dict[str, Any] | None, sub: str) -> tuple[Any, Any]:
        p = dataclasses.replace(paths, policy_root=write_policy(home / sub, policy or {}))
        ctx = open_app(p, passphrase="screenshots")
        ctx.settings.set("ui.theme", theme)
        ctx.chat.params = GenerationParams(max_tokens=120, temperature=0.3, seed=42)
        window = MainWindow(ctx)
        window.resize(1200, 760)
        window.show()
        wait(lambda: window.engine_info is not None)
        return window, ctx

    def dated(history: Any, title: str, question: str, answer: str, days_ago: float) -> int:
        """A conversation whose last activity was ``days_ago`` (the sidebar groups by it)."""
        history._clock = lambda: time.time() - days_ago * 86400
        try:
            cid = int(history.create_conversation(title))
            q = history.add_message(cid, "user", question)
            history.add_message(cid, "assistant", answer, parent_id=q, model_id="example")
        finally:
            history._clock = time.time
        return cid

    # Light: the first screen of a new chat, then a real answer, older conversations grouped.
    managed = {"prompts": {"managed": [
        {"name": "Incident summary", "kind": "prompt",
         "body": "Summarise the incident below for the duty officer: what happened, impact, "
                 "actions taken, open questions. Keep it under 150 words."},
        {"name": "Site style", "kind": "system",
         "body": "Answer in plain British English. Never speculate about named people."},
    ]}}
    window, ctx = session("light", managed, "p0")
    grab(window, out, "welcome-light")
    history = ctx.history
    for title, days in (("Quarterly figures", 1.2), ("Briefing notes for Tuesday", 3),
                        ("Travel policy questions", 12), ("Glossary of acronyms", 60)):
        dated(history, title, f"About {title.lower()}?", "Here is what I found.", days)
    pinned = dated(history, "Shift handover template", "A handover template?", "Sure.", 40)
    history.pin(pinned, True)
    history.add_prompt("Plain-language rewrite",
                       "Rewrite the text below so a non-specialist understands it.")
    window.send(QUESTION)
    wait(lambda: not window.busy, 300)
    cid = history.create_conversation("Formatting example")
    q = history.add_message(cid, "user", "Show me a Python function and a table.")
    history.add_message(cid, "assistant", CODE_ANSWER, parent_id=q, model_id="example")
    window.refresh_conversations()
    grab(window, out, "main-light")
    window.open_conversation(cid)
    wait(lambda: window.conversation_id == cid)
    grab(window, out, "markdown-code-light")
    window.sidebar.search_box.setText("emails")
    wait(lambda: window.sidebar.results.count() > 0, 10)
    grab(window, out, "search-light")
    window.sidebar.search_box.clear()
    window.menus.open_models_page()
    page = window.menus.models
    page.resize(1100, 560)
    wait(lambda: page.table.rowCount() > 0, 30)
    grab(page, out, "models-page")
    page.close()
    window.menus.prompts.open_library()
    library = window.menus.prompts.library
    settle(1500)
    grab(library, out, "prompt-library")
    library.close()
    window.close()
    ctx.close()

    # Dark, with the organization's banner and locked settings.
    policy = {
        "ui": {"classification_banner": {"text": "OFFICIAL-SENSITIVE",
                                         "foreground": "#FFFFFF", "background": "#8B0000"}},
        "history": {"retention_days": 30, "export_allowed": False},
        "engine": {"gpu_allowed": False},
    }
    window, ctx = session("dark", policy, "p1")
    window.send("What is a haiku? Answer in two sentences.")
    wait(lambda: not window.busy, 300)
    grab(window, out, "main-dark-banner")
    cid = ctx.history.create_conversation("TCP or UDP?")
    q = ctx.history.add_message(cid, "user", "What is the difference between TCP and UDP?")
    ctx.history.add_message(cid, "assistant", THINKING_ANSWER, parent_id=q,
                            model_id="a reasoning model")
    window.refresh_conversations()
    window.open_conversation(cid)
    wait(lambda: window.conversation_id == cid)
    grab(window, out, "thinking-dark")
    settings = SettingsDialog(ctx, window)
    settings.show()
    grab(settings, out, "settings-locked")
    settings.close()
    view = PolicyDialog(ctx.policy, window)
    view.show()
    grab(view, out, "policy-view")
    view.close()
    window.close()
    ctx.close()

    # Restricted mode: a managed file with an invalid value.
    window, ctx = session("light", {"connector": {"enabled": "yes"}}, "p2")
    grab(window, out, "restricted-mode")
    view = PolicyDialog(ctx.policy, window)
    view.show()
    grab(view, out, "policy-restricted")
    view.close()
    window.close()
    ctx.close()
    app.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
