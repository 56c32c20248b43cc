"""Step 2 of a turn, and what it leaves beside the answer: scope, passages, sources.

A conversation answers from its own collections (its scope): the ones a turn names, saved
with the conversation, or else the ones saved before. Nothing is ever grounded on another
conversation's scope. The numbered sources a grounded answer was given are saved with the
answer as soon as the answer's message exists, so a stopped or failed answer keeps them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from app.core.errors import EnclaveError
from app.core.source_markers import removed_note
from app.core.turn import Turn

if TYPE_CHECKING:  # app.core.docs loads numpy and onnxruntime: only for grounded turns
    from app.core.docs.errors import CollectionNotFound

ScopeReader = Callable[[int], Sequence[str]]


def turn_scope(turn: Turn, saved_scope: ScopeReader) -> None:
    """Decide the collections ``turn`` answers from (``turn.scope``, ``turn.scope_given``).

    A list in the request is the scope (an empty one: none) and becomes the conversation's;
    ``None`` — and a regeneration — uses what the conversation saved (a new one has none).
    """
    request = turn.request
    if request.collections is not None and request.regenerate is None:
        names = (c.strip() for c in request.collections)
        turn.scope, turn.scope_given = tuple(dict.fromkeys(n for n in names if n)), True
    elif request.conversation_id is not None:
        turn.scope = tuple(saved_scope(request.conversation_id))


def ground(turn: Turn, documents: Any, question: str) -> None:
    """Retrieve passages for ``question`` from the turn's scope (nothing when it is empty).

    Raises:
        DocumentsDisabled: policy turns documents off.
        CollectionNotFound: a collection of the scope no longer exists; the message names it
            and says how to go on.
        EnclaveError: the session has no documents at all.
    """
    if not turn.scope:
        return
    if documents is None:
        raise EnclaveError("Documents are not available in this session.",
                           "Ask without collections, or open Enclave with its history.")
    missing = documents.missing_collections(turn.scope)
    if missing:
        raise _missing(missing, turn)
    turn.grounding = documents.ground(question, turn.scope)
    turn.decide("ground", True, "documents:" + ",".join(turn.scope),
                f"{len(turn.grounding.sources)} passages from your documents.")


def _missing(missing: Sequence[str], turn: Turn) -> CollectionNotFound:
    from app.core.docs.errors import CollectionNotFound

    names = ", ".join(repr(m) for m in missing)
    plural = len(missing) > 1
    collection = "collections" if plural else "collection"
    add_back = f"enclave docs add PATH --collection {missing[0]}"
    if turn.scope_given:
        return CollectionNotFound(
            f"There is no document {collection} named {names}.",
            f"List collections with: enclave docs list — or create it with: {add_back}")
    cid = turn.request.conversation_id
    return CollectionNotFound(
        f"This conversation answers from the document {collection} {names}, which "
        f"{'no longer exist' if plural else 'no longer exists'}.",
        f"Add the documents again ({add_back}), or choose other collections for it "
        f"(enclave ask --conversation {cid} --collection NAME …, or --no-collections).")


def keep_sources(history: Any, turn: Turn) -> None:
    """Save the turn's numbered sources with its answer (the answer's message exists)."""
    if history is None or turn.assistant_message_id is None or turn.grounding is None:
        return
    if turn.grounding.sources:
        history.save_sources(turn.assistant_message_id, turn.grounding.sources)


def note_markers(turn: Turn) -> None:
    """Tell the user (and the audit record) that copied source markers were taken out."""
    if turn.markers_removed:
        note = removed_note(turn.markers_removed)
        turn.notes.append(note)
        turn.decide("answer", True, "documents:source-markers", note)
