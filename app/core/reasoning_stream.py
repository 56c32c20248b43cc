"""Reasoning in a streamed answer, piece by piece, as :func:`split_reasoning` sees the whole.

An answer streams in pieces that can cut a marker anywhere (``"<thi"`` then ``"nk>"``), so
the splitter holds back the tail of what it was given that could still begin a marker, and
says what each piece of text is once it knows: ``thinking`` or ``answer``. Feeding the same
text in any chunking gives the same pieces once joined (the tests check every chunking).

A template that opens the block in the prompt makes the model start inside it: the first
closing marker then arrives with no opening one, and everything before it was reasoning.
Text already shown as the answer cannot be taken back from a terminal, so the splitter says
so with one ``retracted`` piece carrying that text; the stored answer keeps it all and
:func:`split_reasoning` files it as reasoning for copy, export and the next turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.core.reasoning import HARMONY_FINAL_MARKERS, LONE_CLOSERS, MARKER_PAIRS

Kind = Literal["thinking", "answer", "retracted"]

_CLOSE_FOR = {o.lower(): c.lower() for o, c in MARKER_PAIRS}
_LONE = tuple(c.lower() for c in LONE_CLOSERS)
_DROPPED = tuple(m.lower() for m in HARMONY_FINAL_MARKERS)  # longest first


@dataclass(frozen=True)
class Piece:
    """Some streamed text and what it is."""

    kind: Kind
    text: str


class ReasoningStream:
    """Feed streamed text in; get back pieces of reasoning and answer.

    ``feed`` returns what is certain so far; ``finish`` returns what was held back. The
    ``thinking`` property says whether the stream is inside a reasoning block right now.
    """

    def __init__(self) -> None:
        self._held = ""  # text that could still be (the start of) a marker
        self._close: str | None = None  # the closing marker awaited inside a block
        self._marked = False  # a marker was seen: a later lone closer is plain text
        self._shown = ""  # answer text given out before any marker (retracted if need be)
        self._answer_started = False  # leading whitespace of the answer is dropped

    @property
    def thinking(self) -> bool:
        """Whether the text now arriving is reasoning."""
        return self._close is not None

    def feed(self, text: str) -> list[Piece]:
        """Pieces of ``text`` (with what was held back) that are certain now."""
        self._held += text
        return self._drain(final=False)

    def finish(self) -> list[Piece]:
        """The rest: the stream ended, so nothing held back can become a marker."""
        return self._drain(final=True)

    # --- scanning ---------------------------------------------------------------------------

    def _markers(self) -> tuple[str, ...]:
        if self._close is not None:
            return (self._close,)
        openers = tuple(_CLOSE_FOR)
        return openers + _DROPPED + (() if self._marked else _LONE)

    def _drain(self, *, final: bool) -> list[Piece]:
        out: list[Piece] = []
        while True:
            lowered = self._held.lower()
            found = _earliest(lowered, self._markers())
            if found is None:
                keep = 0 if final else _partial_tail(lowered, self._markers())
                self._emit(self._held[:len(self._held) - keep], out)
                self._held = self._held[len(self._held) - keep:]
                return out
            start, marker = found
            self._emit(self._held[:start], out)
            written = self._held[start:start + len(marker)]
            self._held = self._held[start + len(marker):]
            self._on_marker(marker, written, out)

    def _on_marker(self, marker: str, written: str, out: list[Piece]) -> None:
        if self._close is not None:  # the block's own closer
            self._close = None
        elif marker in _CLOSE_FOR:
            self._close = _CLOSE_FOR[marker]
            self._marked = True
        elif marker in _LONE:  # the block was opened in the prompt: all so far was reasoning
            self._marked = True
            if self._shown:
                out.append(Piece("retracted", self._shown))
            self._shown = ""
            self._answer_started = False
        elif not self._marked:  # a harmony "final" header: not shown, yet reasoning if
            self._shown += written  # a lone closer comes after it (as split_reasoning has it)

    def _emit(self, text: str, out: list[Piece]) -> None:
        if not text:
            return
        if self._close is not None:
            _append(out, "thinking", text)
            return
        if not self._answer_started:
            text = text.lstrip()
            if not text:
                return
            self._answer_started = True
        if not self._marked:
            self._shown += text
        _append(out, "answer", text)


def _append(out: list[Piece], kind: Kind, text: str) -> None:
    if out and out[-1].kind == kind:
        out[-1] = Piece(kind, out[-1].text + text)
    else:
        out.append(Piece(kind, text))


def _earliest(lowered: str, markers: tuple[str, ...]) -> tuple[int, str] | None:
    """The first marker in the text (the longest one where two start at the same place)."""
    best: tuple[int, str] | None = None
    for marker in markers:
        at = lowered.find(marker)
        if at < 0:
            continue
        if best is None or at < best[0] or (at == best[0] and len(marker) > len(best[1])):
            best = (at, marker)
    return best


def _partial_tail(lowered: str, markers: tuple[str, ...]) -> int:
    """How much of the text's end could be the start of a marker (held back)."""
    for size in range(min(len(lowered), max(map(len, markers)) - 1), 0, -1):
        tail = lowered[-size:]
        if any(m.startswith(tail) for m in markers):
            return size
    return 0
