"""The welcome page: what an empty conversation shows instead of a blank view.

It draws the core's ``WelcomeFacts``: a greeting, prompts to start from (each a button: a
click or Enter/Space puts its text in the composer), where words go under the policy in
force, where that policy comes from, and restricted mode when it applies.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.core.welcome import WelcomeFacts


class WelcomePage(QWidget):
    """Greeting, starter prompts and the facts about where words go.

    Args:
        facts: What to say (``app.core.welcome.welcome_facts_for``).
        parent: The widget it covers.
    """

    prompt_chosen = Signal(str)  # a starter's text, for the composer

    def __init__(self, facts: WelcomeFacts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.facts = facts
        self.setObjectName("welcome")
        self.setAccessibleName("Welcome")
        self.setAutoFillBackground(True)  # it covers the empty conversation view
        outer = QHBoxLayout(self)
        outer.setContentsMargins(32, 24, 32, 24)
        self._column = column = QWidget(self)
        column.setMaximumWidth(720)  # a readable line, however wide the window
        outer.addStretch(1)
        outer.addWidget(column, 100)
        outer.addStretch(1)
        layout = QVBoxLayout(column)
        layout.setSpacing(12)
        layout.addStretch(1)
        self.greeting = self._label(f"<h2>{html.escape(facts.greeting)}</h2>", "Greeting")
        self.greeting.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.greeting)
        grid = QGridLayout()
        self.starters: list[QPushButton] = []
        for i, starter in enumerate(facts.starters):
            button = QPushButton(starter.title, column)
            button.setObjectName("starter")
            button.setAccessibleName(starter.title)
            button.setAccessibleDescription(f"Puts this in the message box: {starter.prompt}")
            button.setToolTip(starter.prompt.strip())
            button.setMinimumHeight(48)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            button.clicked.connect(lambda _=False, p=starter.prompt: self.prompt_chosen.emit(p))
            grid.addWidget(button, i // 2, i % 2)
            self.starters.append(button)
        layout.addLayout(grid)
        layout.addSpacing(8)
        self.where = self._label(facts.where, "Where your words go")
        self.where.setObjectName("welcome-where")
        layout.addWidget(self.where)
        self.policy = self._label(f"{facts.policy} {facts.saved}", "Policy")
        layout.addWidget(self.policy)
        self.restricted = self._label(facts.restricted, "Restricted mode")
        self.restricted.setVisible(bool(facts.restricted))
        layout.addWidget(self.restricted)
        layout.addStretch(2)

    def _label(self, text: str, name: str) -> QLabel:
        label = QLabel(self._column)
        label.setTextFormat(Qt.TextFormat.RichText if text.startswith("<h") else
                            Qt.TextFormat.PlainText)  # policy paths are shown, not parsed
        label.setText(text)
        label.setWordWrap(True)
        label.setAccessibleName(name)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label


class WelcomeOverlay(QObject):
    """The welcome page laid over the conversation view while the conversation is empty.

    It covers the view rather than replacing it in the window's stack: the view stays the
    page on screen (its messages arrive, tests and the turn controller find it there), and
    the welcome simply goes once there is something to read.

    Args:
        view: The conversation view it covers.
        facts: What the page says.
    """

    def __init__(self, view: QWidget, facts: WelcomeFacts) -> None:
        super().__init__(view)
        self.view = view
        self.page = WelcomePage(facts, view)
        self.page.hide()
        view.installEventFilter(self)

    def show(self, wanted: bool) -> None:
        """Show the page (over the whole view) or hide it."""
        if wanted:
            self.page.setGeometry(self.view.rect())
            self.page.raise_()
        self.page.setVisible(wanted)

    @property
    def shown(self) -> bool:
        """Whether the page is up (it shows once the window is)."""
        return not self.page.isHidden()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        """Follow the view's size."""
        if watched is self.view and event.type() == QEvent.Type.Resize:
            self.page.setGeometry(self.view.rect())
        return super().eventFilter(watched, event)
