"""Redaction: sensitive text becomes a placeholder before a request leaves the machine.

One :class:`Redactor` serves one conversation: the same value always gets the same
placeholder (``alice@corp.example`` is ``<EMAIL_1_k7q2m9xa>`` in every message), so the
remote model can still reason about "the same person". The tag (``k7q2m9xa``) is random per
conversation, so nobody can type a placeholder that restores (:mod:`.placeholders`). The
mapping from placeholder to original stays in this process; :func:`restore` puts the
originals back into the answer for display.

Every recognizer matches the folded text (:mod:`.normalize`), and every finding is mapped
back to the original characters it came from, so what is replaced is exactly what was found,
invisible characters inside it included, and restoring gives back the original text.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.engines.base import ChatMessage
from app.core.guard.custom import compile_custom_patterns, compile_terms
from app.core.guard.finders import Finder
from app.core.guard.normalize import Folded, normalize
from app.core.guard.placeholders import (
    _MAX_PLACEHOLDER,
    LEGACY_PLACEHOLDER_RE,
    PLACEHOLDER_RE,
    StreamRestorer,
    make_placeholder,
    new_tag,
    restore,
)
from app.core.guard.recognizers import BUILT_IN

__all__ = ["_MAX_PLACEHOLDER", "PLACEHOLDER_RE", "RedactionResult", "Redactor",
           "StreamRestorer", "restore"]


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


class Redactor:
    """Finds and replaces sensitive text; one instance per conversation.

    Args:
        custom_terms: ``redaction.custom_terms`` (whole words, in any case or disguise).
        custom_patterns: ``redaction.custom_patterns`` (checked for catastrophic backtracking).
        recognizers: The built-in recognizers (tests and benchmarks may narrow them).

    Raises:
        UnsafePattern: an administrator rule cannot be used; nothing may leave.
    """

    def __init__(
        self,
        custom_terms: Iterable[str] = (),
        custom_patterns: Iterable[str] = (),
        recognizers: Sequence[Finder] = BUILT_IN,
    ) -> None:
        self._recognizers = tuple(recognizers)
        self._terms = compile_terms(list(custom_terms))
        self._patterns = compile_custom_patterns(list(custom_patterns))
        self._lock = threading.Lock()
        self._tag = new_tag()
        self._by_value: dict[tuple[str, str], str] = {}
        self._mapping: dict[str, str] = {}
        self._next: dict[str, int] = {}

    @classmethod
    def from_policy(cls, policy: Any) -> Redactor:
        """A redactor with the administrator's rules from an ``EffectivePolicy``."""
        return cls(policy.get("redaction.custom_terms"), policy.get("redaction.custom_patterns"))

    @property
    def tag(self) -> str:
        """This conversation's placeholder tag."""
        return self._tag

    def seed(self, mapping: dict[str, str]) -> None:
        """Continue a conversation from its stored placeholder mapping.

        Tagged placeholders are kept as they are, and the conversation keeps their tag.
        Bare ones from before tags existed (``<EMAIL_1>``) keep their number, under this
        conversation's tag: the value is still "EMAIL 1" to the model, but only the tagged
        form is ever restored, since anybody can type the bare one.
        """
        with self._lock:
            tagged = [(m, v) for p, v in mapping.items() if (m := PLACEHOLDER_RE.fullmatch(p))]
            if tagged and not self._mapping:
                self._tag = tagged[0][0].group(3)
            for m, value in tagged:
                kind, n = m.group(1), int(m.group(2))
                if m.group(3) == self._tag:
                    self._by_value.setdefault((kind, value), m.group(0))
                self._mapping[m.group(0)] = value
                self._next[kind] = max(self._next.get(kind, 0), n)
            for placeholder, value in mapping.items():
                if (m := LEGACY_PLACEHOLDER_RE.fullmatch(placeholder)) is None:
                    continue
                kind, n = m.group(1), int(m.group(2))
                self._next[kind] = max(self._next.get(kind, 0), n)
                if (kind, value) in self._by_value:
                    continue
                renamed = make_placeholder(kind, n, self._tag)
                if renamed in self._mapping:  # taken by another value: give this one a new number
                    self._next[kind] += 1
                    renamed = make_placeholder(kind, self._next[kind], self._tag)
                self._by_value[(kind, value)] = renamed
                self._mapping[renamed] = value

    @property
    def mapping(self) -> dict[str, str]:
        """Placeholder -> original for the whole conversation so far (a copy)."""
        with self._lock:
            return dict(self._mapping)

    def _findings(self, text: str) -> list[_Finding]:
        """Findings in original coordinates, without overlaps, in order."""
        folded = normalize(text)
        found = [
            _Finding(start, end, rec.kind, rec.priority)
            for rec in self._recognizers
            for start, end in rec.find(folded)
        ]
        if self._terms is not None:
            found += [_Finding(*m.span(), "TERM", 5) for m in self._terms.finditer(folded.folded)]
        for pattern in self._patterns:
            found += [
                _Finding(*m.span(), "CUSTOM", 6)
                for m in pattern.finditer(folded.folded)
                if m.end() > m.start()
            ]
        return _resolve(found, folded)

    def _placeholder(self, kind: str, value: str) -> str:
        # Keyed by the exact original, so restoring gives back exactly what was written.
        key = (kind, value)
        placeholder = self._by_value.get(key)
        if placeholder is None:
            n = self._next.get(kind, 0) + 1
            self._next[kind] = n
            placeholder = make_placeholder(kind, n, self._tag)
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
                parts.append(self._placeholder(f.kind, text[f.start : f.end]))
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

    def detect(self, messages: Sequence[ChatMessage]) -> dict[str, int]:
        """Findings by type in ``messages``, without assigning placeholders.

        For a route that is not redacted but must still refuse blocking findings.
        """
        counts: dict[str, int] = {}
        for message in messages:
            for f in self._findings(message.content):
                counts[f.kind] = counts.get(f.kind, 0) + 1
        return counts


def _resolve(found: list[_Finding], folded: Folded) -> list[_Finding]:
    """Keep the earliest, then longest, then most specific finding; map back to the original."""
    found.sort(key=lambda f: (f.start, -(f.end - f.start), f.priority))
    kept: list[_Finding] = []
    last_end = -1
    for f in found:
        if f.start < last_end:
            continue
        last_end = f.end
        start, end = folded.span(f.start, f.end)
        if kept and start < kept[-1].end:
            # Two findings in one folded character (one half of "ß" each): cover both.
            prev = kept.pop()
            kept.append(_Finding(prev.start, max(prev.end, end), prev.kind, prev.priority))
            continue
        kept.append(_Finding(start, end, f.kind, f.priority))
    return kept
