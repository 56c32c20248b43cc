"""Start the GUI: open the app's services (asking for a passphrase if need be), then the window.

A history that will not open (wrong key, damaged, newer version…) gets a page that says why
and offers only "Continue without saving" and "Quit": never anything that could overwrite it.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def display_available() -> bool:
    """Whether a window can be shown (an X11/Wayland display, or an explicit Qt platform)."""
    if sys.platform != "linux":
        return True
    return bool(
        os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("QT_QPA_PLATFORM")
    )


def ask_passphrase_dialog(policy: Any = None) -> Any:
    """An ``ask_passphrase`` callback for ``open_app`` that shows the passphrase dialog."""
    from app.core.store import PassphraseRequired
    from app.ui.dialogs import PassphraseDialog

    def ask(first_run: bool) -> str:
        dialog = PassphraseDialog(policy, first_run)
        if not dialog.exec():
            raise PassphraseRequired(
                "No passphrase was given, so the history stays locked.",
                "Start Enclave again and enter the passphrase, or continue without saving.")
        return dialog.passphrase()

    return ask


def open_context(paths: Any = None, *, passphrase: str | None = None) -> Any:
    """Open the app's services for the window; on a history error, ask what to do.

    Returns:
        The ``AppContext``, or None when the user chose to quit.
    """
    from app.core.context import open_app
    from app.core.errors import EnclaveError
    from app.core.policy import load_policy

    try:
        return open_app(paths, passphrase=passphrase, prestart_engine=True,
                        ask_passphrase=ask_passphrase_dialog(_policy_or_none(paths)))
    except EnclaveError as exc:
        policy = _policy_or_none(paths) or load_policy(None)
        if not choose_continue_unsaved(policy, exc):
            return None
    return open_app(paths, save=False)


def _policy_or_none(paths: Any) -> Any:
    from app.core.paths import default_paths
    from app.core.policy import load_policy

    try:
        return load_policy((paths or default_paths()).policy_root)
    except Exception:  # noqa: BLE001 - only for the banner's colours
        return None


def choose_continue_unsaved(policy: Any, exc: Any) -> bool:
    """Show the history error page; True when the user picks "Continue without saving"."""
    from PySide6.QtCore import QEventLoop

    from app.ui.pages import StoreErrorWindow

    page = StoreErrorWindow(policy, exc.message, exc.hint)
    loop = QEventLoop()
    choice = {"continue": False}

    def pick(value: bool) -> None:
        choice["continue"] = value
        loop.quit()

    page.continue_unsaved.connect(lambda: pick(True))
    page.quit_requested.connect(lambda: pick(False))
    page.show()
    loop.exec()
    page.close()
    page.deleteLater()
    return choice["continue"]


def run_gui() -> int:
    """Open the main window; returns the process exit code."""
    if not display_available():
        print(
            "Enclave: there is no display here, so the window cannot open.\n"
            "  → Use the terminal instead: `enclave chat` (or `.venv/bin/enclave chat`).",
            file=sys.stderr,
        )
        return 2
    from PySide6.QtWidgets import QApplication

    existing = QApplication.instance()
    qapp = existing if isinstance(existing, QApplication) else QApplication(sys.argv)
    qapp.setApplicationName("Enclave")
    qapp.setApplicationDisplayName("Enclave")
    context = open_context()
    if context is None:
        return 1
    from app.ui.main_window import MainWindow

    window = MainWindow(context)  # the model loads in the background
    window.show()
    if os.environ.get("ENCLAVE_GUI_EXIT_AFTER_SHOWN") == "1":
        # Packaging smoke test: prove the (frozen) GUI reaches its first window, then quit.
        from PySide6.QtCore import QTimer

        QTimer.singleShot(0, qapp.quit)
    try:
        return int(qapp.exec())
    finally:
        context.close()
