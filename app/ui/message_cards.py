"""The card an answer streams into: plain paragraphs, with the card painted behind them.

A finished message is a one-cell table (``app.ui.markdown.card_html``: Qt's rich text has no
rounded boxes). A table is a poor place to stream into: QTextDocument lays a table out again
whole on every change, so each flush cost time in proportion to the answer so far (0.7 ms an
insert at 400 tokens, against 0.1 ms outside a table; issue 18). A frame with the card's
border and padding still cost more per flush as it grew (3.2 ms early in an 800-token
answer, 4.9 ms at its end). So the answer streams into ordinary paragraphs, indented as the
card's padding indents its text, and the view paints the card's box behind them
(:func:`paint_streaming_card`): a flush costs the same at any length (2.0-2.4 ms). When the
answer completes, the rendered card replaces the paragraphs, its text in the same place.
"""

from __future__ import annotations

import html
import threading

from PySide6.QtCore import QRectF, QTimer
from PySide6.QtGui import (
    QColor,
    QPainter,
    QPen,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import QTextEdit

from app.ui.design import palette
from app.ui.markdown import role_label, warm_renderer

# The finished card's geometry (see ``card_html``): cellpadding 14 (its cell adds a pixel), a
# 1 px border, 14 px above: the text must not move when the finished card replaces this one.
CARD_PADDING = 15
CARD_BORDER = 1
CARD_MARGIN_TOP = 14
# A search hit's colour, with dark text on it in both themes (as in the sidebar).
HIGHLIGHT_BACKGROUND = "#ffe066"
HIGHLIGHT_TEXT = "#000000"
WARM_AFTER_MS = 1500  # after the window is up (in a thread it stalls the GUI 9-17 ms, not 50)
_warming: list[threading.Thread] = []


def streaming_card_inner_html(who: str, mark: str, dark: bool) -> str:
    """What the streaming card holds: ``mark`` stands where the answer's text goes."""
    colours = palette(dark)
    return (f"{role_label('assistant', colours)}<p style='margin:0'>{mark}</p>"
            f"<p style='color:{colours.muted}; font-size:small'>{html.escape(who)}"
            " · answering…</p>")


def open_streaming_card(cursor: QTextCursor, who: str, mark: str, dark: bool) -> int:
    """Open the streaming card at the document's end; returns where it starts.

    Its paragraphs are indented as the card's padding indents the finished answer, so the
    text does not move when the rendered card replaces them.
    """
    cursor.movePosition(QTextCursor.MoveOperation.End)
    if not cursor.document().isEmpty():
        cursor.insertBlock()
    cursor.setBlockFormat(QTextBlockFormat())
    cursor.setCharFormat(QTextCharFormat())
    start = cursor.position()
    cursor.insertHtml(streaming_card_inner_html(who, mark, dark))
    inset = CARD_PADDING + CARD_BORDER
    block = cursor.document().findBlock(start)
    first = block
    while block.isValid():  # the card's padding as margins (new lines copy them)
        fmt = block.blockFormat()
        fmt.setLeftMargin(inset)
        fmt.setRightMargin(inset)
        if block == first:
            fmt.setTopMargin(CARD_MARGIN_TOP + inset)
        if not block.next().isValid():
            fmt.setBottomMargin(inset)
        QTextCursor(block).setBlockFormat(fmt)
        block = block.next()
    return start


def paint_streaming_card(view: QTextEdit, start: int, dark: bool) -> None:
    """Paint the card's box behind the paragraphs from ``start`` to the end (see above)."""
    doc = view.document()
    layout = doc.documentLayout()
    first = layout.blockBoundingRect(doc.findBlock(start))
    last = layout.blockBoundingRect(doc.lastBlock())
    root = doc.rootFrame().frameFormat()
    inset = CARD_PADDING + CARD_BORDER
    box = QRectF(root.leftMargin(), first.top() - inset,
                 doc.size().width() - root.leftMargin() - root.rightMargin(),
                 last.bottom() - first.top() + 2 * inset)
    box.translate(-view.horizontalScrollBar().value(), -view.verticalScrollBar().value())
    colours = palette(dark)
    painter = QPainter(view.viewport())
    painter.setPen(QPen(QColor(colours.card_border), CARD_BORDER))
    painter.setBrush(QColor(colours.card))
    painter.drawRect(box.adjusted(0.5, 0.5, -0.5, -0.5))
    painter.end()


def warm_renderer_later() -> None:
    """Import the Markdown renderer in the background once the window is up (once only)."""
    def start() -> None:
        if not _warming:
            _warming.append(threading.Thread(target=warm_renderer, daemon=True,
                                             name="enclave-markdown-warm"))
            _warming[0].start()

    QTimer.singleShot(WARM_AFTER_MS, start)


def word_marks(doc: QTextDocument, words: list[str]) -> list[QTextEdit.ExtraSelection]:
    """Marks over every place ``doc`` shows one of ``words`` (not in action links)."""
    mark = QTextCharFormat()
    mark.setBackground(QColor(HIGHLIGHT_BACKGROUND))
    mark.setForeground(QColor(HIGHLIGHT_TEXT))
    selections = []
    for word in words:
        cursor = doc.find(word, 0)
        while not cursor.isNull():
            if not cursor.charFormat().isAnchor():  # not the message's action links
                selection = QTextEdit.ExtraSelection()
                selection.cursor = cursor
                selection.format = mark
                selections.append(selection)
            cursor = doc.find(word, cursor)
    return selections
