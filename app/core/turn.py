"""One turn as data: what was asked, every decision taken on the way, what came out.

``ChatService.send`` builds a :class:`Turn` and carries it through its steps in a fixed
order (authorize, ground, route, redact, stream, persist, audit). Each step reads the turn
and adds to it; every decision lands in :attr:`Turn.decisions` with the rule that made it, so
the note the user reads, the audit record and the window all say the same thing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from app.core.engines.base import ChatEngine, ChatMessage, Completion, EngineInfo, GenerationParams
from app.core.outbound import Confirm, TurnPlan
from app.core.routing import RouteDecision

if TYPE_CHECKING:  # redaction loads phone and IBAN metadata: only for remote turns
    from app.core.guard.redact import Redactor

Step = Literal["authorize", "ground", "route", "redact", "budget", "answer"]


@dataclass(frozen=True)
class TurnRequest:
    """What a face asked for. ``text`` is already cleaned (``app.core.inputs``).

    Attributes:
        text: The user's message (for a regeneration: the stored message answered again).
        conversation_id: Continue this conversation; ``None`` starts one.
        parent_id: The message this one follows (``None``: the newest; ``ROOT``: a new first
            message).
        route: ``None``/``"local"`` or a policy endpoint's name.
        collections: Document collections to answer from, kept as the conversation's scope;
            ``None``: the conversation's saved scope (none for a new conversation).
        params: Sampling for this turn; ``None``: the settings'.
        remote_model: One of the endpoint's models; ``None``: its first.
        regenerate: The stored user message to answer again (nothing new is stored for it).
        on_token: Receives each piece of the answer as it streams.
        cancel: Set it to stop the answer (kept, marked incomplete).
        confirm: Shown the exact outgoing text when policy requires confirmation.
    """

    text: str
    conversation_id: int | None = None
    parent_id: int | None = None
    route: str | None = None
    collections: tuple[str, ...] | None = None
    params: GenerationParams | None = None
    remote_model: str | None = None
    regenerate: int | None = None
    on_token: Callable[[str], None] | None = None
    cancel: threading.Event | None = None
    confirm: Confirm | None = None


@dataclass(frozen=True)
class Decision:
    """One decision a step took: allowed or not, by which rule, and why (for people)."""

    step: Step
    allowed: bool
    rule: str
    reason: str


@dataclass
class Turn:
    """A request on its way through the steps; each fills in what it decided or made."""

    request: TurnRequest
    decisions: list[Decision] = field(default_factory=list)
    conversation_id: int | None = None
    history: list[ChatMessage] = field(default_factory=list)  # the branch, engine's view
    parent_id: int | None = None  # where the user's message goes in the conversation
    scope: tuple[str, ...] = ()  # the collections this turn answers from
    scope_given: bool = False  # named by the request (saved as the conversation's scope)
    grounding: Any = None  # app.core.grounding.Grounding, when the scope names collections
    asked: RouteDecision | None = None  # the remote route step 1 let through
    plan: TurnPlan | None = None
    redactor: Redactor | None = None  # made this turn's placeholders (kept per conversation)
    engine: ChatEngine | None = None
    user_message_id: int | None = None
    assistant_message_id: int | None = None
    completion: Completion | None = None
    cost: float = 0.0
    markers_removed: int = 0  # source markers taken out of the answer
    notes: list[str] = field(default_factory=list)  # for the user, beside the answer
    sensitivity: Any = None  # app.core.auto_route.Sensitivity, for an auto-routed turn

    # What each step needs from the ones before it; asking early is a bug, said plainly.

    @property
    def planned(self) -> TurnPlan:
        """The plan (steps 3-4 made it)."""
        if self.plan is None:
            raise RuntimeError("the turn has no route yet")
        return self.plan

    @property
    def answering(self) -> ChatEngine:
        """The engine answering (step 4 chose it)."""
        if self.engine is None:
            raise RuntimeError("the turn has no engine yet")
        return self.engine

    @property
    def answer(self) -> Completion:
        """The answer (step 5 made it)."""
        if self.completion is None:
            raise RuntimeError("the turn has no answer yet")
        return self.completion

    @property
    def conversation(self) -> int:
        """The conversation (step 5 created it when the turn started one)."""
        if self.conversation_id is None:
            raise RuntimeError("the turn has no conversation yet")
        return self.conversation_id

    def decide(self, step: Step, allowed: bool, rule: str, reason: str) -> None:
        """Note a decision."""
        self.decisions.append(Decision(step, allowed, rule, reason))

    @property
    def route_note(self) -> str:
        """Why a turn meant to leave the machine was answered here ("" when it was not)."""
        return self.plan.note if self.plan is not None else ""

    @property
    def route_record(self) -> dict[str, str]:
        """The route as the audit log names it."""
        endpoint = self.planned.decision.endpoint or {}
        return {"name": self.planned.decision.route,
                "classification": str(endpoint.get("classification", "local"))}


@dataclass(frozen=True)
class TurnResult:
    """What one call of ``send`` produced."""

    conversation_id: int
    user_message_id: int | None
    assistant_message_id: int | None
    completion: Completion
    engine: EngineInfo
    route_note: str = ""  # why policy kept a turn local that was meant to leave
    redactions: dict[str, int] | None = None
    sources: list[Any] | None = None  # numbered document sources the answer may cite
    decisions: tuple[Decision, ...] = ()  # every decision of the turn, in order
    notes: tuple[str, ...] = ()  # what the user should know about the answer, in sentences
    scope: tuple[str, ...] = ()  # the collections the conversation answers from now
