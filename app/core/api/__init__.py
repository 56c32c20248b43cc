"""A local OpenAI-compatible API, secure by default.

``enclave serve`` (and the GUI's switch) start an :class:`ApiServer` on a session from
``open_app``: off unless policy turns it on (``api.enabled``), on a private Unix socket or
127.0.0.1 unless managed policy names another address (then only with TLS), answering only
bearer tokens made with ``enclave api tokens create`` (kept as hashes in the history). Every
chat request is a turn of ``ChatService.send``: the model allowlist, routing, redaction and
the audit record apply as they do to ``enclave ask``.

Start it::

    binding = plan_binding(ctx.policy, port=None)      # raises ApiRefused when policy says no
    server = ApiServer(ctx, binding)
    address = server.start()                           # serves in background threads
    ...
    server.stop()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.core.api.binding import Binding, check_enabled, default_socket, plan_binding
from app.core.api.errors import ApiConfigError, ApiError, ApiRefused
from app.core.api.limits import Limits
from app.core.api.tokens import Grant, NewToken, create_token, describe, revoke_token

if TYPE_CHECKING:
    from app.core.api.server import ApiServer


def __getattr__(name: str) -> Any:
    # The server (Starlette, uvicorn: ~0.4 s of imports) loads when first asked for, not with
    # the window's API switch, which is off unless policy turns the API on.
    if name == "ApiServer":
        from app.core.api.server import ApiServer

        return ApiServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ApiConfigError",
    "ApiError",
    "ApiRefused",
    "ApiServer",
    "Binding",
    "Grant",
    "Limits",
    "NewToken",
    "check_enabled",
    "create_token",
    "default_socket",
    "describe",
    "plan_binding",
    "revoke_token",
]
