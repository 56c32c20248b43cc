"""Exporting and deleting conversations: the policy decides, the audit log remembers.

The GUI and the CLI both call these, so an export that policy forbids is refused the same way
everywhere, and every export and deletion leaves an audit record.
"""

from __future__ import annotations

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

    The audit record is written before the text is returned, so no copy leaves unrecorded.

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
            detail={"format": fmt, "file": path},
            outcome={"status": events.OK, "reason": f"exported as {fmt}"},
        )
    return text


def delete_conversation(history: Any, audit: Any, conversation_id: int) -> None:
    """Delete a conversation (messages and search rows) and record it."""
    history.delete_conversation(conversation_id)
    if audit is not None:
        audit.record(
            events.HISTORY_DELETED,
            conversation_id=conversation_id,
            outcome={"status": events.OK, "reason": "deleted by the user"},
        )


def branch_through(history: Any, conversation_id: int,
                   message_id: int | None = None) -> list[Any]:
    """The branch to show, oldest first: the newest one, or the newest through ``message_id``.

    A search hit may sit on an older branch (a message that was edited or answered again):
    then the branch shown runs from the root through the hit down to the newest leaf below it.

    Args:
        history: The store.
        conversation_id: The conversation.
        message_id: A message the branch must pass through (a search hit), or ``None``.

    Raises:
        EnclaveError: ``message_id`` is not a message of the conversation.
    """
    stored = list(history.messages(conversation_id))
    if not stored:
        return []
    by_id = {m.id: m for m in stored}
    newest = _chain(by_id, stored[-1].id)
    if message_id is None or any(m.id == message_id for m in newest):
        return newest
    if message_id not in by_id:
        raise EnclaveError(f"Message {message_id} is not in conversation {conversation_id}.")
    children: dict[int, int] = {}
    for m in stored:
        if m.parent_id is not None:
            children[m.parent_id] = m.id  # later siblings win: the newest branch below
    leaf = message_id
    while leaf in children:
        leaf = children[leaf]
    return _chain(by_id, leaf)


def _chain(by_id: dict[int, Any], leaf_id: int) -> list[Any]:
    chain = []
    seen: set[int] = set()
    node = by_id.get(leaf_id)
    while node is not None and node.id not in seen:  # a damaged parent link cannot loop
        seen.add(node.id)
        chain.append(node)
        node = by_id.get(node.parent_id) if node.parent_id is not None else None
    return chain[::-1]
