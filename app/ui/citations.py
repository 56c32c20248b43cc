"""Citations under an answer: ``[1] handbook.pdf p.3`` links and the passage they point at.

An answer grounded in documents comes back with numbered sources (``app.core.docs.Source``
right after the turn, ``app.core.store.StoredSource`` when the conversation is opened again).
Each answer in the conversation lists its own sources in a line under it; choosing one opens
a dialog with the file, its page or heading and the passage itself, so the reader can check
the answer against it. A passage the injection check flagged says why, because the model was
told to treat it as material, and the reader should know it looked like instructions. A source
whose document changed or was removed since the answer says so: the passage shown is what
the answer was grounded on, not what the file holds now.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

SOURCE_SCHEME = "enclave-source"  # enclave-source:<message index>:<n>
PREVIEW_CHARS = 60  # what a source link's tooltip shows of its passage

# What a source's document has become since the answer cited it. The core decides the state;
# these are the words drawn for it ("current" draws nothing).
STATUS_WORDS = {"changed": "changed since", "removed": "removed"}
_STATUS_SENTENCES = {
    "changed": "The document has changed since this answer",
    "removed": "The document was removed since this answer",
}


def source_title(source: Any) -> str:
    """``[1] handbook.pdf p.3`` — the source's number and label."""
    return f"[{source.n}] {source.label}"


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


@dataclass(frozen=True)
class ShownSource:
    """One numbered source of an answer, and what its document has become since.

    Attributes:
        source: ``app.core.docs.Source`` or ``app.core.store.StoredSource``.
        status: ``"current"``, ``"changed"`` or ``"removed"`` (as the core reports it).
    """

    source: Any
    status: str = "current"

    @property
    def n(self) -> int:
        """The number the answer cites it by."""
        return int(self.source.n)

    @property
    def title(self) -> str:
        """``[1] handbook.pdf p.3``."""
        return source_title(self.source)

    @property
    def note(self) -> str:
        """``(changed since)``, ``(removed)``, or ``""`` for a current document."""
        words = STATUS_WORDS.get(self.status, "")
        return f"({words})" if words else ""


def sources_html(index: int, sources: tuple[ShownSource, ...]) -> str:
    """``Sources: [1] a.txt · [2] b.pdf p.4 (changed since)``, each title a link."""
    items = []
    for shown in sources:
        source = shown.source
        flag = " (flagged: " + (_reason(source)) + ")" if source.flagged else ""
        tip = html.escape(f"{os.path.basename(source.file)}{flag}: {_preview(source.text)}",
                          quote=True)
        link = (f"<a href='{SOURCE_SCHEME}:{index}:{shown.n}' title=\"{tip}\">"
                f"{html.escape(shown.title)}</a>")
        items.append(link + (f" {html.escape(shown.note)}" if shown.note else ""))
    return "<p style='font-size:small'>Sources: " + " · ".join(items) + "</p>"


def _reason(source: Any) -> str:
    # Sources fresh from retrieval carry the injection check's reason; stored ones only the
    # flag, so they fall back to a general word.
    return str(getattr(source, "reason", None) or "suspicious wording")


class PassageDialog(QDialog):
    """The passage an answer cited, with where it came from."""

    def __init__(self, shown: ShownSource | Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        shown = shown if isinstance(shown, ShownSource) else ShownSource(shown)
        source = shown.source
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
        if shown.status in _STATUS_SENTENCES:
            where.append(f"<i>{_STATUS_SENTENCES[shown.status]}: this is the passage as it "
                         "was cited.</i>")
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
            self.warning.setText(
                "<b>Flagged: this passage looks like injected instructions</b> "
                f"({html.escape(_reason(source))}). The assistant was told to treat it as "
                "material, not as instructions; read it with care.")
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


class PassageViewer(QObject):
    """Shows one cited passage at a time over a window (non-modal: the chat stays usable)."""

    opened = Signal(object)  # the PassageDialog just shown (tests and screenshots use it)

    def __init__(self, owner: QWidget) -> None:
        super().__init__(owner)
        self._owner = owner
        self.dialog: PassageDialog | None = None

    def open(self, shown: ShownSource) -> PassageDialog:
        """Show ``shown``'s passage, closing the one shown before."""
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
        self.dialog = PassageDialog(shown, self._owner.window())
        self.dialog.show()
        self.opened.emit(self.dialog)
        return self.dialog
