"""The ASGI application: the gate every request passes, then three routes.

The gate runs before any route and before any body is read, in this order: the Host header
must name this server (DNS rebinding), no browser may call (an ``Origin`` or fetch-metadata
header is refused; there is no CORS), the bearer token must be valid with the route's scope,
and a declared body must fit. Only then does a route read the body — within a size and a time
limit — parse it, validate it and queue it for the engine.

Routes: ``GET /v1/models``, ``POST /v1/chat/completions`` (JSON or server-sent events),
``POST /v1/embeddings``. There is nothing else: no model management, no file access.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.api.auth import Authenticator
from app.core.api.binding import Binding, host_allowed
from app.core.api.embeddings import Embeddings
from app.core.api.errors import ApiError, bad_request, forbidden
from app.core.api.limits import Limits
from app.core.api.models import ModelList
from app.core.api.queue import Job, Lane
from app.core.api.requests import chat_request, embeddings_request, parse_json, sampling
from app.core.api.responses import (
    BodyResponse,
    CompletionResponse,
    StreamResponse,
    error_response,
)
from app.core.api.tokens import Grant
from app.core.api.turns import ApiTurns
from app.core.routing import LOCAL, decide_route

log = logging.getLogger(__name__)

# The scope each route needs; a route not listed needs a valid token and nothing more.
ROUTE_SCOPES = {"/v1/chat/completions": "chat", "/v1/embeddings": "embeddings"}
_BROWSER_HEADERS = (b"origin", b"sec-fetch-site", b"sec-fetch-mode")


@dataclass
class Services:
    """What the routes need, built once by the server."""

    binding: Binding
    limits: Limits
    auth: Authenticator
    models: ModelList
    turns: ApiTurns
    embeddings: Embeddings
    chat_lane: Lane
    embed_lane: Lane
    policy: Any
    user: str
    groups: list[str]


class Gate:
    """The checks before any route (see the module's docstring)."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Admit the request to the routes, or answer it with the reason it was refused."""
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, receive, send)
            return  # websockets: nothing here speaks them
        headers = {k: v for k, v in scope["headers"]}
        try:
            grant = await self._admit(scope, headers)
        except ApiError as error:
            await error_response(error, close=True)(scope, receive, send)
            return
        scope.setdefault("state", {})["grant"] = grant
        await self.app(scope, receive, send)

    async def _admit(self, scope: Scope, headers: dict[bytes, bytes]) -> Grant:
        s = self.services
        size = sum(len(k) + len(v) + 4 for k, v in scope["headers"])
        if size > s.limits.max_header_bytes:  # h11 counts only headers still arriving
            raise ApiError(431, f"The request's headers are larger than "
                           f"{s.limits.max_header_bytes:,} bytes.", code="headers_too_large")
        host = headers.get(b"host", b"").decode("latin-1")
        if not host_allowed(s.binding, host):
            raise ApiError(421, "The Host header does not name this server.",
                           code="invalid_host")
        if any(h in headers for h in _BROWSER_HEADERS) or scope["method"] == "OPTIONS":
            raise forbidden("Web pages may not call Enclave's API (no CORS).",
                            "cross_origin_refused")
        try:
            grant = s.auth.check(_text(headers.get(b"authorization")),
                                 ROUTE_SCOPES.get(scope["path"], ""))
        except ApiError as error:
            if error.status == 401:
                client = scope.get("client") or ("local", 0)
                await asyncio.sleep(s.auth.failed(str(client[0])))
            raise
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > s.limits.max_body_bytes):
            raise ApiError(413, f"The body is larger than {s.limits.max_body_bytes:,} bytes.",
                           code="request_too_large")
        return grant


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


async def read_body(request: Request, limits: Limits) -> bytes:
    """The whole body, at most ``max_body_bytes``, within ``body_timeout_s``.

    Raises:
        ApiError: 413 too large, 408 too slow, 400 when the client left.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(limits.body_timeout_s):
            while True:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    raise bad_request("The client closed the connection.")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limits.max_body_bytes:
                    raise ApiError(413, f"The body is larger than {limits.max_body_bytes:,} "
                                   "bytes.", code="request_too_large")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise ApiError(408, f"The body did not arrive within {limits.body_timeout_s:g} s.",
                       code="request_timeout") from None


def _grant(request: Request) -> Grant:
    grant: Grant = request.scope["state"]["grant"]
    return grant


def _check_route(s: Services, grant: Grant) -> None:
    """A remote route must still be open to the user and must not need confirmation."""
    if grant.route == LOCAL:
        return
    decision = decide_route(s.policy, requested=grant.route, user=s.user, groups=s.groups)
    if not decision.allowed:
        raise forbidden(f"The route {grant.route!r} is not open: {decision.reason}",
                        "route_refused")
    if decision.must_confirm:
        raise forbidden(f"The route {grant.route!r} requires confirming each request, which "
                        "cannot be done over the API.", "confirmation_required")


def routes(s: Services) -> list[Route]:
    """The API's routes, bound to the services."""

    async def models(request: Request) -> Response:
        return Response(s.models.encoded(_grant(request)), media_type="application/json")

    async def chat(request: Request) -> Response:
        grant = _grant(request)
        body = chat_request(parse_json(await read_body(request, s.limits), s.limits), s.limits)
        s.models.check_chat(grant, body.model)
        _check_route(s, grant)
        changes = sampling(body, s.turns.context_length if grant.route == LOCAL else 0)
        job = _job(grant, lambda job: s.turns.run(job, grant, body, changes))
        s.chat_lane.submit(job)
        if body.stream:
            usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamResponse(job, s.chat_lane, s.limits, body.model, usage)
        return CompletionResponse(job, s.chat_lane, s.limits, body.model)

    async def embeddings(request: Request) -> Response:
        grant = _grant(request)
        body = embeddings_request(parse_json(await read_body(request, s.limits), s.limits),
                                  s.limits)
        s.models.check_embedding(body.model)
        job = _job(grant, lambda job: s.embeddings.run(job, grant, body))
        s.embed_lane.submit(job)
        return BodyResponse(job, s.embed_lane, s.limits)

    return [Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"])]


def _job(grant: Grant, work: Callable[[Job], None]) -> Job:
    return Job(grant.name, work, asyncio.get_running_loop())


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    message = "There is no such route here." if exc.status_code == 404 else str(exc.detail)
    return error_response(ApiError(exc.status_code, message, kind=kind))


def build_app(services: Services) -> ASGIApp:
    """The whole ASGI application."""
    inner = Starlette(routes=routes(services),
                      exception_handlers={ApiError: _api_error, HTTPException: _http_error})
    return Gate(inner, services)
