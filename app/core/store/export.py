"""Rendering a conversation for export (Markdown or JSON; PDF prints the Markdown).

An export says what each answer was grounded on: its numbered sources (label, collection,
file, page or section, the document's digest when it was cited) sit under the answer, and the
collections the conversation answers from head it. Source markers a model copied into an
answer are left out, as every face leaves them out. So is a reasoning model's thinking,
unless asked for (``include_thinking``): then it is marked as such, before the answer (a
"Thinking" section in Markdown, a ``thinking`` field in JSON), never mixed into it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from app.core.reasoning import split_reasoning
from app.core.source_markers import strip_source_markers
from app.core.store.records import Conversation, Message, StoredSource

FORMATS = ("md", "json")


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _shown(m: Message) -> tuple[Message, str]:
    """The message as exported, and its reasoning ("" for none)."""
    if m.role != "assistant":
        return m, ""
    reasoned = split_reasoning(m.text)
    text, removed = strip_source_markers(reasoned.answer)
    if removed or reasoned.has_thinking:
        m = dataclasses.replace(m, text=text)
    return m, reasoned.thinking


def source_record(s: StoredSource) -> dict[str, Any]:
    """One cited source as an export lists it (the passage's text stays in the history)."""
    return {"n": s.n, "label": s.label, "collection": s.collection, "file": s.file,
            "page": s.page, "heading": s.heading, "sha256": s.sha256}


def _source_line(s: StoredSource) -> str:
    digest = f", sha256 {s.sha256}" if s.sha256 else ""
    return f"- [{s.n}] {s.label} — collection {s.collection}, file {s.file}{digest}"


def render(
    conversation: Conversation,
    messages: list[Message],
    fmt: str,
    *,
    sources: Mapping[int, Sequence[StoredSource]] | None = None,
    scope: Sequence[str] = (),
    include_thinking: bool = False,
) -> str:
    """Render a conversation and its messages.

    Args:
        conversation: The header.
        messages: Its messages, oldest first.
        fmt: ``"md"`` or ``"json"``.
        sources: Each answer's stored sources, by message id.
        scope: The collections the conversation answers from.
        include_thinking: Export each answer's reasoning too, marked, before the answer.

    Raises:
        ValueError: for any other format.
    """
    sources = sources or {}
    shown = [_shown(m) for m in messages]
    if fmt == "json":
        return json.dumps(
            {
                "conversation": dataclasses.asdict(conversation),
                "collections": list(scope),
                "messages": [
                    {**dataclasses.asdict(m),
                     **({"thinking": thinking} if include_thinking and thinking else {}),
                     "sources": [source_record(s) for s in sources.get(m.id, ())]}
                    for m, thinking in shown
                ],
            },
            ensure_ascii=False,
            indent=2,
        )
    if fmt != "md":
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    lines = [f"# {conversation.title}", "", f"_Started {_stamp(conversation.created)}_", ""]
    if scope:
        lines += [f"_Answers from the collections: {', '.join(scope)}_", ""]
    for m, thinking in shown:
        header = f"## {m.role}"
        if m.model_id:
            header += f" ({m.model_id})"
        if not m.complete:
            header += " — incomplete"
        lines += [header, ""]
        if include_thinking and thinking:
            lines += _thinking_lines(thinking)
        lines += [m.text, ""]
        cited = sources.get(m.id, ())
        if cited:
            lines += ["Sources:", "", *(_source_line(s) for s in cited), ""]
    return "\n".join(lines)


def _thinking_lines(thinking: str) -> list[str]:
    """Reasoning as a quoted "Thinking" section: it reads as aside, not as the answer."""
    quoted = [f"> {line}" if line.strip() else ">" for line in thinking.splitlines()]
    return ["> **Thinking**", ">", *quoted, ""]
