"""An answer as it streams: placeholders restored, shown, and saved as it grows.

The engine's pieces pass through here on their way to the face. A remote answer quotes the
placeholders its request carried; they are put back before anyone sees the piece (a
placeholder split across pieces is held back until it is whole). The text so far is written
to the history at most once a second, so a crash loses at most a second of answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from app.core.engines.base import Completion
from app.core.ports import HistoryWriter

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
        self._history = history if message_id is not None else None
        self._message_id = message_id
        self._pieces: list[str] = []
        self._last_flush = time.monotonic()

    @property
    def text(self) -> str:
        """Everything shown so far."""
        return "".join(self._pieces)

    def feed(self, piece: str) -> None:
        """One piece from the engine (the engine's token callback)."""
        if self._restorer is not None:
            piece = self._restorer.feed(piece)
            if not piece:
                return
        self._show(piece)
        if self._history is not None and time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
            self._last_flush = time.monotonic()
            assert self._message_id is not None
            self._history.update_message(self._message_id, text=self.text, complete=False)

    def finish(self) -> str:
        """Release what a half-seen placeholder held back; returns the whole answer."""
        if self._restorer is not None:
            tail = self._restorer.flush()
            if tail:
                self._show(tail)
        return self.text

    def failed(self, error: str, elapsed: float) -> Completion:
        """The answer of a turn the engine failed: what arrived is kept, marked an error."""
        return Completion(text=self.text, finish_reason="error", prompt_tokens=0,
                          completion_tokens=0, ttft_s=0.0, total_s=elapsed, tokens_per_s=0.0,
                          error=error)

    def _show(self, piece: str) -> None:
        self._pieces.append(piece)
        if self._on_token is not None:
            self._on_token(piece)
