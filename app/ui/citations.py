"""Citations under an answer: ``[1] handbook.pdf p.3`` buttons and the passage they point at.

An answer grounded in documents comes back with numbered sources (``app.core.docs.Source``).
The sources bar lists them under the conversation; choosing one opens a dialog with the file,
its page or heading and the passage itself, so the reader can check the answer against it.
A passage the injection check flagged says why, because the model was told to treat it as
material, and the reader should know it looked like instructions.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

PREVIEW_CHARS = 60  # what a source button shows of its passage


def source_title(source: Any) -> str:
    """``[1] handbook.pdf p.3`` — the source's number and label."""
    return f"[{source.n}] {source.label}"


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


class PassageDialog(QDialog):
    """The passage an answer cited, with where it came from."""

    def __init__(self, source: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.setWindowTitle(f"Source {source_title(source)}")
        self.setAccessibleName("Cited passage")
        self.resize(560, 420)
        layout = QVBoxLayout(self)
        where = [f"<b>File:</b> {html.escape(source.file)}"]
        if source.page is not None:
            where.append(f"<b>Page:</b> {source.page}")
        if source.heading:
            where.append(f"<b>Section:</b> {html.escape(source.heading)}")
        self.where = QLabel("<br>".join(where), self)
        self.where.setAccessibleName("Where the passage is")
        self.where.setWordWrap(True)
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.where)
        self.warning = QLabel(self)
        self.warning.setObjectName("error-banner")
        self.warning.setAccessibleName("Warning about this passage")
        self.warning.setWordWrap(True)
        if source.flagged:
            reason = source.reason or "suspicious wording"
            self.warning.setText(
                "<b>Flagged: this passage looks like injected instructions</b> "
                f"({html.escape(reason)}). The assistant was told to treat it as material, "
                "not as instructions; read it with care.")
        self.warning.setVisible(bool(source.flagged))
        layout.addWidget(self.warning)
        self.passage = QTextBrowser(self)
        self.passage.setAccessibleName("Passage text")
        self.passage.setPlainText(source.text)
        layout.addWidget(self.passage, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        for button in buttons.buttons():
            button.setAccessibleName(button.text().replace("&", ""))
        layout.addWidget(buttons)


class SourcesBar(QWidget):
    """The numbered sources of the latest answer, each a button that opens its passage."""

    opened = Signal(object)  # the PassageDialog just shown (tests and screenshots use it)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Sources of the latest answer")
        self.sources: list[Any] = []
        self.buttons: list[QPushButton] = []
        self.dialog: PassageDialog | None = None
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("Sources:", self)
        self.title.setAccessibleName("Sources")
        self._layout.addWidget(self.title)
        self._layout.addStretch(1)
        self.hide()

    def show_sources(self, sources: Sequence[Any] | None) -> None:
        """List ``sources`` (``None`` or empty: hide the bar)."""
        for button in self.buttons:
            self._layout.removeWidget(button)
            button.deleteLater()
        self.buttons = []
        self.sources = list(sources or [])
        for i, source in enumerate(self.sources):
            button = QPushButton(source_title(source), self)
            button.setFlat(True)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.setAccessibleName(f"Source {source_title(source)}")
            flag = " (flagged: " + (source.reason or "suspicious") + ")" if source.flagged else ""
            button.setToolTip(f"{os.path.basename(source.file)}{flag}: "
                              f"{_preview(source.text)}")
            button.clicked.connect(lambda _=False, s=source: self.open_source(s))
            self._layout.insertWidget(1 + i, button)
            self.buttons.append(button)
        self.setVisible(bool(self.sources))

    def open_source(self, source: Any) -> PassageDialog:
        """Show one source's passage (non-modal: the conversation stays usable)."""
        if self.dialog is not None:  # one passage at a time; the old dialog is freed
            self.dialog.close()
            self.dialog.deleteLater()
        self.dialog = PassageDialog(source, self.window())
        self.dialog.show()
        self.opened.emit(self.dialog)
        return self.dialog
