"""The Local API switch: start and stop the OpenAI-compatible API, and manage its tokens.

``app.core.api`` decides everything (whether policy allows it, where it listens, who may call
it); this module draws it. Starting and stopping block (binding, loading, joining threads), so
both run on the switch's own ``BackgroundLane``; the window stops the server when it closes,
before the app context closes underneath it.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.api import ApiRefused, check_enabled, create_token, describe, revoke_token
from app.core.errors import EnclaveError
from app.ui.background import BackgroundLane

if TYPE_CHECKING:
    from app.core.api import ApiServer
    from app.core.context import AppContext


def refusal(app: AppContext) -> ApiRefused | None:
    """Why policy keeps the API off, or ``None`` when it may run."""
    try:
        check_enabled(app.policy)
    except ApiRefused as exc:
        return exc
    return None


class ApiSwitch:
    """The checkable "Local API" action, the "API tokens…" action and the server behind them.

    Args:
        app: The application context the server answers from.
        window: The window that owns the lane and the dialogs.
        menu: The menu the actions go into.
        notify: Shows a short message (the address once it listens, or that it stopped).
        fail: Shows a typed error (what happened, what to do next).
    """

    def __init__(self, app: AppContext, window: QWidget, menu: QMenu,
                 notify: Any, fail: Any) -> None:
        self.app = app
        self.window = window
        self.notify = notify
        self.fail = fail
        self.lane = BackgroundLane("enclave-api", window)
        # Set on the lane's thread as soon as the server exists, so that a window closing
        # mid-start still finds (and stops) it even though the result is never delivered.
        self._lock = threading.Lock()
        self._server: ApiServer | None = None
        self.address = ""
        self.port: int | None = None  # None: the private Unix socket (Windows: a TCP port)
        self.action = QAction("Local API", window)
        self.action.setCheckable(True)
        self.action.toggled.connect(self._toggled)
        self.tokens_action = QAction("Local API tokens…", window)
        self.tokens_action.triggered.connect(self.open_tokens)
        menu.addAction(self.action)
        menu.addAction(self.tokens_action)
        menu.setToolTipsVisible(True)
        why = refusal(app)
        for act in (self.action, self.tokens_action):
            act.setEnabled(why is None)
            act.setToolTip("" if why is None else f"{why.message} {why.hint}".strip())

    @property
    def running(self) -> bool:
        """Whether a server is listening (or starting)."""
        with self._lock:
            return self._server is not None

    def _toggled(self, on: bool) -> None:
        if on and not self.running:
            self.action.setEnabled(False)  # until the start finishes
            self.lane.run(self._start, on_done=self._started, on_error=self._start_failed,
                          what="Starting the local API")
        elif not on and self.running:
            self.action.setEnabled(False)
            self.lane.run(self._stop, on_done=self._stopped, on_error=self._stop_failed,
                          what="Stopping the local API")

    def _start(self) -> str:
        from app.core.api import ApiServer, plan_binding

        binding = plan_binding(self.app.policy, port=self.port, socket_path=None, host=None)
        server = ApiServer(self.app, binding)
        with self._lock:
            self._server = server
        try:
            return server.start()
        except BaseException:
            self._stop()
            raise

    def _stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.stop()

    def _started(self, address: str) -> None:
        self.address = address
        self.action.setEnabled(True)
        self.action.setToolTip(f"Listening on {address}")
        self.notify(f"Local API on {address}.")

    def _start_failed(self, error: EnclaveError) -> None:
        self.action.setEnabled(True)
        self.action.blockSignals(True)
        self.action.setChecked(False)
        self.action.blockSignals(False)
        self.fail(error)

    def _stopped(self, _: None) -> None:
        self.address = ""
        self.action.setEnabled(True)
        self.action.setToolTip("Off")
        self.notify("Local API stopped.")

    def _stop_failed(self, error: EnclaveError) -> None:
        self.action.setEnabled(True)
        self.fail(error)

    def shutdown(self) -> None:
        """Window closing: wait for a start or stop under way, then stop what still serves.

        This blocks the closing window for the server's stop, as the other lanes' shutdowns
        block for their last job: the context closes right after, and a server still
        answering from a closed history would fail every request.
        """
        self.lane.shutdown()
        self._stop()

    def open_tokens(self) -> None:
        """The token dialog: list, create (the secret is shown once), revoke."""
        TokensDialog(self, self.window).exec()


class TokensDialog(QDialog):
    """The API's status and tokens. Reads and writes run on the switch's lane."""

    def __init__(self, switch: ApiSwitch, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.switch = switch
        self.setWindowTitle("Local API tokens")
        self.setAccessibleName("Local API tokens")
        layout = QVBoxLayout(self)
        self.status = QLabel(
            f"Listening on {switch.address}" if switch.address else "The local API is off.",
            self)
        self.status.setAccessibleName("Local API status")
        layout.addWidget(self.status)
        self.tokens = QListWidget(self)
        self.tokens.setAccessibleName("Tokens")
        layout.addWidget(self.tokens)
        self.revoke_button = QPushButton("Revoke", self)
        self.revoke_button.setAccessibleName("Revoke token")
        self.revoke_button.clicked.connect(self.revoke_selected)
        layout.addWidget(self.revoke_button)
        layout.addLayout(self._create_row())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.button(QDialogButtonBox.StandardButton.Close).setAccessibleName("Close")
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.refresh()

    def _create_row(self) -> QFormLayout:
        form = QFormLayout()
        self.name_edit = QLineEdit(self)
        self.name_edit.setAccessibleName("New token name")
        self.name_edit.setPlaceholderText("e.g. editor-plugin")
        self.create_button = QPushButton("Create token", self)
        self.create_button.setAccessibleName("Create token")
        self.create_button.clicked.connect(lambda: self.create_named(self.name_edit.text().strip()))
        row = QHBoxLayout()
        row.addWidget(self.name_edit, 1)
        row.addWidget(self.create_button)
        form.addRow("New token (chat, local, 30 days):", row)
        self.secret = QLineEdit(self)
        self.secret.setReadOnly(True)
        self.secret.setAccessibleName("New token secret")
        self.secret.setPlaceholderText("Shown once, right after you create a token")
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.setAccessibleName("Copy token secret")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(
            lambda: QApplication.clipboard().setText(self.secret.text()))
        secret_row = QHBoxLayout()
        secret_row.addWidget(self.secret, 1)
        secret_row.addWidget(self.copy_button)
        form.addRow("Secret:", secret_row)
        return form

    def _history(self) -> Any:
        history = self.switch.app.history
        if history is None:
            raise EnclaveError("Tokens live in the encrypted history, which is off.",
                               "Start Enclave with history saved to manage tokens.")
        return history

    def refresh(self) -> None:
        """List the tokens again (off the GUI thread)."""
        self.switch.lane.run(lambda: [describe(r, time.time())
                                      for r in self._history().api_tokens()],
                             on_done=self._show_tokens, on_error=self._failed,
                             what="Listing API tokens")

    def _show_tokens(self, tokens: list[dict[str, Any]]) -> None:
        self.tokens.clear()
        for t in tokens:
            item = QListWidgetItem(
                f"{t['name']} — {t['state']} · {', '.join(t['scopes'])} · {t['route']}"
                + (f" · expires {t['expires']}" if t["expires"] else ""))
            item.setData(Qt.ItemDataRole.UserRole, t["name"])
            self.tokens.addItem(item)

    def create_named(self, name: str) -> None:
        """Make a chat token for the local route; its secret is shown once."""
        app = self.switch.app

        def work() -> Any:
            return create_token(self._history(), app.policy, name, scopes="chat",
                                route="local", expires="30d", user=app.chat.user,
                                groups=app.chat.groups, audit=app.audit)

        self.switch.lane.run(work, on_done=self._created, on_error=self._failed,
                             what="Creating an API token")

    def _created(self, new: Any) -> None:
        self.secret.setText(new.secret)
        self.copy_button.setEnabled(True)
        self.status.setText(f"Token {new.record.name} created. Copy its secret now: it is "
                            "not shown again.")
        self.refresh()

    def revoke_selected(self) -> None:
        """Revoke the selected token; clients using it are refused from the next request."""
        item = self.tokens.currentItem()
        if item is None:
            return
        name = str(item.data(Qt.ItemDataRole.UserRole))
        app = self.switch.app
        self.switch.lane.run(lambda: revoke_token(self._history(), name, audit=app.audit),
                             on_done=lambda _: self.refresh(), on_error=self._failed,
                             what="Revoking an API token")

    def _failed(self, error: EnclaveError) -> None:
        self.status.setText(f"{error.message} {error.hint}".strip())
