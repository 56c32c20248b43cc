"""Remote engines: an OpenAI-compatible server or Anthropic's Messages API, as ``ChatEngine``s.

Both use the vendors' official SDKs pointed at the policy's ``base_url`` through our own HTTP
client (verifying TLS, the policy's proxy, bounded timeouts) with SDK retries off, so a 429 or
a 5xx reaches the user as a clear, typed error instead of a silent wait. The engines send what
they are given: redaction and routing happen before (``app.core.guard``, ``app.core.routing``).

A failure before any text arrived raises a ``RemoteError``; a failure after some text arrived
returns ``Completion(finish_reason="error", text=<partial>, error=<message>)`` so the partial
answer is kept like a cancelled one.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.engines.base import (
    ChatEngine,
    ChatMessage,
    Completion,
    EngineInfo,
    FinishReason,
    GenerationParams,
    TokenCallback,
)
from app.core.engines.remote_errors import (
    RemoteConfigError,
    RemoteError,
    RemoteStreamCut,
    classify,
)
from app.core.engines.remote_http import RemoteTimeouts, endpoint_host, make_http_client

# The SDKs insist on a key; a server without authentication ignores this one.
_NO_KEY = "no-key-configured"


@dataclass
class _Event:
    """One normalized piece of a streamed answer."""

    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish: FinishReason | None = None


@dataclass
class _Received:
    """What a stream delivered: its text, usage, how it ended, and any failure."""

    pieces: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    first_at: float = 0.0
    finish: FinishReason = "stop"
    error: RemoteError | None = None

    def completion(self, started: float) -> Completion:
        """The ``Completion`` for an answer whose request began at ``started``."""
        ended = time.perf_counter()
        completion_tokens = self.completion_tokens or len(self.pieces)
        rate = (
            (completion_tokens - 1) / (ended - self.first_at)
            if completion_tokens > 1 and ended > self.first_at and self.pieces
            else 0.0
        )
        return Completion(
            text="".join(self.pieces),
            finish_reason="error" if self.error is not None else self.finish,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=completion_tokens,
            ttft_s=(self.first_at - started) if self.pieces else 0.0,
            total_s=ended - started,
            tokens_per_s=rate,
            error=None if self.error is None else self.error.message,
        )


class _RemoteEngine:
    """What both protocols share: the stream loop, cancellation, timing and error handling."""

    kind = ""

    def __init__(
        self,
        endpoint: Mapping[str, Any],
        api_key: str | None,
        *,
        model: str | None = None,
        timeouts: RemoteTimeouts | None = None,
    ) -> None:
        self._endpoint = dict(endpoint)
        self._name = str(endpoint["name"])
        self._host = endpoint_host(endpoint)
        models = [str(m) for m in endpoint.get("models") or []]
        if model is not None and models and model not in models:
            raise RemoteConfigError(
                f"The model {model!r} is not offered on {self._name}.",
                f"Pick one of: {', '.join(models)}.",
            )
        chosen = model or (models[0] if models else None)
        if not chosen:
            raise RemoteConfigError(
                f"The endpoint {self._name} lists no model.",
                "Ask your administrator to add the endpoint's models to the policy.",
            )
        self._model = chosen
        self._http = make_http_client(endpoint, timeouts or RemoteTimeouts())
        self._client = self._make_client(api_key or _NO_KEY)
        self._info = EngineInfo(
            model_id=chosen,
            model_sha256="",
            route=self._name,
            device="remote",
            extra={
                "classification": str(endpoint.get("classification", "external")),
                "kind": self.kind,
                "host": self._host,
            },
        )

    def _make_client(self, api_key: str) -> Any:
        raise NotImplementedError

    def _open(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Any:
        """Send the request; return the SDK's stream (iterable, with ``close()``)."""
        raise NotImplementedError

    def _events(self, stream: Any) -> Iterator[_Event]:
        raise NotImplementedError

    @property
    def info(self) -> EngineInfo:
        """Who is answering: the endpoint's name as route, ``remote`` as device."""
        return self._info

    def stream(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        on_token: TokenCallback,
        cancel: threading.Event | None = None,
    ) -> Completion:
        """Stream an answer from the endpoint; see ``ChatEngine.stream``.

        Raises:
            RemoteError: the request failed before any text arrived.
        """
        started = time.perf_counter()
        try:
            stream = self._open(messages, params)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a typed RemoteError
            raise classify(exc, self._name, self._host, streaming=False) from exc
        try:
            got = self._receive(stream, on_token, cancel)
        finally:
            # Closing the SDK stream closes the HTTP response: a cancelled answer stops
            # costing tokens on the server as soon as it notices.
            with contextlib.suppress(Exception):  # already failing or done: nothing to add
                stream.close()
        if got.error is not None and not got.pieces:
            raise got.error
        return got.completion(started)

    def _receive(
        self, stream: Any, on_token: TokenCallback, cancel: threading.Event | None
    ) -> _Received:
        """Read the stream to its end, a cancel or a failure, passing text to ``on_token``.

        A failure, or an end without the closing event, is kept in ``error`` with the text
        received so far; the caller decides whether to raise it.
        """
        got = _Received()
        finished = False
        try:
            for event in self._events(stream):
                if cancel is not None and cancel.is_set():
                    got.finish = "cancelled"
                    break
                if event.text:
                    if not got.pieces:
                        got.first_at = time.perf_counter()
                    got.pieces.append(event.text)
                    on_token(event.text)
                if event.prompt_tokens is not None:
                    got.prompt_tokens = event.prompt_tokens
                if event.completion_tokens is not None:
                    got.completion_tokens = event.completion_tokens
                if event.finish is not None:
                    got.finish, finished = event.finish, True
            else:
                if not finished:
                    # The stream ended without its closing event: the connection was cut.
                    got.error = RemoteStreamCut(
                        f"The remote endpoint {self._name} ({self._host}) ended the answer "
                        "before it was complete.",
                        "The partial answer is kept; send the message again to retry.",
                    )
        except Exception as exc:  # noqa: BLE001 - classified here, partial text kept
            got.error = classify(exc, self._name, self._host, streaming=True)
            got.error.__cause__ = exc
        return got

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()


class OpenAIEngine(_RemoteEngine):
    """An OpenAI-compatible Chat Completions endpoint (OpenAI, vLLM, llama.cpp server…)."""

    kind = "openai"

    def __init__(
        self,
        endpoint: Mapping[str, Any],
        api_key: str | None,
        *,
        model: str | None = None,
        timeouts: RemoteTimeouts | None = None,
    ) -> None:
        super().__init__(endpoint, api_key, model=model, timeouts=timeouts)
        self._usage_option = True  # dropped once if the server refuses stream_options

    def _make_client(self, api_key: str) -> Any:
        import openai

        return openai.OpenAI(
            api_key=api_key,
            base_url=str(self._endpoint["base_url"]),
            http_client=self._http,
            max_retries=0,
        )

    def _request(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Any:
        extra: dict[str, Any] = {}
        if self._usage_option:
            extra["stream_options"] = {"include_usage": True}
        if params.stop:
            extra["stop"] = list(params.stop)[:4]
        if params.seed >= 0:
            extra["seed"] = params.seed
        return self._client.chat.completions.create(
            model=self._model,
            messages=[{"role": m.role, "content": m.content} for m in messages],
            stream=True,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            **extra,
        )

    def _open(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Any:
        try:
            return self._request(messages, params)
        except Exception as exc:
            # Older compatible servers reject stream_options with a 400; usage then comes
            # from counting pieces.
            if getattr(exc, "status_code", None) == 400 and self._usage_option:
                self._usage_option = False
                return self._request(messages, params)
            raise

    def _events(self, stream: Any) -> Iterator[_Event]:
        for chunk in stream:
            event = _Event()
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                event.prompt_tokens = getattr(usage, "prompt_tokens", None)
                event.completion_tokens = getattr(usage, "completion_tokens", None)
            for choice in getattr(chunk, "choices", None) or []:
                delta = getattr(choice, "delta", None)
                content = getattr(delta, "content", None)
                if isinstance(content, str):
                    event.text += content
                reason = getattr(choice, "finish_reason", None)
                if reason is not None:
                    event.finish = "length" if reason == "length" else "stop"
            yield event


def _anthropic_messages(
    messages: Sequence[ChatMessage],
) -> tuple[str | None, list[dict[str, str]]]:
    """System text apart; the rest merged so roles alternate, starting with the user."""
    system = "\n\n".join(m.content for m in messages if m.role == "system") or None
    turns: list[dict[str, str]] = []
    for m in messages:
        if m.role == "system":
            continue
        if turns and turns[-1]["role"] == m.role:
            turns[-1]["content"] += "\n\n" + m.content
        else:
            turns.append({"role": m.role, "content": m.content})
    if turns and turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": "(conversation continues)"})
    return system, turns


class AnthropicEngine(_RemoteEngine):
    """Anthropic's Messages API with streaming (``base_url`` without ``/v1``)."""

    kind = "anthropic"

    def _make_client(self, api_key: str) -> Any:
        import anthropic

        return anthropic.Anthropic(
            api_key=api_key,
            base_url=str(self._endpoint["base_url"]),
            http_client=self._http,
            max_retries=0,
        )

    def _open(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Any:
        system, turns = _anthropic_messages(messages)
        extra: dict[str, Any] = {}
        if system:
            extra["system"] = system
        if params.stop:
            extra["stop_sequences"] = list(params.stop)
        # No sampling parameters: this SDK's Messages.create no longer takes temperature or
        # top_p (current models choose their own), so only length and stops are sent.
        return self._client.messages.create(
            model=self._model,
            max_tokens=params.max_tokens,
            messages=turns,
            stream=True,
            **extra,
        )

    def _events(self, stream: Any) -> Iterator[_Event]:
        for sse in stream:
            kind = getattr(sse, "type", None)
            event = _Event()
            if kind == "message_start":
                usage = getattr(getattr(sse, "message", None), "usage", None)
                event.prompt_tokens = getattr(usage, "input_tokens", None)
            elif kind == "content_block_delta":
                delta = getattr(sse, "delta", None)
                if getattr(delta, "type", None) == "text_delta":
                    event.text = str(getattr(delta, "text", ""))
            elif kind == "message_delta":
                usage = getattr(sse, "usage", None)
                event.completion_tokens = getattr(usage, "output_tokens", None)
                reason = getattr(getattr(sse, "delta", None), "stop_reason", None)
                if reason is not None:
                    event.finish = "length" if reason == "max_tokens" else "stop"
            elif kind == "message_stop":
                yield event
                return
            yield event


def build_engine(
    endpoint: Mapping[str, Any],
    key: str | None,
    *,
    model: str | None = None,
    timeouts: RemoteTimeouts | None = None,
) -> ChatEngine:
    """The engine for one endpoint of the policy's ``connector.endpoints``.

    Args:
        endpoint: The endpoint's policy entry (``RouteDecision.endpoint``).
        key: Its API key (``load_api_key(endpoint)``), or None for a server without auth.
        model: One of the endpoint's ``models``; None picks the first.
        timeouts: Connect/read limits; None: 10 s to connect, 60 s between pieces.

    Raises:
        RemoteConfigError: the endpoint's kind, model, CA bundle or proxy cannot be used.
    """
    kind = endpoint.get("kind")
    if kind == "openai":
        return OpenAIEngine(endpoint, key, model=model, timeouts=timeouts)
    if kind == "anthropic":
        return AnthropicEngine(endpoint, key, model=model, timeouts=timeouts)
    raise RemoteConfigError(
        f"The endpoint {endpoint.get('name')} has an unknown kind {kind!r}.",
        "Ask your administrator to set kind to openai or anthropic.",
    )
