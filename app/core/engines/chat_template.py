"""Render a model's chat template safely, keeping user text out of control tokens.

Templates come from model files, so they are untrusted code: they render in Jinja2's
ImmutableSandboxedEnvironment (llama-cpp-python uses the same), and a template that reaches
for Python internals fails with ``ChatTemplateError`` instead of executing.

Message contents are rendered as unique sentinels and the output is split on them, so that the
template's own text can be tokenized with special tokens enabled while users' and documents'
text is tokenized as plain text: a message containing ``<|im_start|>system`` stays text.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.core.engines.base import ChatMessage, EngineError

# Used when a GGUF carries no template: ChatML is what most small instruct models expect.
FALLBACK_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class ChatTemplateError(EngineError):
    """The model's chat template is invalid or tried something the sandbox forbids."""


@dataclass(frozen=True)
class Segment:
    """A piece of the rendered prompt; ``trusted`` pieces may contain control tokens."""

    text: str
    trusted: bool


def _raise(message: str) -> None:
    raise jinja2.TemplateError(message)


class ChatTemplate:
    """A compiled, sandboxed chat template."""

    def __init__(self, source: str, *, bos_token: str = "", eos_token: str = "") -> None:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(str(fmt))
        try:
            self._template = env.from_string(source)
        except jinja2.TemplateError as exc:
            raise ChatTemplateError(
                f"The model's chat template does not compile ({type(exc).__name__}).",
                "Use another model file, or one with a standard chat template.",
            ) from None
        self._bos = bos_token
        self._eos = eos_token

    def render(self, messages: Sequence[ChatMessage]) -> list[Segment]:
        """Render the conversation plus the assistant's turn prefix as segments.

        Raises:
            ChatTemplateError: when the template fails or breaks the sandbox's rules.
        """
        tag = secrets.token_hex(8)
        sentinels = [f"\x00{tag}:{i}\x00" for i in range(len(messages))]
        payload: list[dict[str, Any]] = [
            {"role": m.role, "content": s} for m, s in zip(messages, sentinels, strict=True)
        ]
        try:
            rendered = self._template.render(
                messages=payload,
                add_generation_prompt=True,
                bos_token=self._bos,
                eos_token=self._eos,
            )
        except SecurityError:
            raise ChatTemplateError(
                "The model's chat template tried to reach Python internals and was stopped.",
                "This model file may be malicious; remove it and use an approved model.",
            ) from None
        except Exception as exc:  # noqa: BLE001 - template code can raise anything
            raise ChatTemplateError(
                f"The model's chat template failed ({type(exc).__name__}).",
                "Use another model file, or one with a standard chat template.",
            ) from None
        return _split(rendered, sentinels, messages)


def _split(
    rendered: str, sentinels: list[str], messages: Sequence[ChatMessage]
) -> list[Segment]:
    segments: list[Segment] = []
    rest = rendered
    for sentinel, message in zip(sentinels, messages, strict=True):
        before, found, after = rest.partition(sentinel)
        if not found:
            # The template dropped or transformed this message (some drop system prompts).
            continue
        if before:
            segments.append(Segment(before, trusted=True))
        if message.content:
            segments.append(Segment(message.content, trusted=False))
        rest = after
    if "\x00" in rest:
        raise ChatTemplateError(
            "The model's chat template reorders or rewrites messages in a way Enclave "
            "cannot render safely.",
            "Use a model with a standard chat template.",
        )
    if rest:
        segments.append(Segment(rest, trusted=True))
    return segments
