"""Exporting and deleting conversations: the policy decides, the audit log remembers.

The GUI and the CLI both call these, so an export that policy forbids is refused the same way
everywhere, and every export and deletion leaves an audit record.
"""

from __future__ import annotations

import hashlib
from typing import Any

from app.core.audit import events
from app.core.errors import EnclaveError, ExitCode


class ExportNotAllowed(EnclaveError):
    """The organization's policy turns exporting off."""

    exit_code = ExitCode.REFUSED


def export_allowed(policy: Any) -> bool:
    """Whether the policy lets this user export conversations."""
    return bool(policy.get("history.export_allowed"))


def export_conversation(
    policy: Any, history: Any, audit: Any, conversation_id: int, fmt: str, *, path: str = ""
) -> str:
    """The conversation as text (``md`` or ``json``; ``pdf`` gets Markdown to print).

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
    text = str(history.export_conversation(conversation_id, "json" if fmt == "json" else "md"))
    if audit is not None:
        audit.record(
            events.HISTORY_EXPORTED,
            conversation_id=conversation_id,
            detail={"format": fmt, "file": path, **_cited(history, conversation_id)},
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
