"""The history search box: Esc clears it (before the window's Esc), Down leaves it."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QLineEdit


class SearchBox(QLineEdit):
    """The history search: Esc clears it (before the window's Esc sees it), Down leaves it."""

    down = Signal()

    def event(self, event: QEvent) -> bool:
        """Claim Esc (while there is a search) and Down before the window's shortcuts."""
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            key = event.key()
            if key == Qt.Key.Key_Down or (key == Qt.Key.Key_Escape and self.text()):
                event.accept()
                return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        """Esc clears the search; Down moves into the list below."""
        if event.key() == Qt.Key.Key_Escape and self.text():
            self.clear()
        elif event.key() == Qt.Key.Key_Down:
            self.down.emit()
        else:
            super().keyPressEvent(event)
