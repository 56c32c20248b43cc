"""The message box, the row around it, and the question asked before a message leaves.

Enter sends, Shift+Enter starts a new line. Where the policy asks for it, a redacted message
bound for another machine is shown, exactly as it will leave, before it is sent.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.ui.design import SPACE_S, SPACE_XS, palette
from app.ui.theme import current_dark, icon, theme_events


class Composer(QPlainTextEdit):
    """A plain-text editor that submits on Enter."""

    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Ask anything — it stays on this machine. (Shift+Enter: new line)")
        self.setAccessibleName("Message")
        self.setObjectName("composer")
        self.setTabChangesFocus(True)
        self.setMinimumHeight(44)
        self.setMaximumHeight(140)
        # Its size hint, not all the room: the conversation is what grows with the window.
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        """Three lines tall: the conversation keeps the room (longer drafts scroll)."""
        hint = super().sizeHint()
        return QSize(hint.width(), self.fontMetrics().lineSpacing() * 3 + 16)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        """Enter submits; Shift+Enter inserts a line break."""
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            text = self.toPlainText().strip()
            if text:
                self.submitted.emit(text)
            return
        super().keyPressEvent(event)


class ComposerBar(QWidget):
    """Under the conversation: the editing notice, and a card with the composer and buttons.

    The card (``composer-card``) holds the message box and, under it, the documents bar
    (attach, the attached collections) with Stop and the accent Send button on the right.

    Args:
        docs_bar: The documents control shown above the composer.
        parent: The owning widget.
    """

    send_requested = Signal(str)
    stop_requested = Signal()

    def __init__(self, docs_bar: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.edit_label = QLabel(
            "Editing a message: sending starts a new branch (the old one is kept). "
            "Esc cancels.", self)
        self.edit_label.setObjectName("notice")
        self.edit_label.setAccessibleName("Editing")
        self.edit_label.hide()
        layout.addWidget(self.edit_label)
        self.card = QFrame(self)
        self.card.setObjectName("composer-card")
        inside = QVBoxLayout(self.card)
        inside.setContentsMargins(SPACE_XS, SPACE_XS, SPACE_S, SPACE_S)
        inside.setSpacing(SPACE_XS)
        self.composer = Composer(self.card)
        self.composer.submitted.connect(self.send_requested)
        self.composer.installEventFilter(self)  # the card shows the focus ring
        self.send_button = self._button("Send", "Send (Enter)")
        self.send_button.setObjectName("primary")
        self.send_button.clicked.connect(
            lambda: self.send_requested.emit(self.composer.toPlainText().strip()))
        self.stop_button = self._button("Stop", "Stop the answer (Esc)")
        self.stop_button.clicked.connect(self.stop_requested)
        self.docs_bar = docs_bar
        row = QHBoxLayout()
        row.setContentsMargins(SPACE_XS, 0, 0, 0)
        row.addWidget(docs_bar, 1)
        row.addWidget(self.stop_button)
        row.addWidget(self.send_button)
        inside.addWidget(self.composer, 1)
        inside.addLayout(row)
        layout.addWidget(self.card)
        theme_events().changed.connect(self._draw_icons)
        self._draw_icons()

    def _button(self, text: str, tip: str) -> QPushButton:
        button = QPushButton(text, self.card)
        button.setAccessibleName(text)
        button.setToolTip(tip)
        button.setIconSize(QSize(16, 16))
        return button

    def _draw_icons(self, dark: bool | None = None) -> None:
        """Tint the icons for the theme (again when it changes)."""
        on_accent = palette(current_dark() if dark is None else dark).on_accent
        self.send_button.setIcon(icon("send", dark, on_accent))
        self.stop_button.setIcon(icon("stop", dark))
        # The documents bar's attach button gets the same icon set (it is a tool button).
        attach = getattr(self.docs_bar, "attach_button", None)
        if isinstance(attach, QToolButton):
            attach.setIcon(icon("attach", dark))
            attach.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        """Draw the card's focus ring while the message box has the focus."""
        if watched is self.composer and event.type() in (QEvent.Type.FocusIn,
                                                         QEvent.Type.FocusOut):
            self.card.setProperty("focused", event.type() == QEvent.Type.FocusIn)
            self.card.style().unpolish(self.card)
            self.card.style().polish(self.card)
        return super().eventFilter(watched, event)

    def enable(self, *, send: bool, stop: bool) -> None:
        """Enable Send and Stop for what the window is doing."""
        self.send_button.setEnabled(send)
        self.stop_button.setEnabled(stop)


def confirm_outgoing(parent: QWidget, outgoing: str, route: str) -> bool:
    """Ask whether to send ``outgoing`` (already redacted) to ``route``; No is the default."""
    box = QMessageBox(parent)
    box.setWindowTitle("Send outside this machine?")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setText(f"Your organization asks you to confirm what is sent to {route}.\n"
                "Sensitive values were replaced by placeholders; this is exactly what "
                "will leave:")
    box.setDetailedText(outgoing)
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes
