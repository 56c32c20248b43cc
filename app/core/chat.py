"""ChatService: one turn, end to end, in one place.

The GUI and the CLI (and ``enclave connector test``) call ``ChatService.send``; nothing else
decides what a turn does. :meth:`ChatService._run` carries a :class:`~app.core.turn.Turn`
through the steps, in this order, each a method below it:

1. authorize — may this user take the route they asked for, may this model run, is there
   budget left (a refusal names its rule and is audited as ``policy.refused``)
2. ground    — retrieve passages from the conversation's collections (untrusted data)
3. route     — the final route: local-only documents keep the turn here, with a note; under
   ``routing.mode = "auto"`` so does any sensitive signal in what it would send
4. redact    — what leaves is redacted; a marking or a key keeps the turn here; confirm
5. stream    — the user's message (and the scope) is saved, then the answer streams, saved as
   it grows with its sources; copied source markers never reach the reader
6. persist   — the final answer with its usage, complete or marked incomplete; the cost
7. audit     — one hash-chained ``model.call`` record per call

Nothing is stored for a turn refused in steps 1-4; once step 5 starts, the user's message
and whatever answer arrived are kept, whatever happens next.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from app.core.answer_stream import AnswerStream
from app.core.auto_router import AutoRouter
from app.core.conversation_view import kept_note
from app.core.conversations import ROOT, Conversations
from app.core.engines.base import (
    ChatEngine,
    ChatMessage,
    EngineError,
    EngineInfo,
    EngineOptions,
    GenerationParams,
    Role,
)
from app.core.errors import EnclaveError
from app.core.grounding import Documents
from app.core.inputs import clean_message
from app.core.local_model import LocalModel
from app.core.models.registry import ModelRegistry
from app.core.outbound import (
    Confirm,
    RemoteEngines,
    RouteRefused,
    TurnPlan,
    choose_route,
    prepare_outgoing,
)
from app.core.policy import EffectivePolicy
from app.core.ports import AuditSink, HistoryWriter
from app.core.prompts import with_system_prompt
from app.core.routing import LOCAL, RouteDecision
from app.core.transcript import fit_to_context, title_from, with_overrides
from app.core.turn import Turn, TurnRequest, TurnResult
from app.core.turn_audit import record_call, record_outgoing, record_refusal, record_start
from app.core.turn_grounding import ground, keep_sources, note_markers, turn_scope
from app.core.turn_routing import auto_route_turn, remember_sensitive
from app.core.usage_cost import UsageLedger, call_cost

_BUDGET_KEY = "connector.monthly_budget_per_user"


class ChatService:
    """Runs chat turns; shared by the GUI, the CLI and the connector test.

    Args:
        registry: The models this session can load.
        history: Where conversations are saved; ``None`` keeps them in memory (``--no-save``).
        audit: The audit log; ``None`` when policy turns it off.
        policy: The effective policy; ``None`` allows local turns only (tests, tools).
        options: How the local engine runs.
        params: Sampling defaults (the settings').
        user: The OS user, and ``groups`` theirs: the connector gate decides with them.
        ledger: Spending per user, for remote routes with a budget.
        documents: The document collections, for grounded turns.
        remote: The remote engines (one per endpoint); tests inject keys and timeouts.
        auto: Routes turns by what they carry where policy sets ``routing.mode = "auto"``.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        history: HistoryWriter | None = None,
        audit: AuditSink | None = None,
        policy: EffectivePolicy | None = None,
        options: EngineOptions | None = None,
        params: GenerationParams | None = None,
        system_prompt: str | None = None,
        user: str = "",
        groups: Sequence[str] = (),
        ledger: UsageLedger | None = None,
        documents: Documents | None = None,
        remote: RemoteEngines | None = None,
        auto: AutoRouter | None = None,
    ) -> None:
        self.registry = registry
        self.history = history
        self.audit = audit
        self.policy = policy
        self.params = params or GenerationParams()
        self.system_prompt = system_prompt
        self.user = user
        self.groups = list(groups)
        self.ledger = ledger
        self.documents = documents
        self.local = LocalModel(registry, audit=audit, policy=policy,
                                options=options or EngineOptions())
        self._remote = remote or RemoteEngines()
        self.auto = auto
        self.conversations = Conversations(history)

    # --- models -------------------------------------------------------------------------

    @property
    def engine(self) -> ChatEngine | None:
        """The loaded local engine, if any."""
        return self.local.engine

    def load_model(
        self, model_id: str | None = None, on_progress: Callable[[float], bool] | None = None
    ) -> EngineInfo:
        """Check and load a model (``None``: the default), replacing any loaded one.

        Raises:
            ModelError: not installed, damaged, digest mismatch, blocked by policy, load failed.
        """
        return self.local.load(model_id, on_progress)

    # --- conversations ------------------------------------------------------------------

    def transcript(self, conversation_id: int, leaf_id: int | None = None) -> list[ChatMessage]:
        """The branch ending at ``leaf_id`` (default: the newest message), as the engine sees it."""
        return self.conversations.transcript(conversation_id, leaf_id)

    def branch(self, conversation_id: int, leaf_id: int | None = None) -> list[Any]:
        """Stored messages on the branch ending at ``leaf_id`` (default: newest), oldest first."""
        return self.conversations.branch(conversation_id, leaf_id)

    def new_conversation(self, title: str = "New conversation") -> int:
        """Start an empty conversation and return its id."""
        return self.conversations.new(title)

    # --- the turn -----------------------------------------------------------------------

    def send(
        self, text: str, *, conversation_id: int | None = None,
        on_token: Callable[[str], None] | None = None, cancel: threading.Event | None = None,
        params: GenerationParams | None = None, parent_id: int | None = None,
        route: str | None = None, confirm: Confirm | None = None,
        collections: Sequence[str] | None = None, remote_model: str | None = None,
    ) -> TurnResult:
        """Run one turn: the user's ``text`` in, a streamed answer out.

        The arguments are :class:`~app.core.turn.TurnRequest`'s. ``text`` is repaired and
        bounded here, for every face; ``parent_id`` ``None`` follows the newest message and
        ``ROOT`` starts a new first message (an edit resends from the edited message's
        parent, so the old branch stays); ``collections`` (a list, empty for none) becomes
        the conversation's scope, ``None`` keeps its saved one; a local-only collection
        keeps the turn on this machine and the result's ``route_note`` says so.

        Raises:
            EnclaveError: no model could be loaded, policy refused, or the engine failed
                before producing anything (once streaming started, the message is kept).
        """
        return self._run(Turn(TurnRequest(
            clean_message(text), conversation_id=conversation_id, parent_id=parent_id,
            route=route, collections=None if collections is None else tuple(collections),
            params=params, remote_model=remote_model, on_token=on_token, cancel=cancel,
            confirm=confirm)))

    def regenerate(
        self,
        conversation_id: int,
        user_message_id: int,
        *,
        on_token: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        params: GenerationParams | None = None,
        route: str | None = None,
        confirm: Confirm | None = None,
    ) -> TurnResult:
        """Answer a stored user message again, from the conversation's saved collections.

        The earlier answer stays in history; the result's ``notes`` say where later turns
        that followed it stay.

        Raises:
            EnclaveError: no history is attached, or the message is not a user message.
        """
        if self.history is None:
            raise EnclaveError("Regenerating needs the saved history.", "Turn saving on.")
        chain = self.branch(conversation_id, user_message_id)
        if not chain or chain[-1].role != "user":
            raise EnclaveError("Only an answer to one of your messages can be regenerated.")
        request = TurnRequest(
            chain[-1].text, conversation_id=conversation_id, route=route, params=params,
            regenerate=user_message_id, on_token=on_token, cancel=cancel, confirm=confirm,
        )
        return self._run(Turn(request))

    def _run(self, turn: Turn) -> TurnResult:
        """The steps, in order; each reads the turn and adds what it decided or made."""
        self._authorize(turn)
        self._ground(turn)
        self._route(turn)
        self._redact(turn)
        try:
            self._stream(turn)
        finally:
            if turn.completion is not None:
                self._persist(turn)
                self._audit(turn)
        return self._result(turn)

    # 1. authorize ---------------------------------------------------------------------------

    def _authorize(self, turn: Turn) -> None:
        requested = turn.request.route
        if requested in (None, LOCAL):
            # Fail before anything is stored when no model can load (or policy forbids it).
            self.local.ensure()
            allowed = self.local.allowed
            turn.decide("authorize", True, allowed.rule if allowed else "built-in:any-model",
                        allowed.reason if allowed else "No policy restricts models here.")
            return
        if self.policy is None:
            raise RouteRefused("No policy allows remote routes here.", "Ask locally.",
                               rule="built-in:local-only")
        try:
            turn.asked = choose_route(self.policy, requested=requested, user=self.user,
                                      groups=self.groups)
            turn.decide("authorize", True, turn.asked.rule, turn.asked.reason)
            self._check_budget(turn)
        except RouteRefused as exc:
            record_refusal(self.audit, turn, "unknown", exc.rule, exc)
            raise

    def _check_budget(self, turn: Turn) -> None:
        if self.ledger is None or self.policy is None:
            return
        try:
            self.ledger.check_budget(float(self.policy.get(_BUDGET_KEY) or 0))
        except EnclaveError as exc:
            record_refusal(self.audit, turn, "external", f"policy:{_BUDGET_KEY}", exc)
            raise
        turn.decide("budget", True, f"policy:{_BUDGET_KEY}", "Within this month's budget.")

    # 2. ground ------------------------------------------------------------------------------

    def _ground(self, turn: Turn) -> None:
        request = turn.request
        turn.conversation_id = request.conversation_id
        if request.regenerate is not None:
            assert request.conversation_id is not None  # regenerate() passes both
            turn.history = self.transcript(request.conversation_id, request.regenerate)
        else:
            turn.history, turn.parent_id = self.conversations.continuing(
                request.conversation_id, request.parent_id)
        turn_scope(turn, self.conversations.scope)
        ground(turn, self.documents, request.text)

    # 3. route -------------------------------------------------------------------------------

    def _route(self, turn: Turn) -> None:
        decision = turn.asked  # step 1's decision, unless what the turn carries changes it
        if decision is None:
            decision = RouteDecision(LOCAL, None, True, "route:local", "Answered on this machine.")
        elif turn.grounding is not None and turn.grounding.local_only:
            assert self.policy is not None  # a remote route was only asked with a policy
            decision = choose_route(self.policy, requested=turn.request.route, user=self.user,
                                    groups=self.groups, local_only_documents=True)
        messages = self._prompt(turn)
        auto = auto_route_turn(self.auto, self.history, turn, messages, user=self.user,
                               groups=self.groups)
        if auto is not None:
            if auto.remote and turn.asked is None:
                self._check_budget(turn)  # a remote route the user did not pick: budgeted too
            decision = auto
        turn.plan = TurnPlan(decision, messages,
                             note=decision.reason if decision.kept_here or auto else "")
        turn.decide("route", decision.allowed, decision.rule, decision.reason)

    def _prompt(self, turn: Turn) -> list[ChatMessage]:
        messages = with_system_prompt(turn.history, base=self.system_prompt, policy=self.policy,
                                      store=self.history, conversation_id=turn.conversation_id)
        grounded = turn.grounding.user_text if turn.grounding else turn.request.text
        if turn.request.regenerate is not None:  # the stored question ends the branch
            messages[-1] = ChatMessage("user", grounded)
        else:
            messages.append(ChatMessage("user", grounded))
        return messages

    # 4. redact ------------------------------------------------------------------------------

    def _redact(self, turn: Turn) -> None:
        assert turn.plan is not None
        if not turn.plan.remote or self.policy is None:
            turn.engine = self.local.ensure()
            return
        turn.redactor = self.conversations.redactor(turn.conversation_id, self.policy)
        planned, turn.plan = turn.plan, prepare_outgoing(
            self.policy, turn.plan.decision, requested=turn.plan.decision.route, user=self.user,
            groups=self.groups, messages=turn.plan.messages, redactor=turn.redactor,
            confirm=turn.request.confirm)
        turn.plan.note = turn.plan.note or planned.note  # auto routing says why it left
        if turn.plan.redactions:
            turn.decide("redact", True, "connector.require_redaction",
                        f"{sum(turn.plan.redactions.values())} items replaced by placeholders.")
        if not turn.plan.remote:  # a marking or a key kept it here
            turn.decide("route", False, turn.plan.decision.rule, turn.plan.note)
            turn.engine = self.local.ensure()
            return
        turn.engine = self._remote.get(turn.plan.decision, turn.request.remote_model)

    # 5. stream ------------------------------------------------------------------------------

    def _stream(self, turn: Turn) -> None:
        plan, engine = turn.planned, turn.answering
        self.conversations.save_request(turn)  # kept whatever happens next
        record_start(self.audit, turn)
        if plan.mapping and self.history is not None:
            self.history.save_redactions(turn.conversation, plan.mapping)
        record_outgoing(self.audit, turn)
        info = engine.info
        if self.history is not None:
            turn.assistant_message_id = self.history.add_message(
                turn.conversation, "assistant", "", parent_id=turn.user_message_id,
                model_id=info.model_id, model_sha256=info.model_sha256, route=info.route,
                complete=False)
            keep_sources(self.history, turn)
        stream = AnswerStream(turn.request.on_token, plan.mapping, self.history,
                              turn.assistant_message_id)
        gen = turn.request.params or self.params
        self.local.conversation_id = turn.conversation_id
        started = time.perf_counter()
        try:
            prompt = fit_to_context(engine, plan.messages, gen)
            completion = engine.stream(prompt, gen, stream.feed, turn.request.cancel)
        except EngineError as exc:
            turn.completion = stream.failed(exc.message, time.perf_counter() - started)
            turn.markers_removed = stream.markers_removed
            exc.conversation_id = turn.conversation_id
            raise
        turn.completion = stream.settled(completion, restored=bool(plan.mapping))
        turn.markers_removed = stream.markers_removed

    # 6. persist -----------------------------------------------------------------------------

    def _persist(self, turn: Turn) -> None:
        completion, plan = turn.answer, turn.planned
        note_markers(turn)
        remember_sensitive(self.auto, self.history, turn)
        if self.history is not None and turn.assistant_message_id is not None:
            self.history.update_message(
                turn.assistant_message_id, text=completion.text, complete=completion.complete,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                ttft_ms=completion.ttft_s * 1000, tokens_per_s=completion.tokens_per_s)
        elif turn.conversation_id is not None:
            self.conversations.remember(turn.conversation_id,
                                        ChatMessage("assistant", completion.text))
        if plan.remote:
            turn.cost = call_cost(plan.decision.endpoint, turn.answering.info.model_id,
                                  completion.prompt_tokens, completion.completion_tokens)
            if self.ledger is not None:
                self.ledger.add(plan.decision.route, turn.cost)

    # 7. audit -------------------------------------------------------------------------------

    def _audit(self, turn: Turn) -> None:
        record_call(self.audit, turn)

    def _result(self, turn: Turn) -> TurnResult:
        plan = turn.planned
        if turn.request.regenerate is not None and turn.assistant_message_id is not None:
            kept = kept_note(self.history, turn.conversation, turn.assistant_message_id)
            turn.notes += [kept] if kept else []
        return TurnResult(
            turn.conversation, turn.user_message_id, turn.assistant_message_id, turn.answer,
            turn.answering.info, route_note=turn.route_note,
            redactions=plan.redactions or None,
            sources=turn.grounding.sources if turn.grounding is not None else None,
            decisions=tuple(turn.decisions), notes=tuple(turn.notes), scope=turn.scope,
        )

    def close(self) -> None:
        """Unload the engine, end a spare engine process, close remote connections."""
        self._remote.close()
        self.local.close()


__all__ = ["ROOT", "ChatService", "Role", "TurnResult", "title_from", "with_overrides"]
