"""Design tokens: the colours, spacing, radii and type sizes every part of the window uses.

Drawn once, here. The style sheets (``assets/styles/light.qss`` and ``dark.qss``) are
generated from ``assets/styles/template.qss`` with these tokens (``python -m app.ui.design``
writes them; a test checks they are current), and the chat view draws its message cards with
the same palette, so a colour changed here changes everywhere.
"""

from __future__ import annotations

import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

# Spacing, radii and type, in pixels (points for type): one scale for every widget.
SPACE_XS, SPACE_S, SPACE_M, SPACE_L, SPACE_XL = 4, 8, 12, 16, 24
RADIUS_S, RADIUS_M, RADIUS_L = 6, 8, 12
# Lines longer than this are hard to read: the conversation is centred within it.
CONTENT_MAX_WIDTH = 760
# A user's message sits indented by this much, so questions and answers read apart.
USER_INDENT_PERCENT = 12


@dataclass(frozen=True)
class Palette:
    """The colours of one theme (hex strings, usable in QSS and in rich text)."""

    window: str  # the window behind everything
    surface: str  # the conversation's background
    sidebar: str
    text: str
    muted: str  # secondary text: labels, footers, actions
    border: str
    accent: str  # the primary action (Send), links, focus
    accent_hover: str
    accent_pressed: str
    on_accent: str  # text on the accent colour
    accent_soft: str  # a tint of the accent: the user's message card, selections
    hover: str  # a flat control under the mouse
    pressed: str
    input: str  # text boxes
    card: str  # an answer's card
    card_border: str
    user_card: str
    user_border: str
    code: str  # code blocks
    selection: str
    selection_text: str
    scrollbar: str
    scrollbar_hover: str
    tooltip: str
    tooltip_text: str
    disabled: str
    local: str  # the route pill: words stay on this machine
    remote: str  # ... they leave it
    on_route: str
    notice: str
    notice_text: str
    error: str
    error_text: str
    warning: str
    warning_text: str
    success: str


LIGHT = Palette(
    window="#f4f5f7", surface="#fbfbfc", sidebar="#eef0f3", text="#1f2328", muted="#636a76",
    border="#d9dde3", accent="#3b5bdb", accent_hover="#324fc4", accent_pressed="#2a43a8",
    on_accent="#ffffff", accent_soft="#e7ecfd", hover="#e6e9ee", pressed="#d9dde3",
    input="#ffffff", card="#ffffff", card_border="#e3e6eb", user_card="#edf1fe",
    user_border="#cfd9fb", code="#f5f6f8", selection="#c8d4fa", selection_text="#1f2328",
    scrollbar="#c3c8d0", scrollbar_hover="#a3aab5", tooltip="#2b2f36", tooltip_text="#f4f5f7",
    disabled="#a0a6b0", local="#1f7a3a", remote="#a15f00", on_route="#ffffff",
    notice="#e8eefc", notice_text="#1d3a7a", error="#fdecea", error_text="#7a1f1a",
    warning="#fff4e0", warning_text="#6b4200", success="#1f7a3a",
)

DARK = Palette(
    window="#1b1d21", surface="#202227", sidebar="#18191d", text="#e4e6eb", muted="#9aa1ad",
    border="#363a42", accent="#6d8cff", accent_hover="#819bff", accent_pressed="#5a78e6",
    on_accent="#0e1220", accent_soft="#283152", hover="#2c2f36", pressed="#363a42",
    input="#26292f", card="#26292f", card_border="#33363e", user_card="#273050",
    user_border="#34406a", code="#1a1c20", selection="#3a4a80", selection_text="#ffffff",
    scrollbar="#4a4f59", scrollbar_hover="#636a76", tooltip="#e4e6eb", tooltip_text="#1b1d21",
    disabled="#5f6570", local="#23803f", remote="#96600f", on_route="#ffffff",
    notice="#23304f", notice_text="#c9d6ff", error="#4a2020", error_text="#ffd7d2",
    warning="#45361a", warning_text="#ffe2a8", success="#4cc274",
)


def palette(dark: bool) -> Palette:
    """The palette of the dark or the light theme."""
    return DARK if dark else LIGHT


def tokens(dark: bool) -> dict[str, str]:
    """Every token a style sheet template may name, as text (``accent``, ``radius_m``).

    Sizes are in pixels; type sizes are left to the application font (the user's size).
    """
    values = {name: str(value) for name, value in asdict(palette(dark)).items()}
    sizes = {"space_xs": SPACE_XS, "space_s": SPACE_S, "space_m": SPACE_M, "space_l": SPACE_L,
             "space_xl": SPACE_XL, "radius_s": RADIUS_S, "radius_m": RADIUS_M,
             "radius_l": RADIUS_L}
    values.update({name: f"{px}px" for name, px in sizes.items()})
    return values


_TOKEN = re.compile(r"@([a-z_]+)")


class UnknownToken(KeyError):
    """The template names a token this module does not define."""


def render_stylesheet(template: str, dark: bool) -> str:
    """``template`` with each ``@token`` replaced by its value for the theme.

    Raises:
        UnknownToken: the template names a token that does not exist (a typo would
            otherwise become an invalid style sheet Qt only warns about).
    """
    values = tokens(dark)

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise UnknownToken(f"Unknown design token @{name} in the style sheet template")
        return values[name]

    return _TOKEN.sub(value, template)


def assets_dir() -> Path:
    """``assets`` in a frozen bundle, a source tree, or a wheel's ``share/enclave``."""
    base = getattr(sys, "_MEIPASS", None)
    if base:
        return Path(base) / "assets"
    source = Path(__file__).resolve().parents[2] / "assets"
    installed = Path(sys.prefix) / "share" / "enclave" / "assets"  # pyproject data-files
    return source if source.is_dir() or not installed.is_dir() else installed


def generated_sheets() -> dict[str, str]:
    """``{"light.qss": ..., "dark.qss": ...}`` as the template and tokens make them."""
    template = (assets_dir() / "styles" / "template.qss").read_text("utf-8")
    header = ("/* Generated by `python -m app.ui.design` from template.qss and the tokens in "
              "app/ui/design.py: edit those, not this file. */\n")
    return {f"{scheme}.qss": header + render_stylesheet(template, scheme == "dark")
            for scheme in ("light", "dark")}


def write_sheets() -> list[Path]:
    """Write the generated style sheets next to the template; returns their paths."""
    written = []
    for name, text in generated_sheets().items():
        path = assets_dir() / "styles" / name
        path.write_text(text, "utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - a developer's command
    for path in write_sheets():
        print(f"wrote {path}")
