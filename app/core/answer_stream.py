"""An answer as it streams: placeholders restored, source markers out, shown, and saved.

The engine's pieces pass through here on their way to the face. A remote answer quotes the
placeholders its request carried; they are put back before anyone sees the piece (a
placeholder split across pieces is held back until it is whole). Source markers the model
copied from a grounded prompt are taken out the same way (``app.core.source_markers``). The
text so far is written to the history at most once a second, so a crash loses at most a
second of answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from app.core.engines.base import Completion
from app.core.ports import HistoryWriter
from app.core.source_markers import MarkerFilter, strip_source_markers

FLUSH_INTERVAL_S = 1.0


class AnswerStream:
    """Collects one answer's pieces.

    Args:
        on_token: The face's callback for each (restored) piece.
        mapping: Placeholder -> original for this turn; empty for a local turn.
        history: Where the growing answer is saved; ``None`` when nothing is saved.
        message_id: The answer's message in ``history``.
    """

    def __init__(
        self,
        on_token: Callable[[str], None] | None,
        mapping: dict[str, str],
        history: HistoryWriter | None,
        message_id: int | None,
    ) -> None:
        self._on_token = on_token
        self._restorer = None
        if mapping:  # a remote turn: redaction is loaded (the import is free by now)
            from app.core.guard.redact import StreamRestorer

            self._restorer = StreamRestorer(mapping)
        self._markers = MarkerFilter()
        self._history = history if message_id is not None else None
        self._message_id = message_id
        self._pieces: list[str] = []
        self._last_flush = time.monotonic()

    @property
    def text(self) -> str:
        """Everything shown so far."""
        return "".join(self._pieces)

    @property
    def markers_removed(self) -> int:
        """How many copied source markers were taken out so far."""
        return self._markers.removed

    def feed(self, piece: str) -> None:
        """One piece from the engine (the engine's token callback)."""
        if self._restorer is not None:
            piece = self._restorer.feed(piece)
        piece = self._markers.feed(piece)
        if not piece:
            return
        self._show(piece)
        if self._history is not None and time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
            self._last_flush = time.monotonic()
            assert self._message_id is not None
            self._history.update_message(self._message_id, text=self.text, complete=False)

    def finish(self) -> str:
        """Release what a half-seen placeholder or marker held back; returns the whole answer.

        Safe to call more than once.
        """
        tail = self._restorer.flush() if self._restorer is not None else ""
        tail = self._markers.feed(tail) + self._markers.flush()
        if tail:
            self._show(tail)
        return self.text

    def settled(self, completion: Completion, *, restored: bool) -> Completion:
        """The engine's finished ``completion``, its text as shown: copied markers out.

        ``restored``: the turn's placeholders were put back, so the engine's own text is not
        what the user saw.
        """
        shown = self.finish()  # shows what was held back, whichever text is kept
        text = shown if restored or self.markers_removed else completion.text
        return replace(completion, text=strip_source_markers(text)[0])

    def failed(self, error: str, elapsed: float) -> Completion:
        """The answer of a turn the engine failed: what arrived is kept, marked an error."""
        return Completion(text=self.finish(), finish_reason="error", prompt_tokens=0,
                          completion_tokens=0, ttft_s=0.0, total_s=elapsed, tokens_per_s=0.0,
                          error=error)

    def _show(self, piece: str) -> None:
        self._pieces.append(piece)
        if self._on_token is not None:
            self._on_token(piece)
