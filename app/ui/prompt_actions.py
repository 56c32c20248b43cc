"""The Prompt library and the conversation's system prompt, as menu actions of the window.

Kept apart from ``WindowMenus`` so that the menus stay one screen of wiring: this opens the
library (one window, raised again if open) and the system-prompt dialog, and hands a chosen
prompt to the window's composer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from app.core.context import AppContext
    from app.ui.background import BackgroundLane
    from app.ui.prompt_library import PromptLibraryWindow


class PromptActions:
    """Opens the Prompt library and the System prompt dialog for the conversation on screen.

    Args:
        window: The main window (parent of what opens).
        app: The application context (history store, policy).
        conversation: The conversation on screen, asked each time (``None``: not saved yet).
        insert: Puts a prompt's text into the composer.
        notice: Tells the user something in the window's notice area.
    """

    def __init__(self, window: QWidget, app: AppContext,
                 conversation: Callable[[], int | None], insert: Callable[[str], None],
                 notice: Callable[[str], None]) -> None:
        self.window = window
        self.app = app
        self.conversation = conversation
        self.insert = insert
        self.notice = notice
        self.library: PromptLibraryWindow | None = None  # the Prompt library, once opened

    def open_library(self) -> None:
        """The Prompt library: the organization's prompts (locked), then the user's own."""
        from app.ui.prompt_library import PromptLibraryWindow

        if self.library is not None and self.library.isVisible():
            self.library.activateWindow()
            return
        if self.library is not None:
            self.library.deleteLater()  # closed: its lane has stopped
        if self.app.history is None:
            self.notice("The prompt library needs the saved history; this session is unsaved.")
            return
        window = self.library = PromptLibraryWindow(
            self.app.history, self.app.policy, self.conversation, self.window)
        window.setWindowFlag(Qt.WindowType.Window)
        window.setWindowTitle("Enclave — Prompt library")
        window.resize(820, 520)
        window.insert_requested.connect(self.insert)
        window.show()

    def open_system_prompt(self) -> None:
        """The open conversation's system prompt (the site's shown above it, locked)."""
        from app.ui.prompt_library import SystemPromptDialog

        cid = self.conversation()
        if cid is None or self.app.history is None:
            self.notice("Send a first message: a conversation's system prompt can be set "
                        "once it is saved.")
            return
        dialog = SystemPromptDialog(self.app.history, self.app.policy, cid, self.window)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def shutdown(self) -> None:
        """Window closing: wait for the library's store work."""
        if self.library is not None:
            self.library.shutdown()

    def lanes(self) -> list[BackgroundLane]:
        """The library's lane, once it was opened."""
        return [self.library.lane] if self.library is not None else []
