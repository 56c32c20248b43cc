"""The local API server: uvicorn on a listener Enclave bound itself, two lanes, one session.

Enclave binds the socket (a Unix socket is made 0600 before it accepts anything; uvicorn's
own would be 0666) and hands it to uvicorn, which runs in a thread of its own with the
guarded h11 protocol. Chat requests run on one lane (the API's own ``ChatService``: one
model, one turn at a time), embeddings on another. The CLI's ``enclave serve`` and a GUI
switch drive the same object: :meth:`ApiServer.start`, then :meth:`ApiServer.stop`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from app.core.api.app import Services, build_app
from app.core.api.auth import Authenticator
from app.core.api.binding import (
    Binding,
    address_text,
    check_enabled,
    open_listener,
    remove_socket,
)
from app.core.api.embeddings import Embeddings
from app.core.api.errors import ApiConfigError
from app.core.api.limits import Limits
from app.core.api.models import ModelList
from app.core.api.queue import Lane
from app.core.api.turns import ApiTurns, TokenAudit, api_chat_service
from app.core.audit import events
from app.core.errors import EnclaveError

log = logging.getLogger(__name__)

_START_TIMEOUT_S = 30.0


class ApiServer:
    """The local OpenAI-compatible API of one session.

    Args:
        ctx: The session from ``open_app`` (with its history: the tokens live there).
        binding: Where to listen (``plan_binding``).
        limits: Sizes and timeouts.

    Raises:
        ApiRefused: policy keeps the API off.
        ApiConfigError: the session has no history to check tokens against.
    """

    def __init__(self, ctx: Any, binding: Binding, limits: Limits | None = None) -> None:
        check_enabled(ctx.policy)
        if ctx.history is None:
            raise ApiConfigError("The API needs the encrypted history: its tokens live there.",
                                 "Start it without --no-save.")
        self.ctx = ctx
        self.binding = binding
        self.limits = limits or Limits()
        self.audit = TokenAudit(ctx.audit) if ctx.audit is not None else None
        self.turns = ApiTurns(api_chat_service(ctx, self.audit), ctx.history, self.audit)
        self.chat_lane = Lane("chat", self.limits.max_waiting)
        self.embed_lane = Lane("embeddings", self.limits.max_waiting)
        self.services = Services(
            binding=binding, limits=self.limits,
            auth=Authenticator(ctx.history, ctx.policy, ctx.audit),
            models=ModelList.build(ctx.registry, ctx.policy, ctx.paths), turns=self.turns,
            embeddings=Embeddings(ctx, ctx.audit), chat_lane=self.chat_lane,
            embed_lane=self.embed_lane, policy=ctx.policy, user=ctx.chat.user,
            groups=list(ctx.chat.groups),
        )
        self.port = binding.port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        """How clients reach it: ``unix:/…/api.sock`` or ``http://127.0.0.1:PORT/v1``."""
        return address_text(self.binding, self.port)

    @property
    def running(self) -> bool:
        """Whether it is serving."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> str:
        """Listen and serve in a background thread; returns the address once it answers.

        Raises:
            ApiConfigError: the address cannot be bound, or the server did not start.
        """
        import uvicorn

        from app.core.api.protocol import guarded_protocol

        listener = open_listener(self.binding)
        if self.binding.socket_path is None:
            self.port = int(listener.getsockname()[1])
        config = uvicorn.Config(
            build_app(self.services), http=guarded_protocol(self.limits), ws="none",
            lifespan="off", loop="asyncio", log_config=None, access_log=False,
            server_header=False, proxy_headers=False, date_header=True,
            timeout_keep_alive=self.limits.keep_alive_s, timeout_graceful_shutdown=5,
            h11_max_incomplete_event_size=self.limits.max_header_bytes,
            ssl_certfile=self.binding.tls_cert, ssl_keyfile=self.binding.tls_key,
        )
        self._server = uvicorn.Server(config)
        self.chat_lane.start()
        self.embed_lane.start()
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [listener]},
                                        name="enclave-api-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                listener.close()
                self.stop()
                raise ApiConfigError("The API server did not start.",
                                     "Details are in Enclave's log.")
            time.sleep(0.01)
        self._record(events.API_STARTED, "started")
        log.info("API listening on %s", self.address)
        return self.address

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving: refuse what waits, cancel what runs, unload the model. Idempotent."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self.chat_lane.stop(timeout)
        self.embed_lane.stop(timeout)
        if self._thread is not None:
            self._thread = None
            remove_socket(self.binding)
            self._record(events.API_STOPPED, "stopped")
        self.turns.close()

    def _record(self, event: str, what: str) -> None:
        if self.ctx.audit is None:
            return
        try:
            self.ctx.audit.record(event, detail={"address": self.address},
                                  outcome={"status": "ok", "reason": f"local API {what}"})
        except EnclaveError as exc:
            log.warning("could not audit the API being %s: %s", what, exc.message)

    def __enter__(self) -> ApiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
