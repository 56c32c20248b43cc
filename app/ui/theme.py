"""Colours, fonts and icons: the theme the user picked, applied to the whole application.

The design itself (colours, spacing, type) lives in ``app.ui.design``; this module applies
it: the Qt palette, the generated style sheet, and the bundled icons tinted for the theme.
With the theme setting "system", the window follows the OS, also when the OS switches
between light and dark while Enclave runs (:func:`theme_events` says so to the widgets).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QDir, QObject, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QIcon,
    QIconEngine,
    QImage,
    QPainter,
    QPalette,
    QPixmap,
)
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from app.ui.design import Palette, assets_dir, palette, render_stylesheet

LOCK_TOOLTIP = "Managed by your organization"
LOCK_COLOUR = "#b7791f"  # amber in both themes: a setting the organization holds
# Drawn at these device pixel ratios, so icons are crisp on ordinary and high-DPI screens.
_RATIOS = (1.0, 2.0)


def styles_dir() -> Path:
    """``assets/styles`` in a source tree or a frozen bundle."""
    return assets_dir() / "styles"


def icons_dir() -> Path:
    """``assets/icons`` in a source tree or a frozen bundle."""
    return assets_dir() / "icons"


def is_dark(theme: str) -> bool:
    """Whether ``theme`` ("system", "light", "dark") draws light text on dark."""
    if theme == "dark":
        return True
    if theme == "light":
        return False
    hints = QGuiApplication.styleHints()
    return hints.colorScheme() == Qt.ColorScheme.Dark


def qt_palette(colours: Palette) -> QPalette:
    """The Qt palette for a design palette (what widgets the style sheet leaves alone use)."""
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: colours.window, QPalette.ColorRole.WindowText: colours.text,
        QPalette.ColorRole.Base: colours.input, QPalette.ColorRole.AlternateBase: colours.window,
        QPalette.ColorRole.ToolTipBase: colours.tooltip,
        QPalette.ColorRole.ToolTipText: colours.tooltip_text,
        QPalette.ColorRole.Text: colours.text, QPalette.ColorRole.Button: colours.input,
        QPalette.ColorRole.ButtonText: colours.text,
        QPalette.ColorRole.Highlight: colours.selection,
        QPalette.ColorRole.HighlightedText: colours.selection_text,
        QPalette.ColorRole.Link: colours.accent, QPalette.ColorRole.LinkVisited: colours.accent,
        QPalette.ColorRole.PlaceholderText: colours.muted,
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(colours.disabled))
    return p


def stylesheet(dark: bool) -> str:
    """The application's style sheet for the theme (the generated file, else the template)."""
    try:
        return (styles_dir() / ("dark.qss" if dark else "light.qss")).read_text("utf-8")
    except OSError:
        pass
    try:
        return render_stylesheet((styles_dir() / "template.qss").read_text("utf-8"), dark)
    except OSError:
        return ""  # no assets (an unusual install): Fusion and the palette still work


class ThemeEvents(QObject):
    """Says when the theme was applied again (the user's setting, or the OS switched)."""

    changed = Signal(bool)  # whether the theme now applied is dark


_events: ThemeEvents | None = None
_applied: tuple[str, int] | None = None  # the setting and font size last applied


def theme_events() -> ThemeEvents:
    """The one :class:`ThemeEvents` of this application (widgets connect to it)."""
    global _events
    if _events is None:
        _events = ThemeEvents()
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.fontChanged.connect(_font_changed)
        hints = QGuiApplication.styleHints()
        if hints is not None:
            hints.colorSchemeChanged.connect(_os_scheme_changed)
    return _events


def _font_changed(_font: object) -> None:
    # A widget a style sheet rule matches keeps the font it had when it was polished: polish
    # again, or text the user enlarged would grow everywhere but there.
    app = QApplication.instance()
    if isinstance(app, QApplication) and app.styleSheet():
        app.setStyleSheet(app.styleSheet())


def _os_scheme_changed(_scheme: Qt.ColorScheme) -> None:
    # Only "system" follows the OS; an explicit light or dark stays as the user chose.
    if _applied is not None and _applied[0] == "system":
        apply_theme(*_applied)


def apply_theme(theme: str, font_size: int) -> bool:
    """Apply the theme and font size to the running application; returns whether it is dark.

    Widgets that draw with the palette themselves (the chat view, tinted icons) hear about it
    through :func:`theme_events`.
    """
    global _applied
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return False
    _applied = (theme, font_size)
    QDir.setSearchPaths("icons", [str(icons_dir())])  # the style sheet's url(icons:...)
    dark = is_dark(theme)
    app.setStyle("Fusion")
    app.setPalette(qt_palette(palette(dark)))
    app.setStyleSheet(stylesheet(dark))
    font = app.font()
    if font_size > 0:
        font.setPointSize(font_size)
        app.setFont(font)
    theme_events().changed.emit(dark)
    return dark


def current_dark() -> bool:
    """Whether the theme last applied is dark (light before any was applied)."""
    return is_dark(_applied[0]) if _applied is not None else False


@lru_cache(maxsize=256)
def _svg(name: str) -> bytes:
    try:
        return (icons_dir() / f"{name}.svg").read_bytes()
    except OSError:
        return b""


def icon_image(name: str, colour: str, size: int, ratio: float = 2.0) -> QImage:
    """The bundled icon ``name`` drawn in ``colour``, ``size`` logical pixels square.

    A missing icon draws nothing (an empty, transparent image), never an error.
    """
    pixels = max(1, round(size * ratio))
    image = QImage(pixels, pixels, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    data = _svg(name).replace(b"currentColor", colour.encode("ascii"))
    renderer = QSvgRenderer(QByteArray(data))
    if data and renderer.isValid():
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, pixels, pixels))
        painter.end()
    image.setDevicePixelRatio(ratio)
    return image


class _TintedIcon(QIconEngine):
    """A bundled icon drawn in its colour at the size and pixel ratio asked, when first asked.

    Drawing every size, ratio and mode up front (16 SVG renders an icon) cost ≈30 ms of the
    window's start-up; a widget asks for one or two of them.
    """

    def __init__(self, name: str, colour: str, disabled: str) -> None:
        super().__init__()
        self._args = (name, colour, disabled)
        self._drawn: dict[tuple[int, float, bool], QPixmap] = {}

    def scaledPixmap(self, size: QSize, mode: QIcon.Mode, _state: QIcon.State,  # noqa: N802
                     scale: float) -> QPixmap:
        """The icon ``size`` logical pixels square (its smaller side) at pixel ratio ``scale``."""
        name, colour, disabled = self._args
        key = (max(1, min(size.width(), size.height())), scale, mode == QIcon.Mode.Disabled)
        if key not in self._drawn:
            tint = disabled if key[2] else colour
            self._drawn[key] = QPixmap.fromImage(icon_image(name, tint, key[0], scale))
        return self._drawn[key]

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        """The icon at pixel ratio 1."""
        return self.scaledPixmap(size, mode, state, 1.0)

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode,
              state: QIcon.State) -> None:
        """Draw the icon into ``rect`` at the painter's pixel ratio."""
        device = painter.device()
        ratio = device.devicePixelRatioF() if device is not None else 1.0
        painter.drawPixmap(rect, self.scaledPixmap(rect.size(), mode, state, ratio))

    def clone(self) -> QIconEngine:
        """A copy (Qt copies an icon's engine when the icon is changed)."""
        return _TintedIcon(*self._args)


@lru_cache(maxsize=256)
def _tinted(name: str, colour: str, disabled: str) -> QIcon:
    return QIcon(_TintedIcon(name, colour, disabled))


def icon(name: str, dark: bool | None = None, colour: str | None = None) -> QIcon:
    """A bundled monochrome icon (``assets/icons/<name>.svg``) tinted for the theme.

    Args:
        name: The icon's file name without ``.svg`` (``send``, ``models``, ``copy``...).
        dark: Tint for the dark theme (``None``: the theme applied last).
        colour: Draw in this colour instead of the theme's text colour.
    """
    colours = palette(current_dark() if dark is None else dark)
    return _tinted(name, colour or colours.text, colours.disabled)


def lock_icon(size: int = 16) -> QIcon:
    """A small padlock in amber: a setting the organization manages."""
    result = QIcon()
    for ratio in _RATIOS:
        result.addPixmap(QPixmap.fromImage(icon_image("lock", LOCK_COLOUR, size, ratio)))
    return result
