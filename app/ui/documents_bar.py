"""Beside the composer: the collections this conversation answers from, as removable chips.

The "Attach documents" menu ticks collections for the conversation on screen; each attached
one shows as a chip whose × (a button: Tab reaches it, Space presses it) detaches it from this
conversation only. What is attached is the Documents panel's state (``DocumentsPanel``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMenu, QToolButton, QWidget

from app.ui.documents_panel import DocumentsPanel
from app.ui.theme import LOCK_TOOLTIP


class CollectionChip(QFrame):
    """One attached collection: its name and a × that detaches it."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.setObjectName("collection-chip")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName(f"Collection {name}")
        self.setToolTip(f"This conversation answers from “{name}”")
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 0, 0, 0)
        row.setSpacing(2)
        label = QLabel(name, self)
        label.setAccessibleName(name)
        self.remove_button = QToolButton(self)
        self.remove_button.setText("×")
        self.remove_button.setAutoRaise(True)
        self.remove_button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.remove_button.setAccessibleName(f"Remove {name} from this conversation")
        self.remove_button.setToolTip(f"Stop answering from “{name}” in this conversation")
        row.addWidget(label)
        row.addWidget(self.remove_button)


class DocumentsBar(QWidget):
    """Beside the composer: the "Attach documents" menu and this conversation's collections."""

    def __init__(self, panel: DocumentsPanel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panel = panel
        self.setAccessibleName("Attached documents")
        self.chips: dict[str, CollectionChip] = {}  # by collection name, in attached order
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 0)
        self.attach_button = QToolButton(self)
        self.attach_button.setText("Attach documents")
        self.attach_button.setAccessibleName("Attach documents")
        self.attach_button.setToolTip("Answer from your document collections in this "
                                      "conversation")
        self.attach_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu = QMenu(self)
        self.menu.setAccessibleName("Document collections")
        self.menu.aboutToShow.connect(self._fill_menu)
        self.attach_button.setMenu(self.menu)
        self.label = QLabel("Answering from:", self)
        self.label.setAccessibleName("Answering from")
        self.local_note = QLabel("answers stay on this machine (LOCAL)", self)
        self.local_note.setAccessibleName("Documents route")
        self._row.addWidget(self.attach_button)
        self._row.addWidget(self.label)
        self._row.addWidget(self.local_note)
        self._row.addStretch(1)
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
        focused = any(chip.remove_button.hasFocus() for chip in self.chips.values())
        for chip in self.chips.values():
            self._row.removeWidget(chip)
            chip.deleteLater()
        self.chips = {}
        for i, name in enumerate(names):
            chip = CollectionChip(name, self)
            chip.remove_button.clicked.connect(
                lambda _=False, n=name: self.panel.set_attached(n, False))
            self._row.insertWidget(2 + i, chip)
            self.chips[name] = chip
        self.label.setVisible(bool(names))
        self.local_note.setVisible(bool(names) and local_only)
        self.setToolTip("" if names else "This conversation answers from no collection")
        if focused:  # the chip that had focus is gone: keep the keyboard user in the bar
            chips = list(self.chips.values())
            (chips[0].remove_button if chips else self.attach_button).setFocus()
