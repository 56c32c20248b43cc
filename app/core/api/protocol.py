"""uvicorn's HTTP/1.1 protocol (h11) with the two bounds it lacks: time to a request, and count.

uvicorn closes an idle keep-alive connection, but a connection that never finishes sending
its headers — opened and left, or fed one byte at a time — is held for ever. Here every
connection must deliver a whole request line and headers within ``request_timeout_s`` of
opening (or of its previous response), and past ``max_connections`` the oldest connection
with no request in progress is closed to make room. Neither holds the engine: it is taken
only by a request that has fully arrived and been checked.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from app.core.api.limits import Limits


def guarded_protocol(limits: Limits) -> type[H11Protocol]:
    """The h11 protocol class bound to ``limits`` (uvicorn builds one per connection)."""

    class GuardedH11Protocol(H11Protocol):
        _limits = limits

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm(None)
            if len(self.connections) > self._limits.max_connections:
                _close_oldest_idle(self.connections, keep=self)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            finished = self.cycle
            super().on_response_complete()  # may start a pipelined request at once
            if not self.transport.is_closing():
                self._arm(finished)

        def _arm(self, cycle: Any) -> None:
            self._disarm()
            self._waiting_since = self.loop.time()
            wait = self._limits.request_timeout_s
            self._deadline: asyncio.TimerHandle | None = self.loop.call_later(
                wait, self._no_request, cycle)

        def _disarm(self) -> None:
            deadline = getattr(self, "_deadline", None)
            if deadline is not None:
                deadline.cancel()
                self._deadline = None

        def _no_request(self, cycle: Any) -> None:
            # Still the cycle that was current when the wait began: no new request arrived.
            if self.cycle is cycle and self.idle() and not self.transport.is_closing():
                self.transport.close()

        def idle(self) -> bool:
            """No request in progress (none yet, or the last one answered)."""
            return self.cycle is None or bool(self.cycle.response_complete)

    return GuardedH11Protocol


def _close_oldest_idle(connections: set[Any], keep: Any) -> None:
    idle = [c for c in connections if c is not keep and getattr(c, "idle", lambda: False)()]
    if not idle:
        keep.transport.close()  # every other connection is busy: this one waits its turn
        return
    oldest = min(idle, key=lambda c: getattr(c, "_waiting_since", 0.0))
    oldest.transport.close()
