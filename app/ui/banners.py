"""What every window shows: the classification banner and the route indicator.

Both only draw what the core decided: the banner's text and colours come from the managed
policy (``ui.classification_banner``), the routes from ``app.core.routing``.
"""

from __future__ import annotations

import getpass
import html
import re
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QDialog, QLabel, QLayout, QVBoxLayout, QWidget

from app.ui.design import palette

_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")


def banner_spec(policy: Any) -> dict[str, str] | None:
    """The policy's classification banner, or None (colours checked again: they go into CSS)."""
    try:
        spec = policy.get("ui.classification_banner")
    except Exception:  # noqa: BLE001 - an older policy without the key: no banner
        return None
    if not isinstance(spec, dict) or not spec.get("text"):
        return None
    fg = str(spec.get("foreground") or "#FFFFFF")
    bg = str(spec.get("background") or "#007A33")
    return {
        "text": str(spec["text"]),
        "foreground": fg if _COLOUR.match(fg) else "#FFFFFF",
        "background": bg if _COLOUR.match(bg) else "#007A33",
    }


class ClassificationBanner(QLabel):
    """A full-width strip in the administrator's colours."""

    def __init__(self, spec: dict[str, str], where: str, parent: QWidget | None = None) -> None:
        super().__init__(spec["text"], parent)
        self.setObjectName(f"classification-banner-{where}")
        self.setAccessibleName(f"Classification: {spec['text']}")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setStyleSheet(
            f"QLabel {{ background-color: {spec['background']}; color: {spec['foreground']};"
            " font-weight: bold; padding: 2px; }"
        )


def wrap_with_banners(policy: Any, content: QLayout | QWidget, owner: QWidget) -> QVBoxLayout:
    """A layout with ``content`` between the top and bottom banners (when policy sets one)."""
    outer = QVBoxLayout()
    spec = banner_spec(policy)
    if spec is not None:
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(ClassificationBanner(spec, "top", owner))
    inner = QVBoxLayout()
    if spec is not None:
        inner.setContentsMargins(9, 9, 9, 9)
    if isinstance(content, QWidget):
        inner.addWidget(content)
    else:
        inner.addLayout(content)
    outer.addLayout(inner, 1)
    if spec is not None:
        outer.addWidget(ClassificationBanner(spec, "bottom", owner))
    return outer


def close_with_keys(window: QWidget, close: Callable[[], object]) -> None:
    """Esc and Ctrl+W close a secondary window, as its Close button does."""
    for keys in ("Escape", "Ctrl+W"):
        shortcut = QShortcut(QKeySequence(keys), window, close)
        shortcut.setContext(Qt.ShortcutContext.WindowShortcut)


class BannerDialog(QDialog):
    """A dialog with the classification banner at its top and bottom; Esc or Ctrl+W close it."""

    def __init__(self, policy: Any, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setAccessibleName(title)
        self.body = QVBoxLayout()
        self.setLayout(wrap_with_banners(policy, self.body, self))
        close_with_keys(self, self.reject)


def available_routes(policy: Any) -> list[Any]:
    """Routes this user may pick; LOCAL only until the connector exists."""
    try:
        from app.core.policy import current_os_user
        from app.core.routing import available_routes as routes
    except ImportError:
        return []
    try:
        user, groups = current_os_user()
    except Exception:  # noqa: BLE001
        user, groups = getpass.getuser(), []
    try:
        return list(routes(policy, user, groups))
    except Exception:  # noqa: BLE001 - a routing error must not stop the window: local only
        return []


def route_text(route: str, classification: str) -> tuple[str, str, str]:
    """Label, tooltip and colour for the route indicator (the design's route colours)."""
    colours = palette(dark=False)
    if route in ("", "local"):
        return ("LOCAL · this machine", "Your words are processed on this computer only.",
                colours.local)
    where = "inside your organization" if classification == "internal" else (
        "OUTSIDE your organization")
    colour = colours.remote
    return (f"{route.upper()} · {classification}",
            f"Your words are sent to {html.escape(route)}, {where}.", colour)
