"""Placeholders that nobody else can write, and putting the originals back.

A placeholder reads ``<EMAIL_1_k7q2m9xa>``: the type, the number of the value within the
conversation, and the conversation's random tag. The remote model sees it and can echo it
(plain ASCII, no spaces); restoring replaces only placeholders this conversation issued, so
text that merely looks like one — a user who types ``<EMAIL_1>``, a document that holds
``<EMAIL_2_aaaaaaaa>`` — comes back exactly as it was.

Conversations from before tags existed stored bare ``<EMAIL_1>`` placeholders. Those are
never restored (anyone can type them); a resumed conversation gives each stored value a
tagged placeholder with the same number instead (see ``Redactor.seed``).
"""

from __future__ import annotations

import re
import secrets

TAG_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
"""Lower-case letters and digits without l, o, 0 and 1, which a model or a reader may confuse."""
TAG_LENGTH = 8  # 32**8 = 2**40: a text that holds the tag by chance is not a practical concern

PLACEHOLDER_RE = re.compile(rf"<([A-Z][A-Z_]*)_(\d+)_([a-z0-9]{{{TAG_LENGTH}}})>")
"""A tagged placeholder: ``<EMAIL_1_k7q2m9xa>``, ``<URL_CREDENTIALS_2_k7q2m9xa>``."""

LEGACY_PLACEHOLDER_RE = re.compile(r"<([A-Z][A-Z_]*)_(\d+)>")
"""A placeholder stored before tags existed: ``<EMAIL_1>`` (read when resuming, never restored)."""

_MAX_PLACEHOLDER = 64  # longest placeholder a stream may hold back (kind names are short)


def new_tag() -> str:
    """A fresh random tag for one conversation's placeholders."""
    return "".join(secrets.choice(TAG_ALPHABET) for _ in range(TAG_LENGTH))


def make_placeholder(kind: str, number: int, tag: str) -> str:
    """The placeholder for the ``number``-th value of ``kind`` in a conversation tagged ``tag``."""
    return f"<{kind}_{number}_{tag}>"


def restore(text: str, mapping: dict[str, str]) -> str:
    """Put the originals back in place of this conversation's placeholders.

    Anything else — unknown placeholders, another conversation's, bare ``<EMAIL_1>`` typed by a
    user, even when ``mapping`` holds such a key — is left exactly as it is.
    """
    if "<" not in text:
        return text
    return PLACEHOLDER_RE.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)


class StreamRestorer:
    """Restores placeholders in a token stream whose pieces may split a placeholder.

    Feed each streamed piece to :meth:`feed` and show what it returns; call :meth:`flush` at
    the end. Text from the last ``<`` on is held back only while it is the beginning of one of
    this conversation's placeholders, so ``<3`` or ``<EMAIL_1>`` shows at once.
    """

    def __init__(self, mapping: dict[str, str]) -> None:
        self._mapping = {k: v for k, v in mapping.items() if PLACEHOLDER_RE.fullmatch(k)}
        self._held = ""

    def _could_continue(self, tail: str) -> bool:
        if len(tail) > _MAX_PLACEHOLDER:
            return False
        return any(key.startswith(tail) and key != tail for key in self._mapping)

    def feed(self, piece: str) -> str:
        """Return the displayable text up to the last possibly unfinished placeholder."""
        text = self._held + piece
        self._held = ""
        cut = text.rfind("<")
        if cut >= 0 and self._could_continue(text[cut:]):
            self._held = text[cut:]
            text = text[:cut]
        return restore(text, self._mapping)

    def flush(self) -> str:
        """Return whatever is still held back."""
        text, self._held = self._held, ""
        return restore(text, self._mapping)
