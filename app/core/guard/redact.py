"""Redaction: sensitive text becomes a placeholder before a request leaves the machine.

One :class:`Redactor` serves one conversation: the same value always gets the same
placeholder (``alice@corp.example`` is ``<EMAIL_1>`` in every message), so the remote model
can still reason about "the same person". The mapping from placeholder to original stays in
this process; :func:`restore` puts the originals back into the answer for display.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.engines.base import ChatMessage
from app.core.guard.custom import compile_custom_patterns, compile_terms
from app.core.guard.recognizers import BUILT_IN, Recognizer

PLACEHOLDER_RE = re.compile(r"<([A-Z][A-Z_]*)_(\d+)>")
"""What a placeholder looks like: ``<EMAIL_1>``, ``<URL_CREDENTIALS_2>``."""

_MAX_PLACEHOLDER = 32  # longest placeholder a stream may hold back (generous)


@dataclass(frozen=True)
class RedactionResult:
    """The redacted text and what was taken out of it.

    Attributes:
        text: The text with every finding replaced by its placeholder.
        mapping: Placeholder -> original, for every placeholder this conversation has used so
            far (so an answer that quotes an earlier placeholder can be restored).
        counts: Findings in this text by type (``{"EMAIL": 2}``); never holds the values.
    """

    text: str
    mapping: dict[str, str]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def found(self) -> int:
        """How many findings were replaced in this text."""
        return sum(self.counts.values())


@dataclass(frozen=True)
class _Finding:
    start: int
    end: int
    kind: str
    priority: int
    fold: bool  # compare case-insensitively (custom terms)


class Redactor:
    """Finds and replaces sensitive text; one instance per conversation.

    Args:
        custom_terms: ``redaction.custom_terms`` (case-insensitive whole words).
        custom_patterns: ``redaction.custom_patterns`` (checked for catastrophic backtracking).
        recognizers: The built-in recognizers (tests may narrow them).

    Raises:
        UnsafePattern: an administrator rule cannot be used; nothing may leave.
    """

    def __init__(
        self,
        custom_terms: Iterable[str] = (),
        custom_patterns: Iterable[str] = (),
        recognizers: Sequence[Recognizer] = BUILT_IN,
    ) -> None:
        self._recognizers = tuple(recognizers)
        self._terms = compile_terms(list(custom_terms))
        self._patterns = compile_custom_patterns(list(custom_patterns))
        self._lock = threading.Lock()
        self._by_value: dict[tuple[str, str], str] = {}
        self._mapping: dict[str, str] = {}
        self._next: dict[str, int] = {}

    @classmethod
    def from_policy(cls, policy: Any) -> Redactor:
        """A redactor with the administrator's rules from an ``EffectivePolicy``."""
        return cls(policy.get("redaction.custom_terms"), policy.get("redaction.custom_patterns"))

    def seed(self, mapping: dict[str, str]) -> None:
        """Continue a conversation's numbering from its stored placeholder mapping."""
        with self._lock:
            for placeholder, value in mapping.items():
                m = PLACEHOLDER_RE.fullmatch(placeholder)
                if m is None:
                    continue
                kind, n = m.group(1), int(m.group(2))
                fold = kind == "TERM"
                key = (kind, " ".join(value.split()).casefold() if fold else value)
                self._by_value.setdefault(key, placeholder)
                self._mapping[placeholder] = value
                self._next[kind] = max(self._next.get(kind, 0), n)

    @property
    def mapping(self) -> dict[str, str]:
        """Placeholder -> original for the whole conversation so far (a copy)."""
        with self._lock:
            return dict(self._mapping)

    def _findings(self, text: str) -> list[_Finding]:
        found: list[_Finding] = []
        for rec in self._recognizers:
            for m in rec.pattern.finditer(text):
                start, end = m.span(rec.group)
                if start < 0 or start == end:
                    continue
                if rec.validate is not None and not rec.validate(m.group(rec.group)):
                    continue
                found.append(_Finding(start, end, rec.kind, rec.priority, False))
        if self._terms is not None:
            found += [_Finding(*m.span(), "TERM", 5, True) for m in self._terms.finditer(text)]
        for pattern in self._patterns:
            found += [
                _Finding(*m.span(), "CUSTOM", 6, False)
                for m in pattern.finditer(text)
                if m.end() > m.start()
            ]
        # Earliest first, then longest, then the more specific recognizer; drop overlaps.
        found.sort(key=lambda f: (f.start, -(f.end - f.start), f.priority))
        kept: list[_Finding] = []
        last_end = -1
        for f in found:
            if f.start >= last_end:
                kept.append(f)
                last_end = f.end
        return kept

    def _placeholder(self, kind: str, value: str, fold: bool) -> str:
        key = (kind, " ".join(value.split()).casefold() if fold else value)
        placeholder = self._by_value.get(key)
        if placeholder is None:
            n = self._next.get(kind, 0) + 1
            self._next[kind] = n
            placeholder = f"<{kind}_{n}>"
            self._by_value[key] = placeholder
            self._mapping[placeholder] = value
        return placeholder

    def redact(self, text: str) -> RedactionResult:
        """Replace every finding in ``text`` with its placeholder."""
        findings = self._findings(text)
        counts: dict[str, int] = {}
        parts: list[str] = []
        pos = 0
        with self._lock:
            for f in findings:
                parts.append(text[pos : f.start])
                parts.append(self._placeholder(f.kind, text[f.start : f.end], f.fold))
                counts[f.kind] = counts.get(f.kind, 0) + 1
                pos = f.end
            parts.append(text[pos:])
            mapping = dict(self._mapping)
        return RedactionResult("".join(parts), mapping, counts)

    def redact_messages(
        self, messages: Sequence[ChatMessage]
    ) -> tuple[list[ChatMessage], RedactionResult]:
        """Redact a whole conversation; returns the messages and the combined result.

        The combined result's ``text`` is empty (the texts are in the messages); its counts
        add up every message's findings.
        """
        out: list[ChatMessage] = []
        counts: dict[str, int] = {}
        for message in messages:
            result = self.redact(message.content)
            out.append(ChatMessage(message.role, result.text))
            for kind, n in result.counts.items():
                counts[kind] = counts.get(kind, 0) + n
        return out, RedactionResult("", self.mapping, counts)


def restore(text: str, mapping: dict[str, str]) -> str:
    """Put the originals back in place of known placeholders (unknown ones stay as they are)."""
    return PLACEHOLDER_RE.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)


class StreamRestorer:
    """Restores placeholders in a token stream whose pieces may split a placeholder.

    Feed each streamed piece to :meth:`feed` and show what it returns; call :meth:`flush` at
    the end. Text that might be the start of a placeholder is held back until it is complete.
    """

    def __init__(self, mapping: dict[str, str]) -> None:
        self._mapping = mapping
        self._held = ""

    def feed(self, piece: str) -> str:
        """Return the displayable text up to the last possibly unfinished placeholder."""
        text = self._held + piece
        cut = text.rfind("<")
        if cut >= 0 and ">" not in text[cut:] and len(text) - cut <= _MAX_PLACEHOLDER:
            self._held = text[cut:]
            text = text[:cut]
        else:
            self._held = ""
        return restore(text, self._mapping)

    def flush(self) -> str:
        """Return whatever is still held back."""
        text, self._held = self._held, ""
        return restore(text, self._mapping)
