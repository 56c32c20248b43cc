"""Renaming, exporting and deleting conversations: the policy decides, the audit log remembers.

The GUI and the CLI both call these, so an export that policy forbids is refused the same way
everywhere, every export and deletion leaves an audit record, and a title is checked once.
"""

from __future__ import annotations

import hashlib
from typing import Any

from app.core.audit import events
from app.core.errors import EnclaveError, ExitCode
from app.core.inputs import InvalidInput, one_line

MAX_TITLE_CHARS = 200
"""The longest title kept: the list shows one line, and a title is a name, not a message."""



def clean_title(title: str) -> str:
    """A conversation title as it is stored: NFKC, one line, nothing invisible.

    Line breaks and tabs become spaces, control and zero-width characters are dropped, runs
    of spaces become one, and the ends are trimmed.

    Raises:
        InvalidInput: nothing visible is left, or it is over :data:`MAX_TITLE_CHARS`.
    """
    text = one_line(title)
    if not text:
        raise InvalidInput("A conversation needs a title: this one is empty.",
                           "Type a title with at least one letter, digit or symbol.")
    if len(text) > MAX_TITLE_CHARS:
        raise InvalidInput(
            f"The title is too long ({len(text):,} characters; the limit is "
            f"{MAX_TITLE_CHARS}).", "Shorten the title.")
    return text


def rename_conversation(history: Any, conversation_id: int, title: str) -> str:
    """Give a conversation the title the user typed, cleaned; returns the title stored.

    Raises:
        InvalidInput: the title is empty or too long (see :func:`clean_title`).
        EnclaveError: there is no saved history, or the conversation is gone.
    """
    cleaned = clean_title(title)
    if history is None:
        raise EnclaveError("This session is not saved, so there is nothing to rename.",
                           "Restart Enclave with saving on.")
    history.rename(conversation_id, cleaned)
    return cleaned


class ExportNotAllowed(EnclaveError):
    """The organization's policy turns exporting off."""

    exit_code = ExitCode.REFUSED


def export_allowed(policy: Any) -> bool:
    """Whether the policy lets this user export conversations."""
    return bool(policy.get("history.export_allowed"))


def export_conversation(
    policy: Any, history: Any, audit: Any, conversation_id: int, fmt: str, *, path: str = "",
    include_thinking: bool = False,
) -> str:
    """The conversation as text (``md`` or ``json``; ``pdf`` gets Markdown to print).

    Answers leave their reasoning ("thinking") out unless ``include_thinking``; the audit
    record says which.

    Each answer's sources go with it. The audit record is written before the text is
    returned, so no copy leaves unrecorded; it lists the digests of the documents the
    exported answers cite (never their text).

    Raises:
        ExportNotAllowed: the policy turns export off.
        EnclaveError: there is no saved history, or the conversation is gone.
    """
    if not export_allowed(policy):
        raise ExportNotAllowed(
            "Exporting conversations is turned off by your organization.",
            "Ask your administrator if you need a copy.")
    if history is None:
        raise EnclaveError("This session is not saved, so there is nothing to export.",
                           "Restart Enclave with saving on.")
    text = str(history.export_conversation(conversation_id, "json" if fmt == "json" else "md",
                                           include_thinking=include_thinking))
    if audit is not None:
        audit.record(
            events.HISTORY_EXPORTED,
            conversation_id=conversation_id,
            detail={"format": fmt, "file": path, "thinking": include_thinking,
                    **_cited(history, conversation_id)},
            outcome={"status": events.OK, "reason": f"exported as {fmt}"},
        )
    return text


_MAX_LISTED = 500  # a long conversation's record stays readable; the count says the rest


def _cited(history: Any, conversation_id: int) -> dict[str, Any]:
    """The exported answers' sources as the audit log keeps them: digests, no text."""
    stored = history.sources_for(m.id for m in history.messages(conversation_id))
    cited = [{"message_id": mid, "n": s.n, "collection": s.collection, "sha256": s.sha256,
              "passage_sha256": hashlib.sha256(s.text.encode()).hexdigest()}
             for mid, sources in sorted(stored.items()) for s in sources]
    if not cited:
        return {}
    return {"sources": cited[:_MAX_LISTED], "source_count": len(cited)}


def delete_conversation(history: Any, audit: Any, conversation_id: int) -> None:
    """Delete a conversation (messages and search rows) and record it."""
    history.delete_conversation(conversation_id)
    if audit is not None:
        audit.record(
            events.HISTORY_DELETED,
            conversation_id=conversation_id,
            outcome={"status": events.OK, "reason": "deleted by the user"},
        )
