"""Answers render as Markdown; model output can never run HTML or open a link by itself."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from app.core.context import open_app
from app.core.paths import AppPaths
from app.core.store import WrongKey
from app.ui.chat_view import ChatView
from app.ui.footer import footer_for
from app.ui.markdown import render_markdown
from app.ui.pages import StoreErrorWindow

ANSWER = """# Title

- one
- two

| a | b |
|---|---|
| 1 | 2 |

See [the docs](https://example.org).

```python
def f():
    return 1
```

<script>alert(1)</script> ![x](file:///etc/passwd)
"""


def test_markdown_renders_headings_lists_tables_links_and_highlighted_code() -> None:
    out = render_markdown(ANSWER)
    assert "<h1>Title</h1>" in out.html and "<li>one</li>" in out.html
    assert "<td>1</td>" in out.html
    assert "href=\"https://example.org\"" in out.html
    assert "enclave-copy:0" in out.html  # the code block's Copy link
    assert "style=\"color:" in out.html or "style=\"color: " in out.html  # highlighted
    assert out.code_blocks == ["def f():\n    return 1\n"]
    assert "<script>" not in out.html and "&lt;script&gt;" in out.html
    assert "<img" not in out.html


def test_view_copy_link_and_links_need_the_window(qtbot: QtBot) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    view.add_user_message("Show code")
    view.begin_answer("model")
    view.append_stream("partial")
    assert view.answer_text() == "partial"
    view.end_answer(ANSWER, "model · LOCAL")
    assert not view.openLinks() and not view.openExternalLinks()
    assert view.code_blocks == ["def f():\n    return 1\n"]
    with qtbot.waitSignal(view.action_requested) as blocker:
        view.anchorClicked.emit(__import__("PySide6.QtCore").QtCore.QUrl("enclave-copy:0"))
    assert blocker.args == ["copy-code", 0]
    with qtbot.waitSignal(view.link_requested):
        view.anchorClicked.emit(__import__("PySide6.QtCore").QtCore.QUrl("https://x.org"))
    assert [m.role for m in view.messages] == ["user", "assistant"]
    assert "partial" not in view.toPlainText()


def test_incomplete_answers_say_so() -> None:
    assert "incomplete (stopped)" in footer_for("m", "local", 10, 5, False, "cancelled", None)
    assert "incomplete (engine crashed)" in footer_for(
        "m", "local", 0, 0, False, "error", "engine crashed")
    assert "incomplete" not in footer_for("m", "local", 10, 5, True, "stop", None)


def test_store_error_page_never_offers_to_overwrite(qtbot: QtBot, app_paths: AppPaths) -> None:
    ctx = open_app(app_paths, save=False)
    exc = WrongKey("The passphrase does not open this history.", "Type it again.")
    page = StoreErrorWindow(ctx.policy, exc.message, exc.hint)
    qtbot.addWidget(page)
    from PySide6.QtWidgets import QPushButton

    labels = sorted(b.text() for b in page.findChildren(QPushButton))
    assert labels == ["Continue without saving", "Quit"]
    assert "does not open this history" in page.message.text()
    with qtbot.waitSignal(page.continue_unsaved):
        page.continue_button.click()
    ctx.close()
