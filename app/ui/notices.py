"""What the window says above the conversation: restricted mode, notices and errors."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.core.errors import EnclaveError


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
        self.notice.setVisible(bool(others))
        layout.addWidget(self.notice)
        self.banner = self._label("", "error-banner", "Error")
        self.banner.hide()
        layout.addWidget(self.banner)

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

    def show_failure(self, error: EnclaveError) -> None:
        """Show a failed job's error (what happened, what to do next)."""
        self.show_error(error.message, error.hint)

    def clear_error(self) -> None:
        """Hide the error banner (a new turn, a loaded model)."""
        self.banner.hide()

    def show_notice(self, text: str) -> None:
        """A short, non-alarming message (copied, exported)."""
        self.notice.setText(text)
        self.notice.show()
