"""What a request body may be: JSON parsed safely, then checked field by field.

Bodies are parsed only after their size is checked, and only after their nesting is measured
without recursion (a 10,000-level array would otherwise reach the parser's recursion limit).
The request models follow OpenAI's names; a parameter Enclave does not support is refused
with a 400 naming it, never silently ignored. Sampling values go through the settings' own
bounds (``validate_generation``), so the API accepts exactly what ``enclave ask`` accepts.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.core.api.errors import ApiError, bad_request
from app.core.api.limits import Limits

# A JSON string (skipped whole) or a bracket: nesting is counted on these alone.
_STRUCTURE = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes, limits: Limits) -> Any:
    """The body as JSON data.

    Raises:
        ApiError: 400 for anything that is not one JSON document of bounded depth.
    """
    depth = 0
    for match in _STRUCTURE.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limits.max_json_depth:
                raise bad_request(f"The JSON body nests deeper than {limits.max_json_depth} "
                                  "levels.", code="json_too_deep")
        elif token in (b"]", b"}"):
            depth -= 1
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = str(exc).split("\n", 1)[0][:120]
        raise bad_request(f"The body is not valid JSON ({reason}).", code="invalid_json") from None


class _Body(BaseModel):
    # strict: "max_tokens": "5" is a mistake to report, not to guess at.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class TextPart(_Body):
    """One part of a message's content; only text is supported."""

    type: Literal["text"]
    text: str


class ChatMessageIn(_Body):
    """One message of a chat request."""

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None

    def text(self) -> str:
        """The message's text (parts joined)."""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(_Body):
    """``stream_options``."""

    include_usage: bool = False


class ChatRequest(_Body):
    """``POST /v1/chat/completions``."""

    model: str = Field(min_length=1, max_length=256)
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    user: str | None = None

    def stops(self) -> tuple[str, ...]:
        """The stop sequences as a tuple."""
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class EmbeddingsRequest(_Body):
    """``POST /v1/embeddings``."""

    model: str = Field(min_length=1, max_length=256)
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None

    def texts(self) -> list[str]:
        """The inputs as a list."""
        return [self.input] if isinstance(self.input, str) else list(self.input)


def _where(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"])


def validated(model: type[_Body], data: Any) -> Any:
    """``data`` as ``model``.

    Raises:
        ApiError: 400 naming the first field at fault.
    """
    if not isinstance(data, dict):
        raise bad_request("The body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = _where(first)
        if first["type"] == "extra_forbidden":
            raise bad_request(f"The parameter {where!r} is not supported by Enclave's API.",
                              param=where, code="unsupported_parameter") from None
        raise bad_request(f"{where}: {first['msg']}.", param=where) from None


def chat_request(data: Any, limits: Limits) -> ChatRequest:
    """A checked chat request: shape, then what Enclave supports of it.

    Raises:
        ApiError: 400 naming the parameter.
    """
    request: ChatRequest = validated(ChatRequest, data)
    if len(request.messages) > limits.max_messages:
        raise bad_request(f"At most {limits.max_messages} messages per request.", "messages")
    if request.messages[-1].role != "user":
        raise bad_request("The last message must be the user's (role 'user').", "messages")
    if request.n not in (None, 1):
        raise bad_request("Only one choice per request (n = 1) is supported.", "n")
    for name in ("presence_penalty", "frequency_penalty"):
        if getattr(request, name) not in (None, 0, 0.0):
            raise bad_request(f"{name} is not supported; leave it out.", name)
    stops = request.stops()
    if len(stops) > limits.max_stop or any(not s or len(s) > 64 for s in stops):
        raise bad_request(f"At most {limits.max_stop} stop sequences of 1 to 64 characters.",
                          "stop")
    if request.max_tokens is not None and request.max_completion_tokens is not None:
        raise bad_request("Give max_tokens or max_completion_tokens, not both.",
                          "max_completion_tokens")
    return request


def sampling(request: ChatRequest, context_length: int) -> dict[str, Any]:
    """The request's sampling overrides, each within the settings' bounds.

    ``max_tokens`` must also leave room in the model's context (``context_length`` tokens).

    Raises:
        ApiError: 400 naming the first value out of bounds.
    """
    from app.core.settings_schema import InvalidSettingValue, validate_generation

    limit = request.max_completion_tokens
    limit_name = "max_completion_tokens"
    if limit is None:
        limit, limit_name = request.max_tokens, "max_tokens"
    asked = {"max_tokens": (limit_name, limit), "temperature": ("temperature", request.temperature),
             "top_p": ("top_p", request.top_p), "top_k": ("top_k", request.top_k),
             "seed": ("seed", request.seed)}
    changes: dict[str, Any] = {}
    for setting, (param, value) in asked.items():
        try:
            changes.update(validate_generation(**{setting: value}))
        except InvalidSettingValue as exc:
            raise bad_request(exc.message.replace(f"generation.{setting}", param),
                              param) from None
    if limit is not None and context_length > 0 and limit >= context_length:
        raise bad_request(f"{limit_name} {limit} does not fit the model's context of "
                          f"{context_length} tokens; ask for fewer.", limit_name,
                          "context_length_exceeded")
    return changes


def embeddings_request(data: Any, limits: Limits) -> EmbeddingsRequest:
    """A checked embeddings request.

    Raises:
        ApiError: 400 naming the parameter.
    """
    request: EmbeddingsRequest = validated(EmbeddingsRequest, data)
    texts = request.texts()
    if not texts or len(texts) > limits.max_embedding_inputs:
        raise bad_request(f"Give 1 to {limits.max_embedding_inputs} texts.", "input")
    if any(not text for text in texts):
        raise bad_request("An input text is empty.", "input")
    return request


def check_dimensions(request: EmbeddingsRequest, dim: int) -> None:
    """Refuse a ``dimensions`` the model does not have.

    Raises:
        ApiError: 400.
    """
    if request.dimensions not in (None, dim):
        raise ApiError(400, f"This model's vectors have {dim} dimensions.", param="dimensions")
