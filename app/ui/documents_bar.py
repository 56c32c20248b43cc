"""Beside the composer: the "Attach documents" menu and the collections an answer draws on."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QToolButton, QWidget

from app.ui.documents_panel import DocumentsPanel
from app.ui.theme import LOCK_TOOLTIP


class DocumentsBar(QWidget):
    """Beside the composer: the "Attach documents" menu and what the answer draws on."""

    def __init__(self, panel: DocumentsPanel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panel = panel
        self.setAccessibleName("Attached documents")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.attach_button = QToolButton(self)
        self.attach_button.setText("Attach documents")
        self.attach_button.setAccessibleName("Attach documents")
        self.attach_button.setToolTip("Answer from your document collections")
        self.attach_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu = QMenu(self)
        self.menu.setAccessibleName("Document collections")
        self.menu.aboutToShow.connect(self._fill_menu)
        self.attach_button.setMenu(self.menu)
        self.label = QLabel("", self)
        self.label.setAccessibleName("Answering from")
        self.label.setWordWrap(True)
        layout.addWidget(self.attach_button)
        layout.addWidget(self.label, 1)
        panel.attachments_changed.connect(self._show_attached)
        panel.listing_changed.connect(self._fill_menu)
        if not panel.allowed:
            self.attach_button.setEnabled(False)
            self.attach_button.setToolTip(LOCK_TOOLTIP)
        self._show_attached([], False)

    def bind_action(self, action: QAction) -> None:
        """The window's "Documents…" action: disabled (with the reason) when policy says so."""
        action.setEnabled(self.panel.allowed)
        action.setToolTip("Manage your document collections" if self.panel.allowed
                          else LOCK_TOOLTIP)
        menu = action.parent()
        if isinstance(menu, QMenu):
            menu.setToolTipsVisible(True)

    def _fill_menu(self) -> None:
        self.menu.clear()
        if self.panel.listing is None:
            waiting = self.menu.addAction("Loading collections…")
            waiting.setEnabled(False)
            self.panel.refresh()
        elif not self.panel.listing:
            self.menu.addAction("No collections yet").setEnabled(False)
        for collection, _ in self.panel.listing or []:
            mark = " (this machine only)" if collection.local_only else ""
            act = self.menu.addAction(f"{collection.name}{mark}")
            act.setCheckable(True)
            act.setChecked(collection.name in self.panel.attached)
            act.toggled.connect(lambda on, n=collection.name: self.panel.set_attached(n, on))
        self.menu.addSeparator()
        self.menu.addAction("Manage documents…").triggered.connect(self.panel.open)

    def _show_attached(self, names: list[str], local_only: bool) -> None:
        if not names:
            self.label.setText("")
            self.label.hide()
            return
        text = "Answering from: " + ", ".join(names)
        if local_only:
            text += " — answers stay on this machine (LOCAL)"
        self.label.setText(text)
        self.label.show()
