"""Rendering a conversation for export (Markdown or JSON)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

from app.core.store.records import Conversation, Message

FORMATS = ("md", "json")


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def render(conversation: Conversation, messages: list[Message], fmt: str) -> str:
    """Render a conversation and its messages.

    Args:
        conversation: The header.
        messages: Its messages, oldest first.
        fmt: ``"md"`` or ``"json"``.

    Raises:
        ValueError: for any other format.
    """
    if fmt == "json":
        return json.dumps(
            {
                "conversation": dataclasses.asdict(conversation),
                "messages": [dataclasses.asdict(m) for m in messages],
            },
            ensure_ascii=False,
            indent=2,
        )
    if fmt != "md":
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    lines = [f"# {conversation.title}", "", f"_Started {_stamp(conversation.created)}_", ""]
    for m in messages:
        header = f"## {m.role}"
        if m.model_id:
            header += f" ({m.model_id})"
        if not m.complete:
            header += " — incomplete"
        lines += [header, "", m.text, ""]
    return "\n".join(lines)
