r"""Input that crosses into the core is made safe here, once, for every face (GUI, CLI, API).

Two classes of hostile or careless input reach the core from outside Python's control:

- Text that is not valid Unicode. Python decodes command-line arguments and filenames with
  ``surrogateescape``, so invalid UTF-8 arrives as lone surrogates (``"\\udcff"``) that cannot
  be encoded again: SQLite, the terminal and the engine would each fail on them later, far
  from the cause. :func:`clean_text` turns them into what a reader would see instead.
- Integers of any size. Python's ints are unbounded and SQLite's are 64-bit; an id, limit or
  offset beyond that range is not "some row" but a value no row can have.
  :func:`in_range` and :func:`row_id` bound them with a typed error.
"""

from __future__ import annotations

import re
import unicodedata

from app.core.errors import EnclaveError, ExitCode

SQLITE_INT_MAX = 2**63 - 1
"""The largest integer SQLite stores; every id, limit and offset fits below it."""

MAX_MESSAGE_CHARS = 1_000_000
"""The longest message accepted (about 250,000 tokens: more than any local context holds)."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_ESCAPED_BYTE = re.compile("[\ud800-\udc7f\udd00-\udfff]")  # not from surrogateescape
_INVISIBLE = {"Cc", "Cf"}  # control and format characters: zero-width, bidi overrides, BOM


class InvalidInput(EnclaveError):
    """A value given to a command is outside what it accepts."""

    exit_code = ExitCode.USAGE


def clean_text(text: str) -> str:
    """The text with invalid Unicode repaired, as a UTF-8 reader would show it.

    Bytes smuggled in as ``surrogateescape`` surrogates are decoded as UTF-8 again (so a
    valid sequence split across them comes back whole) and what still does not decode becomes
    U+FFFD. NUL becomes U+FFFD too: C libraries (SQLite's FTS, llama.cpp's tokenizer) stop
    reading at it, so the stored text and the text the model saw would differ.
    """
    if _SURROGATE.search(text):
        # Surrogates that do not stand for an escaped byte (U+DC80..U+DCFF) have no bytes
        # behind them: a reader shows the replacement character.
        text = _NOT_ESCAPED_BYTE.sub("\ufffd", text)
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text.replace("\x00", "\ufffd")


def one_line(text: str) -> str:
    """A name as it is stored (a title, a prompt's name): one line, NFKC, nothing invisible.

    :func:`clean_text` first (NUL is dropped before: in a name it is a control like the
    others, not a lost byte); then whitespace of any kind (line breaks, tabs) becomes a
    space, control and format characters (zero-width, bidi overrides, BOM, soft hyphen) and
    the combining grapheme joiner are dropped, runs of spaces become one and the ends are
    trimmed. Done before NFKC and again after, so what an invisible character separated
    composes (``"e\u200b\u0301"`` is ``"é"``) and cleaning twice changes nothing.
    """
    text = clean_text(text.replace("\x00", ""))
    for _ in range(2):
        text = "".join(" " if ch.isspace() else ch for ch in text
                       if ch.isspace() or (unicodedata.category(ch) not in _INVISIBLE
                                           and ch != "\u034f"))
        text = " ".join(unicodedata.normalize("NFKC", text).split())
    return text


def clean_message(text: str) -> str:
    """A user's message, cleaned and bounded.

    Raises:
        InvalidInput: if the message is longer than :data:`MAX_MESSAGE_CHARS`.
    """
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidInput(
            f"The message is too long ({len(text):,} characters; the limit is "
            f"{MAX_MESSAGE_CHARS:,}).",
            "Shorten it, or add the text as a document and ask about it.",
        )
    return clean_text(text)


def in_range(value: int, name: str, low: int = 0, high: int = SQLITE_INT_MAX) -> int:
    """``value`` if ``low <= value <= high``.

    Raises:
        InvalidInput: naming the value and its range.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        shown = f"{value!r:.40}"
        raise InvalidInput(
            f"{name} must be a whole number from {low:,} to {high:,} (got {shown}).",
            f"Give {name} within that range.",
        )
    return value


def row_id(value: object) -> int | None:
    """``value`` as a row id, or ``None`` when no row can have it (not an int in 1..2^63-1)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= SQLITE_INT_MAX:
        return None
    return value
