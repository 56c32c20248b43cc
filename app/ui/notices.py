"""What the window says above the conversation: restricted mode, notices and errors.

A notice (copied, exported) goes away by itself; an error stays until what caused it is fixed
(the window clears it) or the user dismisses it. The window speaks to analysts: a hint that
asks them to install a model, or names a developer's command, becomes what they can do.
"""

from __future__ import annotations

import re
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from app.core.errors import EnclaveError
from app.core.models.errors import ModelNotFound

NOTICE_MS = 7000  # long enough to read a path, short enough not to linger
ASK_IT_FOR_MODEL = ("Ask your IT team to install an approved model, or choose a model file "
                    "you already have (“Use a model file…”).")
ASK_IT_FOR_DOCUMENTS = "Ask your IT team to install the model Enclave uses to read documents."
ASK_IT = "Ask your IT team for help; the details are in Enclave's log."
RE_ADD_COLLECTION = ("Add the files again in the Documents window, or remove the collection "
                     "from this conversation with the × on its chip under the message box.")
_DEVELOPER = re.compile(r"`make|\bmake (run|test|package)\b|\.venv|\bpip install")


def analyst_hint(error: EnclaveError) -> str:
    """The hint for ``error`` as the window shows it: never a developer's command."""
    if isinstance(error, ModelNotFound):
        return ASK_IT_FOR_MODEL
    # Loaded only when documents were used (it pulls in numpy); an error from it means it is.
    docs_errors = sys.modules.get("app.core.docs.errors")
    if docs_errors is not None and isinstance(error, docs_errors.EmbeddingModelMissing):
        return ASK_IT_FOR_DOCUMENTS
    if docs_errors is not None and isinstance(error, docs_errors.CollectionNotFound):
        return RE_ADD_COLLECTION  # the core's hint names terminal commands
    return for_analyst(error.hint or "")


def for_analyst(hint: str) -> str:
    """``hint``, unless it names a developer's command (then: ask IT)."""
    return ASK_IT if _DEVELOPER.search(hint) else hint


class NoticeArea(QWidget):
    """Restricted mode (when the policy failed closed), a short notice, and an error banner.

    Args:
        policy: The effective policy (restricted mode and its reasons).
        warnings: What opening the app found worth saying (shown as the first notice).
        parent: The owning widget.
    """

    def __init__(self, policy: object, warnings: list[str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.restricted_label: QLabel | None = None
        if getattr(policy, "restricted", False):
            reasons = "; ".join(getattr(policy, "restricted_reasons", []))
            self.restricted_label = self._label(
                f"Restricted mode — local only, export off. Reason: {reasons}",
                "restricted", "Restricted mode")
            layout.addWidget(self.restricted_label)
        self.notice = self._label("", "notice", "Notice")
        others = [w for w in warnings if not w.startswith("Restricted mode:")]
        self.notice.setText("\n".join(others))
        self.notice.setVisible(bool(others))  # start-up warnings stay until replaced
        layout.addWidget(self.notice)
        self.notice_timer = QTimer(self)
        self.notice_timer.setSingleShot(True)
        self.notice_timer.setInterval(NOTICE_MS)
        self.notice_timer.timeout.connect(self.notice.hide)
        self.error_row = QWidget(self)
        row = QHBoxLayout(self.error_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.banner = self._label("", "error-banner", "Error")
        self.dismiss_button = QToolButton(self.error_row)
        self.dismiss_button.setText("×")
        self.dismiss_button.setAccessibleName("Dismiss error")
        self.dismiss_button.setToolTip("Dismiss this message")
        self.dismiss_button.clicked.connect(self.clear_error)
        row.addWidget(self.banner, 1)
        row.addWidget(self.dismiss_button)
        self.error_row.hide()
        layout.addWidget(self.error_row)

    def _label(self, text: str, object_name: str, accessible: str) -> QLabel:
        label = QLabel(text, self)
        label.setObjectName(object_name)
        label.setAccessibleName(accessible)
        label.setWordWrap(True)
        return label

    def show_error(self, message: str, hint: str = "") -> None:
        """Show an error in words a user understands, with what to do next."""
        self.banner.setText(f"<b>{message}</b>" + (f"<br>{hint}" if hint else ""))
        self.banner.show()
        self.error_row.show()

    def show_failure(self, error: EnclaveError) -> None:
        """Show a failed job's error (what happened, what an analyst can do next)."""
        self.show_error(error.message, analyst_hint(error))

    def clear_error(self) -> None:
        """Hide the error banner (fixed: a new turn, a loaded model; or dismissed)."""
        self.error_row.hide()

    def show_notice(self, text: str) -> None:
        """A short, non-alarming message (copied, exported); it hides itself after a while."""
        self.notice.setText(text)
        self.notice.show()
        self.notice_timer.start()
