"""The message box, the row around it, and the question asked before a message leaves.

Enter sends, Shift+Enter starts a new line. Where the policy asks for it, a redacted message
bound for another machine is shown, exactly as it will leave, before it is sent.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class Composer(QPlainTextEdit):
    """A plain-text editor that submits on Enter."""

    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Ask anything — it stays on this machine. (Shift+Enter: new line)")
        self.setAccessibleName("Message")
        self.setTabChangesFocus(True)
        self.setMaximumHeight(140)

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
    """Under the conversation: the editing notice, the documents bar, the composer and buttons.

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
        layout.addWidget(docs_bar)
        self.composer = Composer(self)
        self.composer.submitted.connect(self.send_requested)
        self.send_button = self._button("Send", "Send (Enter)")
        self.send_button.clicked.connect(
            lambda: self.send_requested.emit(self.composer.toPlainText().strip()))
        self.stop_button = self._button("Stop", "Stop the answer (Esc)")
        self.stop_button.clicked.connect(self.stop_requested)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        row = QHBoxLayout()
        row.addWidget(self.composer, 1)
        row.addLayout(buttons)
        layout.addLayout(row)

    def _button(self, text: str, tip: str) -> QPushButton:
        button = QPushButton(text, self)
        button.setAccessibleName(text)
        button.setToolTip(tip)
        return button

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
