"""Colours, fonts and icons: the theme the user picked, applied to the whole application."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QApplication

LOCK_TOOLTIP = "Managed by your organization"


def styles_dir() -> Path:
    """``assets/styles`` in a source tree or a frozen bundle."""
    base = getattr(sys, "_MEIPASS", None)
    root = Path(base) if base else Path(__file__).resolve().parents[2]
    return root / "assets" / "styles"


def is_dark(theme: str) -> bool:
    """Whether ``theme`` ("system", "light", "dark") draws light text on dark."""
    if theme == "dark":
        return True
    if theme == "light":
        return False
    hints = QGuiApplication.styleHints()
    return hints.colorScheme() == Qt.ColorScheme.Dark


def _dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor("#1e1f22"), QColor("#2b2d30"), QColor("#e6e6e6")
    roles = {
        QPalette.ColorRole.Window: window, QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base, QPalette.ColorRole.AlternateBase: window,
        QPalette.ColorRole.ToolTipBase: window, QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Text: text, QPalette.ColorRole.Button: window,
        QPalette.ColorRole.ButtonText: text, QPalette.ColorRole.Highlight: QColor("#3d6fb4"),
        QPalette.ColorRole.HighlightedText: QColor("#ffffff"),
        QPalette.ColorRole.Link: QColor("#8ab4f8"), QPalette.ColorRole.PlaceholderText:
        QColor("#8a8a8a"),
    }
    for role, colour in roles.items():
        p.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    return p


def _light_palette() -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: QColor("#f3f3f3"), QPalette.ColorRole.WindowText:
        QColor("#1b1b1b"), QPalette.ColorRole.Base: QColor("#ffffff"),
        QPalette.ColorRole.AlternateBase: QColor("#f7f7f7"), QPalette.ColorRole.Text:
        QColor("#1b1b1b"), QPalette.ColorRole.Button: QColor("#f0f0f0"),
        QPalette.ColorRole.ButtonText: QColor("#1b1b1b"), QPalette.ColorRole.Highlight:
        QColor("#2f6fd0"), QPalette.ColorRole.HighlightedText: QColor("#ffffff"),
        QPalette.ColorRole.Link: QColor("#0b57d0"), QPalette.ColorRole.ToolTipBase:
        QColor("#ffffdc"), QPalette.ColorRole.ToolTipText: QColor("#1b1b1b"),
    }
    for role, colour in roles.items():
        p.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#9a9a9a"))
    return p


def apply_theme(theme: str, font_size: int) -> bool:
    """Apply the theme and font size to the running application; returns whether it is dark."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return False
    dark = is_dark(theme)
    app.setStyle("Fusion")
    app.setPalette(_dark_palette() if dark else _light_palette())
    try:
        sheet = (styles_dir() / ("dark.qss" if dark else "light.qss")).read_text("utf-8")
    except OSError:
        sheet = ""
    app.setStyleSheet(sheet)
    font = app.font()
    if font_size > 0:
        font.setPointSize(font_size)
        app.setFont(font)
    return dark


def lock_icon(size: int = 16) -> QIcon:
    """A small padlock, drawn (no icon theme is needed)."""
    pixmap = QPixmap(size * 2, size * 2)  # drawn at 2x: sharp on high-DPI screens
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = size * 2
    pen = QPen(QColor("#8d6e00"))
    pen.setWidthF(s * 0.1)
    painter.setPen(pen)
    painter.drawArc(QRectF(s * 0.3, s * 0.1, s * 0.4, s * 0.5), 0, 180 * 16)
    painter.drawLine(QPointF(s * 0.3, s * 0.35), QPointF(s * 0.3, s * 0.45))
    painter.drawLine(QPointF(s * 0.7, s * 0.35), QPointF(s * 0.7, s * 0.45))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#c99a00"))
    painter.drawRoundedRect(QRectF(s * 0.18, s * 0.45, s * 0.64, s * 0.48), s * 0.06, s * 0.06)
    painter.end()
    pixmap.setDevicePixelRatio(2.0)
    return QIcon(pixmap)
