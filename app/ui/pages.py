"""Pages shown instead of the chat: no model yet, and a history that will not open."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.ui.banners import wrap_with_banners
from app.ui.notices import for_analyst


class NoModelPage(QWidget):
    """First run: no model is installed. Says what to do; offers to pick a file."""

    choose_file = Signal()
    check_again = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("No model installed")
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        title = QLabel("<h2>No model is installed yet</h2>", self)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(title)
        self.details = QLabel(
            "Enclave answers with a language model that runs on this computer.<br><br>"
            "<b>Ask your IT team to install an approved model</b> on this computer; "
            "then press “Check again”.<br><br>"
            "Or use a model file (GGUF) you already have, for this session:", self)
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.details)
        row = QHBoxLayout()
        row.addStretch(1)
        self.choose_button = QPushButton("Use a model file…", self)
        self.choose_button.setAccessibleName("Use a model file")
        self.choose_button.clicked.connect(self.choose_file.emit)
        self.again_button = QPushButton("Check again", self)
        self.again_button.setAccessibleName("Check again for installed models")
        self.again_button.clicked.connect(self.check_again.emit)
        row.addWidget(self.choose_button)
        row.addWidget(self.again_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(2)


class StoreErrorWindow(QWidget):
    """The history will not open. Shows why; never offers to overwrite it."""

    continue_unsaved = Signal()
    quit_requested = Signal()

    def __init__(self, policy: Any, message: str, hint: str, path: str = "") -> None:
        super().__init__()
        self.setWindowTitle("Enclave — history unavailable")
        self.setAccessibleName("History unavailable")
        self.resize(640, 360)
        body = QVBoxLayout()
        title = QLabel("<h2>Your conversation history cannot be opened</h2>", self)
        title.setWordWrap(True)
        body.addWidget(title)
        self.message = QLabel(
            f"<p><b>{html.escape(message)}</b></p><p>{html.escape(for_analyst(hint))}</p>"
            + (f"<p style='color:gray'>File: {html.escape(path)}</p>" if path else "")
            + "<p>The file has been left exactly as it was.</p>", self)
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Error")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        body.addWidget(self.message)
        body.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        self.continue_button = QPushButton("Continue without saving", self)
        self.continue_button.setAccessibleName("Continue without saving")
        self.continue_button.setToolTip(
            "Chat now; nothing from this session is written to the history.")
        self.continue_button.clicked.connect(self.continue_unsaved.emit)
        self.quit_button = QPushButton("Quit", self)
        self.quit_button.setAccessibleName("Quit")
        self.quit_button.clicked.connect(self.quit_requested.emit)
        row.addWidget(self.continue_button)
        row.addWidget(self.quit_button)
        body.addLayout(row)
        self.setLayout(wrap_with_banners(policy, body, self))
