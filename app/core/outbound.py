"""What happens to a turn before it may leave the machine.

``ChatService`` asks ``plan_turn`` for every turn. Local turns pass through untouched; a turn
for a remote endpoint is redacted (where policy requires), checked against the blocking
entity types whether it is redacted or not (a private key or a classification marking keeps
the whole turn local), shown to the user when policy requires confirmation, and given an
engine for the endpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.engines.base import ChatEngine, ChatMessage
from app.core.errors import EnclaveError, ExitCode
from app.core.guard.redact import Redactor
from app.core.routing import LOCAL, RouteDecision, decide_route

Confirm = Callable[[str, RouteDecision], bool]  # outgoing text, decision -> send?


class RouteRefused(EnclaveError):
    """Policy does not allow the requested route for this user."""

    exit_code = ExitCode.REFUSED


class SendDeclined(EnclaveError):
    """The user chose not to send the request after seeing what would leave."""

    exit_code = ExitCode.DECLINED


@dataclass
class TurnPlan:
    """Where the turn goes, what it sends, and how to show the answer."""

    decision: RouteDecision
    messages: list[ChatMessage]
    mapping: dict[str, str] = field(default_factory=dict)
    redactions: dict[str, int] = field(default_factory=dict)
    note: str = ""  # shown to the user when policy changed the route

    @property
    def remote(self) -> bool:
        """Whether the turn leaves the machine."""
        return self.decision.remote


def outgoing_text(messages: Sequence[ChatMessage]) -> str:
    """Exactly what a remote endpoint will receive, for the user to read."""
    return "\n\n".join(f"[{m.role}]\n{m.content}" for m in messages)


def plan_turn(
    policy: Any,
    *,
    requested: str | None,
    user: str,
    groups: list[str],
    messages: list[ChatMessage],
    redactor: Redactor | None,
    confirm: Confirm | None,
    local_only_documents: bool = False,
) -> TurnPlan:
    """Decide the route and prepare what would be sent.

    Raises:
        RouteRefused: a remote route was asked for and policy refuses it (the reason names
            the rule).
        SendDeclined: confirmation is required and the user declined (or nobody could ask).
    """
    decision = decide_route(policy, requested=requested, user=user, groups=groups,
                            local_only_documents=local_only_documents)
    if not decision.allowed:
        raise RouteRefused(
            f"This request cannot go to {requested!r}: {decision.reason}",
            f"Rule: {decision.rule}. Ask without --route to answer on this machine.",
        )
    if not decision.remote:
        return TurnPlan(decision, messages)
    plan = TurnPlan(decision, messages)
    if decision.must_redact:
        redactor = redactor or Redactor.from_policy(policy)
        plan.messages, result = redactor.redact_messages(messages)
        plan.mapping, plan.redactions = result.mapping, dict(result.counts)
        checked = decide_route(policy, requested=requested, user=user, groups=groups,
                               redaction_counts=plan.redactions,
                               local_only_documents=local_only_documents)
        if not checked.remote:
            # Blocking findings: the turn stays here, unredacted, and the user is told why.
            return TurnPlan(checked, messages, note=checked.reason)
    else:
        # Not redacted (an internal endpoint policy trusts), yet a classification marking or a
        # private key still keeps the turn here unless redaction.blocking_types allows it.
        counts = (redactor or Redactor.from_policy(policy)).detect(messages)
        checked = decide_route(policy, requested=requested, user=user, groups=groups,
                               redaction_counts=counts,
                               local_only_documents=local_only_documents)
        if not checked.remote:
            return TurnPlan(checked, messages, note=checked.reason)
    if decision.must_confirm and (
        confirm is None or not confirm(outgoing_text(plan.messages), decision)
    ):
        raise SendDeclined(
            f"Nothing was sent to {decision.route}.",
            "Your organization requires you to confirm what leaves this machine.",
        )
    return plan


class RemoteEngines:
    """One engine per endpoint, built on first use with its API key."""

    def __init__(self) -> None:
        self._engines: dict[str, ChatEngine] = {}

    def get(self, decision: RouteDecision) -> ChatEngine:
        """The engine for a remote decision."""
        from app.core.engines.remote import build_engine
        from app.core.engines.remote_http import load_api_key

        assert decision.endpoint is not None
        name = decision.route
        if name not in self._engines:
            endpoint = decision.endpoint
            self._engines[name] = build_engine(endpoint, load_api_key(endpoint))
        return self._engines[name]

    def close(self) -> None:
        """Close every remote engine."""
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()


__all__ = ["LOCAL", "Confirm", "RemoteEngines", "RouteRefused", "SendDeclined", "TurnPlan",
           "outgoing_text", "plan_turn"]
