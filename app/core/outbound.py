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
from typing import TYPE_CHECKING, Any

from app.core.engines.base import ChatEngine, ChatMessage
from app.core.errors import EnclaveError, ExitCode
from app.core.routing import LOCAL, RouteDecision, decide_route

if TYPE_CHECKING:  # redaction loads phone and IBAN metadata: only for remote turns
    from app.core.guard.redact import Redactor

Confirm = Callable[[str, RouteDecision], bool]  # outgoing text, decision -> send?


class RouteRefused(EnclaveError):
    """Policy does not allow the requested route for this user.

    Args:
        rule: The policy rule that refused (for the turn's decisions and the audit log).
    """

    exit_code = ExitCode.REFUSED

    def __init__(self, message: str, hint: str = "", *, rule: str = "") -> None:
        super().__init__(message, hint)
        self.rule = rule


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


def choose_route(
    policy: Any,
    *,
    requested: str | None,
    user: str,
    groups: list[str],
    local_only_documents: bool = False,
) -> RouteDecision:
    """Where the turn goes: the gate, the endpoint, and what the turn carries.

    Raises:
        RouteRefused: a remote route was asked for and policy refuses it (the reason names
            the rule). A route that is allowed but must not carry this turn (local-only
            documents) comes back ``kept_here`` instead: the turn is answered locally.
    """
    decision = decide_route(policy, requested=requested, user=user, groups=groups,
                            local_only_documents=local_only_documents)
    if not decision.allowed and not decision.kept_here:
        raise RouteRefused(
            f"This request cannot go to {requested!r}: {decision.reason}",
            f"Rule: {decision.rule}. Ask without --route to answer on this machine.",
            rule=decision.rule,
        )
    return decision


def prepare_outgoing(
    policy: Any,
    decision: RouteDecision,
    *,
    requested: str | None,
    user: str,
    groups: list[str],
    messages: list[ChatMessage],
    redactor: Redactor | None,
    confirm: Confirm | None,
) -> TurnPlan:
    """Redact what leaves (where the route requires it), re-check, and confirm.

    A classification marking or a private key keeps the turn here whether or not the route
    redacts (unless ``redaction.blocking_types`` allows it): the plan comes back local with
    the reason as its note.

    Raises:
        SendDeclined: confirmation is required and the user declined (or nobody could ask).
    """
    if not decision.remote:
        return TurnPlan(decision, messages, note=decision.reason if decision.kept_here else "")
    if redactor is None:
        from app.core.guard.redact import Redactor

        redactor = Redactor.from_policy(policy)
    plan = TurnPlan(decision, messages)
    if decision.must_redact:
        plan.messages, result = redactor.redact_messages(messages)
        plan.mapping, plan.redactions = result.mapping, dict(result.counts)
        counts = plan.redactions
    else:
        counts = redactor.detect(messages)
    checked = decide_route(policy, requested=requested, user=user, groups=groups,
                           redaction_counts=counts)
    if not checked.remote:
        # Blocking findings: the turn stays here, unredacted, and the user is told why.
        return TurnPlan(checked, messages, note=checked.reason)
    if decision.must_confirm and (
        confirm is None or not confirm(outgoing_text(plan.messages), decision)
    ):
        raise SendDeclined(
            f"Nothing was sent to {decision.route}.",
            "Your organization requires you to confirm what leaves this machine.",
        )
    return plan


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
    """``choose_route`` then ``prepare_outgoing``: the route and what would be sent.

    Raises:
        RouteRefused: policy refuses the requested route.
        SendDeclined: confirmation is required and the user declined.
    """
    decision = choose_route(policy, requested=requested, user=user, groups=groups,
                            local_only_documents=local_only_documents)
    return prepare_outgoing(policy, decision, requested=requested, user=user, groups=groups,
                            messages=messages, redactor=redactor, confirm=confirm)


class RemoteEngines:
    """One engine per endpoint and model, built on first use with its API key.

    Args:
        key: The API key to use for every endpoint (``connector test --key``); ``None``
            loads each endpoint's own (key file or keyring).
        timeouts: ``RemoteTimeouts`` for every engine; ``None`` for the defaults.
    """

    def __init__(self, *, key: str | None = None, timeouts: Any = None) -> None:
        self._engines: dict[tuple[str, str | None], ChatEngine] = {}
        self._key = key
        self._timeouts = timeouts

    def get(self, decision: RouteDecision, model: str | None = None) -> ChatEngine:
        """The engine for a remote decision (``model``: one of the endpoint's; None: first)."""
        # Here, not at the top: the vendors' SDKs load only in sessions that leave the machine.
        from app.core.engines.remote import build_engine
        from app.core.engines.remote_http import load_api_key

        assert decision.endpoint is not None
        slot = (decision.route, model)
        if slot not in self._engines:
            endpoint = decision.endpoint
            key = self._key if self._key is not None else load_api_key(endpoint)
            self._engines[slot] = build_engine(endpoint, key, model=model,
                                               timeouts=self._timeouts)
        return self._engines[slot]

    def close(self) -> None:
        """Close every remote engine."""
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()


__all__ = ["LOCAL", "Confirm", "RemoteEngines", "RouteRefused", "SendDeclined", "TurnPlan",
           "choose_route", "outgoing_text", "plan_turn", "prepare_outgoing"]
