"""The design, drawn once: tokens, the style sheets made from them, icons, following the OS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from app.ui import theme
from app.ui.chat_view import ChatView
from app.ui.composer import ComposerBar
from app.ui.design import (
    DARK,
    LIGHT,
    Palette,
    UnknownToken,
    assets_dir,
    generated_sheets,
    render_stylesheet,
)
from app.ui.theme import apply_theme, icon, icon_image, theme_events

ICONS = ("send", "stop", "new-chat", "attach", "copy", "regenerate", "edit", "thinking", "pin",
         "models", "search", "settings", "lock", "user", "assistant", "shield-check",
         "chevron-down", "check", "documents")


@pytest.fixture(autouse=True)
def _light_again() -> Iterator[None]:
    """Each test may switch the theme; the next test starts from the light one."""
    yield
    apply_theme("light", 0)


def test_the_style_sheets_are_generated_from_the_tokens() -> None:
    """Editing light.qss by hand (or the tokens without regenerating) fails here."""
    for name, text in generated_sheets().items():
        on_disk = (assets_dir() / "styles" / name).read_text("utf-8")
        assert on_disk == text, f"{name} is stale: run `python -m app.ui.design`"


def test_a_misspelt_token_is_an_error_not_a_broken_sheet() -> None:
    with pytest.raises(UnknownToken, match="@acent"):
        render_stylesheet("QPushButton { color: @acent; }", dark=False)
    assert render_stylesheet("QLabel { color: @text; }", dark=True) == (
        f"QLabel {{ color: {DARK.text}; }}")


def _luminance(colour: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    q = QColor(colour)
    r, g, b = (channel(v / 255) for v in (q.red(), q.green(), q.blue()))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: str, bg: str) -> float:
    """WCAG contrast ratio of two colours."""
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


# (text, background): every pair the window draws text with must read (WCAG AA, 4.5:1).
READ_PAIRS = [("text", "surface"), ("text", "card"), ("text", "user_card"), ("text", "input"),
              ("text", "sidebar"), ("muted", "card"), ("muted", "surface"),
              ("muted", "window"), ("on_accent", "accent"), ("on_route", "local"),
              ("on_route", "remote"), ("notice_text", "notice"), ("error_text", "error"),
              ("warning_text", "warning"), ("tooltip_text", "tooltip"), ("accent", "card"),
              ("selection_text", "selection"), ("text", "accent_soft")]


@pytest.mark.parametrize("colours", [LIGHT, DARK], ids=["light", "dark"])
@pytest.mark.parametrize(("fg", "bg"), READ_PAIRS)
def test_text_reads_on_every_background(colours: Palette, fg: str, bg: str) -> None:
    ratio = contrast(getattr(colours, fg), getattr(colours, bg))
    assert ratio >= 4.5, f"{fg} on {bg}: contrast {ratio:.2f} is below 4.5"


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_both_sheets_apply_to_the_real_widgets_without_a_qt_warning(
    qtbot: QtBot, dark: bool,
) -> None:
    """A sheet Qt cannot parse only warns (and the warning fails the test): nothing silent."""
    assert apply_theme("dark" if dark else "light", 0) is dark
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    assert app.styleSheet() and "@" not in app.styleSheet()
    bar = ComposerBar(QWidget())
    qtbot.addWidget(bar)
    bar.show()
    qtbot.waitExposed(bar)
    expected = (DARK if dark else LIGHT).accent
    assert bar.send_button.objectName() == "primary"
    colour = bar.send_button.grab().toImage().pixelColor(bar.send_button.width() // 2, 3)
    assert colour.name() == expected, "Send is not drawn in the accent colour"


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_every_icon_is_bundled_and_tinted_for_the_theme(dark: bool) -> None:
    text = QColor((DARK if dark else LIGHT).text)
    for name in ICONS:
        assert (assets_dir() / "icons" / f"{name}.svg").is_file(), name
        image = icon_image(name, text.name(), 16, 2.0)
        assert (image.width(), image.height()) == (32, 32)  # drawn for high-DPI
        inked = [image.pixelColor(x, y) for x in range(32) for y in range(32)
                 if image.pixelColor(x, y).alpha() == 255]
        assert inked, f"{name}.svg draws nothing"
        assert all(c.rgb() == text.rgb() for c in inked), f"{name} is not in the theme colour"
        assert not icon(name, dark).isNull()


def test_a_missing_icon_draws_nothing_rather_than_failing() -> None:
    image = icon_image("no-such-icon", "#000000", 16)
    assert all(image.pixelColor(x, y).alpha() == 0 for x in range(32) for y in range(32))


def test_the_system_theme_follows_the_os_when_it_switches(qtbot: QtBot) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    apply_theme("system", 0)
    view.add_user_message("Hello")
    hints = QGuiApplication.styleHints()
    # The OS switched: "system" applies the theme again, and the view draws itself again.
    with qtbot.waitSignal(theme_events().changed) as switched:
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert switched.args == [theme.is_dark("system")]
    # The user chose light: the OS switching changes nothing.
    apply_theme("light", 0)
    with qtbot.assertNotEmitted(theme_events().changed):
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)


def test_the_chat_view_redraws_its_cards_in_the_new_theme(qtbot: QtBot) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    view.add_user_message("Hello")
    view.end_answer("Hi there.", "m · LOCAL")

    def card_colour() -> str:
        cursor = view.document().find("Hi there.")
        table = cursor.currentTable()
        return table.format().background().color().name() if table is not None else ""

    assert card_colour() == LIGHT.card
    theme_events().changed.emit(True)
    assert view.dark and card_colour() == DARK.card
    assert "Hello" in view.toPlainText()


def test_the_bundled_assets_are_where_a_frozen_build_looks(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    """PyInstaller unpacks ``assets`` under ``sys._MEIPASS`` (build.spec ships the folder)."""
    import sys

    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert theme.icons_dir() == tmp_path / "assets" / "icons"
    assert theme.stylesheet(dark=False) == ""  # nothing there: no sheet, no crash


def test_styled_widgets_follow_the_application_font(qtbot: QtBot) -> None:
    """A style sheet freezes a widget's font at polish time; the theme polishes again."""
    apply_theme("dark", 0)
    bar = ComposerBar(QWidget())
    qtbot.addWidget(bar)
    bar.show()
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    before = QFont(app.font())
    bigger = QFont(before)
    bigger.setPointSizeF(before.pointSizeF() * 2)
    try:
        app.setFont(bigger)
        qtbot.waitUntil(lambda: bar.composer.fontInfo().pointSizeF()
                        >= before.pointSizeF() * 1.8, timeout=5000)
        assert bar.send_button.fontInfo().pointSizeF() >= before.pointSizeF() * 1.8
    finally:
        app.setFont(before)
