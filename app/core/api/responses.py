"""Answers as OpenAI's clients read them: a whole JSON completion, or server-sent events.

A queued request waits for its job's first event before it sends a status, so a refusal from
the turn (a policy rule, a model that may not load) is still a proper 4xx. While it waits and
while it streams it listens for the client going away: then the job is dropped from the
queue or its generation cancelled at the next token. A client that stops reading for
``send_timeout_s`` is dropped the same way, so it cannot hold the engine's answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.core.api.errors import ApiError, from_enclave_error, internal_error
from app.core.api.limits import Limits
from app.core.api.queue import Job, Lane
from app.core.errors import EnclaveError
from app.core.reasoning import split_reasoning
from app.core.reasoning_stream import Piece, ReasoningStream

log = logging.getLogger(__name__)

_SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
_JSON = [(b"content-type", b"application/json")]


class ClientGone(Exception):
    """The client closed the connection or stopped reading."""


def as_api_error(exc: BaseException) -> ApiError:
    """Any error a job reported, as the API answers it."""
    if isinstance(exc, EnclaveError):
        return from_enclave_error(exc)
    log.error("API request failed: %r", exc)
    return internal_error()


def error_response(error: ApiError, *, close: bool = False) -> Response:
    """The error as a JSON response (``close``: end the connection after it)."""
    headers = dict(error.headers)
    if close:
        headers["Connection"] = "close"
    return Response(error.encoded(), status_code=error.status, headers=headers,
                    media_type="application/json")


class JobResponse(Response):
    """Waits for a job and answers it; subclasses say how.

    Args:
        job: The queued job.
        lane: Its lane (to withdraw it when the client leaves).
        limits: The send timeout.
    """

    def __init__(self, job: Job, lane: Lane, limits: Limits) -> None:
        super().__init__()
        self.job = job
        self.lane = lane
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer, listening for the client leaving meanwhile."""
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await self.answer(send, gone)
        except ClientGone:
            log.info("API client left; its request was withdrawn")
        finally:
            gone.cancel()
            self.lane.withdraw(self.job)  # no-op once it has finished

    async def answer(self, send: Send, gone: asyncio.Future[None]) -> None:
        """Send the response."""
        raise NotImplementedError

    async def next_event(self, gone: asyncio.Future[None]) -> tuple[str, Any]:
        """The job's next event.

        Raises:
            ClientGone: the client left first.
        """
        if not self.job.events.empty():
            return self.job.events.get_nowait()
        getter = asyncio.ensure_future(self.job.events.get())
        waiting: set[asyncio.Future[Any]] = {getter, gone}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()
        raise ClientGone

    async def send_timed(self, send: Send, message: Any) -> None:
        """``send``, unless the client reads nothing for ``send_timeout_s``.

        Raises:
            ClientGone: it did not read in time.
        """
        try:
            await asyncio.wait_for(send(message), self.limits.send_timeout_s)
        except TimeoutError:
            raise ClientGone from None

    async def send_json(self, send: Send, status: int, body: bytes,
                        headers: list[tuple[bytes, bytes]] | None = None) -> None:
        """A whole JSON response."""
        await self.send_timed(send, {"type": "http.response.start", "status": status,
                                     "headers": [*_JSON, *(headers or [])]})
        await self.send_timed(send, {"type": "http.response.body", "body": body})

    async def send_error(self, send: Send, exc: BaseException) -> None:
        """An error before anything else was sent."""
        error = as_api_error(exc)
        headers = [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
        await self.send_json(send, error.status, error.encoded(), headers)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def _usage(completion: Any) -> dict[str, int]:
    return {"prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "total_tokens": completion.prompt_tokens + completion.completion_tokens}


def _finish(completion: Any) -> str:
    return "length" if completion.finish_reason == "length" else "stop"


def _incomplete(completion: Any) -> ApiError | None:
    if completion.finish_reason == "error":
        return ApiError(500, f"The model failed mid-answer: {completion.error or 'unknown'}.",
                        kind="server_error", code="engine_error")
    if completion.finish_reason == "cancelled":
        return ApiError(503, "The answer was stopped (the API is stopping).",
                        kind="server_error")
    return None


def _notes(result: Any) -> dict[str, Any]:
    notes = [n for n in (result.route_note, *result.notes) if n]
    return {"route": result.engine.route, **({"notes": notes} if notes else {})}


class CompletionResponse(JobResponse):
    """``chat.completion``: the whole answer as one JSON object."""

    def __init__(self, job: Job, lane: Lane, limits: Limits, model: str) -> None:
        super().__init__(job, lane, limits)
        self.model = model

    async def answer(self, send: Send, gone: asyncio.Future[None]) -> None:
        """Wait for the turn, then send it."""
        kind, value = await self.next_event(gone)
        while kind == "token":
            kind, value = await self.next_event(gone)
        if kind == "error":
            await self.send_error(send, value)
            return
        completion = value.completion
        failed = _incomplete(completion)
        if failed is not None:
            await self.send_error(send, failed)
            return
        reasoned = split_reasoning(completion.text)  # thinking apart, as DeepSeek and vLLM do
        message = {"role": "assistant", "content": reasoned.answer,
                   **({"reasoning_content": reasoned.thinking} if reasoned.has_thinking else {})}
        body = {
            "id": _completion_id(), "object": "chat.completion", "created": int(time.time()),
            "model": self.model, "system_fingerprint": None,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": _finish(completion), "logprobs": None}],
            "usage": _usage(completion), "enclave": _notes(value),
        }
        await self.send_json(send, 200, json.dumps(body, ensure_ascii=False).encode())


class StreamResponse(JobResponse):
    """``chat.completion.chunk`` events, one per piece of the answer, then ``[DONE]``."""

    def __init__(self, job: Job, lane: Lane, limits: Limits, model: str, usage: bool) -> None:
        super().__init__(job, lane, limits)
        self.model = model
        self.usage = usage
        self.id = _completion_id()
        self.created = int(time.time())

    def _chunk(self, delta: dict[str, Any] | None, finish: str | None = None,
               **extra: Any) -> bytes:
        choices = [] if delta is None else [
            {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
        body = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "system_fingerprint": None, "choices": choices, **extra}
        return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"

    async def answer(self, send: Send, gone: asyncio.Future[None]) -> None:
        """Wait for the first piece (or a refusal), then stream."""
        kind, value = await self.next_event(gone)
        if kind == "error":
            await self.send_error(send, value)
            return
        await self.send_timed(send, {"type": "http.response.start", "status": 200,
                                     "headers": _SSE_HEADERS})
        out = self._chunk({"role": "assistant", "content": ""})
        reasoning = ReasoningStream()
        while kind == "token":
            out += self._deltas(reasoning.feed(value))
            if self.job.events.empty():
                await self._body(send, out)
                out = b""
                kind, value = await self.next_event(gone)
            else:  # whatever else arrived already goes in the same write
                kind, value = self.job.events.get_nowait()
        out += self._deltas(reasoning.finish())
        await self._body(send, out + self._ending(kind, value) + b"data: [DONE]\n\n", last=True)

    def _deltas(self, pieces: list[Piece]) -> bytes:
        """Reasoning as ``reasoning_content``, the answer as ``content``.

        Text a lone closing marker shows was reasoning has gone out as content already; the
        stream cannot take it back, so it is not sent twice.
        """
        field = {"thinking": "reasoning_content", "answer": "content"}
        return b"".join(self._chunk({field[p.kind]: p.text}) for p in pieces
                        if p.kind in field)

    def _ending(self, kind: str, value: Any) -> bytes:
        if kind == "error":
            error = as_api_error(value)
            return b"data: " + error.encoded() + b"\n\n"
        completion = value.completion
        failed = _incomplete(completion)
        if failed is not None:
            return b"data: " + failed.encoded() + b"\n\n"
        out = self._chunk({}, _finish(completion), enclave=_notes(value))
        if self.usage:
            out += self._chunk(None, usage=_usage(completion))
        return out

    async def _body(self, send: Send, data: bytes, *, last: bool = False) -> None:
        await self.send_timed(send, {"type": "http.response.body", "body": data,
                                     "more_body": not last})


class BodyResponse(JobResponse):
    """A job whose result is a whole JSON body (embeddings)."""

    async def answer(self, send: Send, gone: asyncio.Future[None]) -> None:
        """Wait for the job, then send its body."""
        kind, value = await self.next_event(gone)
        if kind == "error":
            await self.send_error(send, value)
            return
        await self.send_json(send, 200, value)
