"""Reasoning in the chat view: never drawn as the answer, collapsed under "Thinking".

The view is fed exactly what a reasoning model streams (``<think>…</think>`` and the other
templates' markers), through the same calls the turn code makes; no model is needed for that.
A real answer from the real model checks that streaming text is drawn like the finished one.
"""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QTextCursor, QTextDocument
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from app.core.engines.base import GenerationParams
from app.core.paths import AppPaths
from app.ui.chat_view import ChatView
from app.ui.design import palette

THOUGHT = "The user wants the capital of Peru. That is Lima, I am sure of it."
ANSWER = "The capital of Peru is **Lima**."


def stream(view: ChatView, chunks: list[str]) -> None:
    view.begin_answer("reasoner")
    for chunk in chunks:
        view.append_stream(chunk)


def activate_thinking_with_keyboard(qtbot: QtBot, view: ChatView) -> None:
    """Tab through the view's links to "Thinking" and press Enter, as a keyboard user does."""
    view.setFocus()
    qtbot.waitUntil(view.hasFocus, timeout=5000)
    view.moveCursor(QTextCursor.MoveOperation.Start)
    for _ in range(12):
        QTest.keyClick(view, Qt.Key.Key_Tab)
        if "Thinking" in view.textCursor().selectedText():
            QTest.keyClick(view, Qt.Key.Key_Return)
            return
    raise AssertionError("Tab never reached the Thinking link")


def test_streamed_reasoning_is_counted_not_shown_and_collapsed_when_done(
    qtbot: QtBot,
) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    view.add_user_message("What is the capital of Peru?")
    # Marker split across chunks, as tokens arrive.
    stream(view, ["<thi", "nk>", "The user wants the capital of Peru.",
                  " That is Lima, I am sure of it."])
    shown = view.toPlainText()
    assert "capital of Peru." not in shown.split("What is the capital of Peru?")[1]
    assert "<thi" not in shown and "Thinking… 15 words" in shown
    view.append_stream("</think>\n\n")
    view.append_stream(ANSWER)
    shown = view.toPlainText()
    assert "Thought (15 words)" in shown and ANSWER in shown and "I am sure" not in shown
    # The turn code reads back exactly what the model wrote (it is stored as it came).
    raw = f"<think>{THOUGHT}</think>\n\n{ANSWER}"
    assert view.answer_text() == raw

    view.end_answer(view.answer_text(), "reasoner · LOCAL")
    shown = view.toPlainText()
    assert "The capital of Peru is Lima." in shown  # rendered Markdown
    assert "▸ Thinking" in shown and "I am sure" not in shown
    assert view.messages[1].text == raw

    activate_thinking_with_keyboard(qtbot, view)
    assert "▾ Thinking" in view.toPlainText() and THOUGHT in view.toPlainText()
    view.rerender()  # the theme changed: still expanded
    assert THOUGHT in view.toPlainText()
    view.set_messages(view.messages)  # the conversation opened again: still expanded
    assert view.thinking_shown(1) and THOUGHT in view.toPlainText()

    activate_thinking_with_keyboard(qtbot, view)
    assert "▸ Thinking" in view.toPlainText() and THOUGHT not in view.toPlainText()


@pytest.mark.parametrize(("raw", "thought", "answer"), [
    ("<think>count the legs</think>Four legs.", "count the legs", "Four legs."),
    ("<THINKING>upper case</THINKING>Yes.", "upper case", "Yes."),
    ("<reasoning>weigh both</reasoning>The first.", "weigh both", "The first."),
    ("<|begin_of_thought|>step one<|end_of_thought|>Done.", "step one", "Done."),
    ("<|channel|>analysis<|message|>check policy<|end|><|start|>assistant<|channel|>final"
     "<|message|>Allowed.", "check policy", "Allowed."),
    ("opened in the prompt</think>Answer after a lone closer.", "opened in the prompt",
     "Answer after a lone closer."),
])
def test_every_template_marker_is_set_aside(qtbot: QtBot, raw: str, thought: str,
                                            answer: str) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    stream(view, [raw[i:i + 5] for i in range(0, len(raw), 5)])  # arrives in pieces
    assert thought not in view.toPlainText() and "<|" not in view.toPlainText()
    assert answer in view.toPlainText()
    assert view.answer_text() == raw
    view.end_answer(raw, "reasoner · LOCAL")
    assert thought not in view.toPlainText() and answer in view.toPlainText()
    assert view.toggle_thinking(0) and thought in view.toPlainText()


def test_a_stopped_thought_says_so_and_shows_no_answer(qtbot: QtBot) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    stream(view, ["<think>", "still weighing the"])
    assert "Thinking… 3 words" in view.toPlainText()
    view.end_answer(view.answer_text(), "reasoner · incomplete (stopped)", complete=False)
    assert "(stopped)" in view.toPlainText() and "weighing" not in view.toPlainText()


def test_text_that_only_looks_like_a_marker_is_shown(qtbot: QtBot) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    stream(view, ["Use a", " <b> tag", " when 3 < 4."])
    assert "Use a <b> tag when 3 < 4." in view.toPlainText()
    assert "Thinking" not in view.toPlainText()


def _last(view: ChatView, word: str) -> QTextCursor:
    """The last place ``word`` is drawn (the newest answer is at the end)."""
    flags = (QTextDocument.FindFlag.FindBackward | QTextDocument.FindFlag.FindCaseSensitively
             | QTextDocument.FindFlag.FindWholeWords)
    return view.document().find(word, view.document().characterCount(), flags)


def _card_colour(view: ChatView, cursor: QTextCursor) -> str:
    """The colour drawn just left of the found word: the card's, when the word is in one."""
    start = QTextCursor(cursor)
    start.setPosition(cursor.selectionStart())
    at = view.cursorRect(start)
    return view.viewport().grab().toImage().pixelColor(at.left() - 4, at.center().y()).name()


@pytest.mark.model
def test_a_real_answer_streams_unbolded_in_its_card(
    qtbot: QtBot, model_paths: AppPaths, open_window: Any,
) -> None:
    w = open_window(model_paths, passphrase=None, wait_for_model=True,
                    params=GenerationParams(max_tokens=40, seed=3))
    view: ChatView = w.view
    seen: list[tuple[int, str]] = []

    def streamed_word_seen() -> bool:
        words = [t for t in view.answer_text().split() if t.isalpha()]
        if view.streaming() and words and not seen:
            cursor = _last(view, words[0])
            if not cursor.isNull():
                seen.append((cursor.charFormat().fontWeight(), _card_colour(view, cursor)))
        return bool(seen)

    QTest.keyClicks(w.composer, "Name one colour.")
    QTest.keyClick(w.composer, Qt.Key.Key_Return)
    qtbot.waitUntil(streamed_word_seen, timeout=30_000)
    card = palette(w.dark).card
    weight, background = seen[0]
    assert weight == QFont.Weight.Normal, "the streaming answer is drawn bold"
    assert background == card, "the streaming answer is not in an answer card"
    with qtbot.waitSignal(w.answer_finished, timeout=60_000):
        pass
    words = [t for t in view.messages[-1].text.split() if t.isalpha()]
    assert words, "the model wrote no word"
    finished = _last(view, words[-1])
    assert not finished.isNull() and _card_colour(view, finished) == card
    assert "Assistant" in view.toPlainText() and "answering…" not in view.toPlainText()


@pytest.mark.parametrize("raw", [
    f"<think>{THOUGHT}</think>\n\n{ANSWER}",
    f"{THOUGHT}</think>{ANSWER}",  # the template opened the block: a lone closer
    f"<|channel|>analysis<|message|>{THOUGHT}<|end|><|start|>assistant<|channel|>final"
    f"<|message|>{ANSWER}",
    "if a < b and c <d then <b>bold</b>",  # no reasoning, and "<" that is none
])
@pytest.mark.parametrize("size", [1, 3, 7, 10_000])
def test_any_chunking_draws_what_the_whole_answer_holds(qtbot: QtBot, raw: str,
                                                         size: int) -> None:
    from app.core.reasoning import split_reasoning

    view = ChatView()
    qtbot.addWidget(view)
    stream(view, [raw[i : i + size] for i in range(0, len(raw), size)])
    # The card: the role label (with the count), the streamed answer, the model's footer.
    label, rest = view.toPlainText().split("\n", 1)
    streamed = rest.rsplit("\nreasoner", 1)[0]
    whole = split_reasoning(raw)
    held_back = 24  # at most a possible marker's start waits for the next piece
    assert whole.answer.strip().startswith(streamed.strip()[: max(0, len(streamed) - 1)])
    assert len(whole.answer.strip()) - len(streamed.strip()) <= held_back
    if whole.has_thinking:
        words = len(whole.thinking.split())
        assert f"Thought ({words} words)" in label
        assert "Lima, I am sure" not in streamed
    assert view.answer_text() == raw
