"""The route step's automatic half: where ``routing.mode = "auto"`` sends a turn, and why.

``ChatService`` asks :func:`auto_route_turn` in step 3 with everything the turn would send (the
whole prompt: earlier turns, retrieved passages, the new message). A turn that carried a
sensitive signal marks its conversation (:func:`remember_sensitive`), so no later turn sends
that context out, in this session or the next.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from app.core.auto_router import AutoRouter
from app.core.engines.base import ChatMessage
from app.core.outbound import RouteRefused
from app.core.routing import LOCAL, RouteDecision
from app.core.turn import Turn

_NOT_CONTENT = ("routing:examples-untrusted", "routing:semantic-unavailable")


def auto_route_turn(router: AutoRouter | None, history: Any, turn: Turn,
                    messages: Sequence[ChatMessage], *, user: str,
                    groups: Sequence[str]) -> RouteDecision | None:
    """The auto decision for this turn, or ``None`` when this user's turns are not auto-routed.

    ``--route local`` needs no check: nothing leaves.

    Raises:
        RouteRefused: the user picked a remote route that policy refuses them.
    """
    if router is None or turn.request.route == LOCAL or not router.active(groups):
        return None
    local_only = bool(turn.grounding is not None and turn.grounding.local_only)
    decision, found = router.decide(
        messages, requested=turn.request.route, user=user, groups=groups,
        local_only_documents=local_only,
        conversation_sensitive=_marked(router, history, turn.conversation_id))
    turn.sensitivity = found
    if not decision.allowed:
        raise RouteRefused(f"This request cannot go to {turn.request.route!r}: "
                           f"{decision.reason}", f"Rule: {decision.rule}.", rule=decision.rule)
    return decision


def remember_sensitive(router: AutoRouter | None, history: Any, turn: Turn) -> None:
    """Mark the turn's conversation sensitive when what it carried was (kept across sessions)."""
    found = turn.sensitivity
    if router is None or found is None or turn.conversation_id is None:
        return
    content = [s for s in found.signals if s.name not in _NOT_CONTENT]
    if not content or content[0].name == "conversation:sensitive":
        return
    router.sticky.add(turn.conversation_id)
    if history is not None:
        history.mark_sensitive(turn.conversation_id, content[0].words, time.time())


def _marked(router: AutoRouter, history: Any, conversation_id: int | None) -> bool:
    if conversation_id is None:
        return False
    if conversation_id in router.sticky:
        return True
    return history is not None and history.sensitive_reason(conversation_id) is not None


def preview_route(chat: Any, text: str, *, conversation_id: int | None = None,
                  route: str | None = None,
                  local_only_documents: bool = False) -> RouteDecision | None:
    """Where a message would go if sent now, and why — for the route indicator, before sending.

    Judges the conversation's branch plus ``text``; no passages are retrieved for a preview,
    but a local-only collection in the conversation's scope (``local_only_documents``) keeps
    it here as the turn will. ``None`` when this user's turns are not auto-routed. Nothing is
    stored, sent or audited.
    """
    router: AutoRouter | None = chat.auto
    if router is None or route == LOCAL or not router.active(chat.groups):
        return None
    messages = [*(chat.transcript(conversation_id) if conversation_id is not None else []),
                ChatMessage("user", text)]
    decision, _ = router.decide(
        messages, requested=route, user=chat.user, groups=chat.groups,
        local_only_documents=local_only_documents,
        conversation_sensitive=_marked(router, chat.history, conversation_id))
    return decision
