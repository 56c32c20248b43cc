"""ChatService: one turn, end to end, in one place.

The GUI and the CLI both call ``ChatService.send``; nothing else decides what a turn does.
The order is fixed here:

1. policy: may this model run (allowlist) — deny with the rule's reason
2. build the prompt from the conversation (trimmed to fit the context)
3. persist the user's message, then stream the answer, writing it as it grows (≥ 1/s)
4. persist the final answer with its usage, complete or marked incomplete
5. audit: one hash-chained record per model call
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from app.core.audit import events
from app.core.engines.base import (
    ChatEngine,
    ChatMessage,
    Completion,
    EngineError,
    EngineInfo,
    EngineOptions,
    GenerationParams,
    Role,
)
from app.core.engines.fallback import FallbackMemory
from app.core.errors import EnclaveError
from app.core.inputs import clean_message
from app.core.models.errors import ModelBlocked
from app.core.models.registry import ModelRegistry, ResolvedModel
from app.core.observe.refusal import is_refusal
from app.core.outbound import Confirm, RemoteEngines, RouteRefused, TurnPlan, plan_turn
from app.core.policy.endpoints import insecure_http_override
from app.core.ports import AuditSink, HistoryWriter, ModelGate
from app.core.routing import LOCAL, RouteDecision
from app.core.transcript import Transcripts, fit_to_context, title_from, with_overrides
from app.core.usage_cost import UsageLedger, call_cost

if TYPE_CHECKING:
    from app.core.engines.supervisor import CrashReport

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0
ROOT = 0  # parent_id meaning "a new first message" (editing the conversation's first message)

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

class ChatService:
    """Runs chat turns against the active engine; shared by the GUI and the CLI."""

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        history: HistoryWriter | None = None,
        audit: AuditSink | None = None,
        policy: ModelGate | None = None,
        options: EngineOptions | None = None,
        params: GenerationParams | None = None,
        system_prompt: str | None = None,
    ) -> None:
        self.registry = registry
        self.history = history
        self.audit = audit
        self.policy = policy
        self.options = options or EngineOptions()
        self.params = params or GenerationParams()
        self.system_prompt = system_prompt
        # The user's (or the policy's) chosen default; None means the catalog's default.
        self.default_model_id: str | None = None
        self.user: str = ""  # set by open_app from the OS account
        self.groups: list[str] = []
        self._remote = RemoteEngines()
        self.ledger: UsageLedger | None = None  # set by open_app: per-user spending
        self.documents: Any = None  # set by open_app: app.core.grounding.Documents
        self._redactors: dict[int, Any] = {}  # one per conversation: stable placeholders
        self._engine: ChatEngine | None = None
        self._resolved: ResolvedModel | None = None
        self._load_lock = threading.Lock()
        self._memory = Transcripts()
        self._turn_conversation: int | None = None  # for an engine crash's audit record

    # --- models -------------------------------------------------------------------------

    @property
    def engine(self) -> ChatEngine | None:
        """The loaded engine, if any."""
        return self._engine

    def load_model(
        self, model_id: str | None = None, on_progress: Callable[[float], bool] | None = None
    ) -> EngineInfo:
        """Check and load a model (``None``: the default), replacing any loaded one.

        Raises:
            ModelError: not installed, damaged, digest mismatch, blocked by policy, load failed.
        """
        with self._load_lock:
            resolved = self.registry.resolve(model_id or self.default_model_id)
            self._check_policy(resolved)
            if self._engine is not None and self._resolved is not None:
                if self._resolved.sha256 == resolved.sha256:
                    return self._engine.info
                self._engine.close()
                self._engine = None
            # llama.cpp runs in a supervised engine process: a crash there is a sentence here.
            from app.core.engines.engine_process import engine_process_supported

            engine: ChatEngine
            if engine_process_supported():
                from app.core.engines.supervisor import SupervisedEngine

                engine = SupervisedEngine(
                    resolved.model.path, resolved.gguf, model_id=resolved.model.id,
                    sha256=resolved.sha256, options=self.options, on_progress=on_progress,
                    memory=self.fallbacks, log_file=self.registry.paths.log_file,
                    on_crash=self._record_engine_crash,
                )
            else:  # Windows, for now: in this process, as before (doctor says so)
                from app.core.engines.local import LocalEngine

                engine = LocalEngine(
                    resolved.model.path, resolved.gguf, model_id=resolved.model.id,
                    sha256=resolved.sha256, options=self.options, on_progress=on_progress,
                )
            self._engine, self._resolved = engine, resolved
            return engine.info

    @property
    def fallbacks(self) -> FallbackMemory:
        """The safe engine settings remembered after crashes (per model, build, machine)."""
        return FallbackMemory(self.registry.paths.data_dir / "engine-fallbacks.json")

    def _record_engine_crash(self, report: CrashReport) -> None:
        if self.audit is None:
            return
        self.audit.record(
            events.ENGINE_CRASHED,
            conversation_id=self._turn_conversation,
            model={"id": report.model_id, "sha256": report.model_sha256},
            detail={"phase": report.phase, "cause": report.cause, "signal": report.signal_name,
                    "settings": report.level, "next_settings": report.next_level,
                    "next": "none" if report.broken else report.next_words},
            outcome={"status": "error", "reason": report.words},
        )

    def _check_policy(self, resolved: ResolvedModel) -> None:
        if self.policy is None:
            return
        decision = self.policy.check_model(resolved.sha256)
        if not decision.allowed:
            if self.audit is not None:
                self.audit.record(
                    "model.refused",
                    model={"id": resolved.model.id, "sha256": resolved.sha256},
                    policy={"rule": decision.rule},
                    outcome={"status": "denied", "reason": decision.reason},
                )
            raise ModelBlocked(
                f"{resolved.model.display_name} is not allowed here: {decision.reason}",
                f"Rule: {decision.rule}. Ask your administrator, or choose an approved model.",
            )

    # --- conversations ------------------------------------------------------------------

    def transcript(self, conversation_id: int, leaf_id: int | None = None) -> list[ChatMessage]:
        """The branch ending at ``leaf_id`` (default: the newest message), as the engine sees it.

        Edits and regenerations create sibling messages; following ``parent_id`` links from
        the leaf back to the root gives the one branch the user is looking at.
        """
        if self.history is None:
            return list(self._memory.get(conversation_id))
        return _as_chat(self.branch(conversation_id, leaf_id))

    def branch(self, conversation_id: int, leaf_id: int | None = None) -> list[Any]:
        """Stored messages on the branch ending at ``leaf_id`` (default: newest), oldest first."""
        if self.history is None:
            return []
        stored = list(self.history.messages(conversation_id))
        if not stored:
            return []
        by_id = {m.id: m for m in stored}
        node = by_id.get(leaf_id) if leaf_id is not None else stored[-1]
        if node is None:
            raise EnclaveError(f"Message {leaf_id} is not in conversation {conversation_id}.")
        chain = []
        seen: set[int] = set()
        while node is not None and node.id not in seen:
            seen.add(node.id)
            chain.append(node)
            node = by_id.get(node.parent_id) if node.parent_id is not None else None
        return chain[::-1]

    def new_conversation(self, title: str = "New conversation") -> int:
        """Start an empty conversation and return its id."""
        if self.history is None:
            return self._memory.create()
        return self.history.create_conversation(title)

    # --- the turn -----------------------------------------------------------------------

    def send(
        self,
        text: str,
        *,
        conversation_id: int | None = None,
        on_token: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        params: GenerationParams | None = None,
        parent_id: int | None = None,
        route: str | None = None,
        confirm: Confirm | None = None,
        collections: Sequence[str] | None = None,
    ) -> TurnResult:
        """Run one turn: the user's ``text`` in, a streamed answer out.

        Args:
            text: the user's message.
            conversation_id: continue this conversation; ``None`` starts a new one.
            on_token: receives each piece of the answer as it streams.
            cancel: set it to stop the answer (kept, marked incomplete).
            params: sampling parameters for this turn (default: the settings').
            parent_id: the message this one follows; ``None`` follows the newest message,
                ``ROOT`` starts a new first message. Editing a message and resending passes
                the edited message's parent, so the old branch stays in history.
            route: ``None``/``"local"``, or a policy endpoint's name.
            confirm: shown the exact outgoing text when policy requires confirmation.
            collections: answer from these document collections; the answer cites [n] and
                the sources come back in the result. A local-only collection keeps the turn
                on this machine.

        Raises:
            EnclaveError: no model could be loaded, policy refused, or the engine failed
                before producing anything (the user's message is kept either way).
        """
        text = clean_message(text)  # every face's text is repaired and bounded here, once
        grounding = None
        if collections:
            if self.documents is None:
                raise EnclaveError("Documents are not available in this session.")
            grounding = self.documents.ground(text, collections)
            if grounding.local_only:
                route = None  # the router keeps local-only material here
        if route in (None, LOCAL):
            self._ensure_engine()  # fail before anything is stored when no model can load
        if conversation_id is None:
            conversation_id = self.new_conversation(title_from(text))
        user_id = None
        if self.history is not None:
            # One read of the conversation: the branch the new message continues.
            chain = [] if parent_id == ROOT else self.branch(conversation_id, parent_id)
            parent_id = chain[-1].id if chain else None
            history = _as_chat(chain)
            user_id = self.history.add_message(conversation_id, "user", text, parent_id=parent_id)
        else:
            history = self.transcript(conversation_id)
            self._memory.get(conversation_id).append(ChatMessage("user", text))
        history.append(ChatMessage("user", grounding.user_text if grounding else text))
        result = self._answer(conversation_id, history, user_id, text, on_token, cancel, params,
                              route, confirm)
        if grounding is None:
            return result
        return replace(result, sources=grounding.sources)

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
        """Answer a stored user message again; the earlier answer stays in history.

        Raises:
            EnclaveError: no history is attached, or the message is not a user message.
        """
        if self.history is None:
            raise EnclaveError("Regenerating needs the saved history.", "Turn saving on.")
        chain = self.branch(conversation_id, user_message_id)
        if not chain or chain[-1].role != "user":
            raise EnclaveError("Only an answer to one of your messages can be regenerated.")
        history = self.transcript(conversation_id, user_message_id)
        return self._answer(conversation_id, history, user_message_id, chain[-1].text,
                            on_token, cancel, params, route, confirm)

    def _ensure_engine(self) -> ChatEngine:
        if self._engine is None:
            self.load_model()
        assert self._engine is not None
        return self._engine

    def _plan(
        self, conversation_id: int, history: list[ChatMessage], route: str | None,
        confirm: Confirm | None,
    ) -> TurnPlan:
        if self.policy is None:
            if route not in (None, LOCAL):
                raise RouteRefused("No policy allows remote routes here.", "Ask locally.")
            return TurnPlan(RouteDecision(LOCAL, None, True, "built-in:local", ""), history)
        if route not in (None, LOCAL) and conversation_id not in self._redactors:
            from app.core.guard.redact import Redactor

            redactor = Redactor.from_policy(self.policy)
            if self.history is not None:
                # A resumed conversation keeps its placeholders (stored encrypted, locally).
                redactor.seed(self.history.redactions(conversation_id))
            self._redactors[conversation_id] = redactor
        try:
            return plan_turn(
                self.policy, requested=route, user=self.user, groups=self.groups,
                messages=history, redactor=self._redactors.get(conversation_id),
                confirm=confirm,
            )
        except RouteRefused as exc:
            if self.audit is not None:
                self.audit.record("policy.refused", conversation_id=conversation_id,
                                  route={"name": str(route), "classification": "unknown"},
                                  outcome={"status": "denied", "reason": exc.message})
            raise

    def _answer(
        self,
        conversation_id: int,
        history: list[ChatMessage],
        user_id: int | None,
        text: str,
        on_token: Callable[[str], None] | None,
        cancel: threading.Event | None,
        params: GenerationParams | None,
        route: str | None,
        confirm: Confirm | None,
    ) -> TurnResult:
        if self.system_prompt and not any(m.role == "system" for m in history):
            history.insert(0, ChatMessage("system", self.system_prompt))
        plan = self._plan(conversation_id, history, route, confirm)
        if plan.remote and self.ledger is not None and self.policy is not None:
            try:
                self.ledger.check_budget(float(self.policy.get(
                    "connector.monthly_budget_per_user") or 0))
            except EnclaveError as exc:
                if self.audit is not None:
                    self.audit.record("policy.refused", conversation_id=conversation_id,
                                      route={"name": plan.decision.route,
                                             "classification": "external"},
                                      outcome={"status": "denied", "reason": exc.message})
                raise
        engine = self._remote.get(plan.decision) if plan.remote else self._ensure_engine()
        info = engine.info
        classification = (plan.decision.endpoint or {}).get("classification", "local")
        route_record = {"name": plan.decision.route, "classification": classification}
        gen = params or self.params
        if self.audit is not None and self.audit.required:
            # NIST AU-5: when policy requires an audit trail, a model call that cannot be
            # recorded must not happen. Record its start first; a failure refuses the call.
            self.audit.record(
                "model.call",
                conversation_id=conversation_id,
                model={"id": info.model_id, "sha256": info.model_sha256},
                route=route_record,
                prompt_sha256=hashlib.sha256(text.encode()).hexdigest(),
                outcome={"status": "ok", "reason": "started"},
            )
        # The admin's allow_insecure_http leaves a trail wherever it is actually used.
        if (self.audit is not None and plan.remote
                and insecure_http_override(plan.decision.endpoint)):
            self.audit.record(
                events.CONNECTOR_INSECURE_HTTP, conversation_id=conversation_id,
                route=route_record,
                detail={"base_url": (plan.decision.endpoint or {}).get("base_url", "")},
                outcome={"status": "ok", "reason": "allowed by allow_insecure_http"},
            )
        if plan.mapping and self.history is not None:
            self.history.save_redactions(conversation_id, plan.mapping)
        if plan.redactions and self.audit is not None:
            self.audit.record("redaction.applied", conversation_id=conversation_id,
                              route=route_record, redactions=plan.redactions,
                              outcome={"status": "ok", "reason": "redacted before sending"})
        assistant_id = None
        if self.history is not None:
            assistant_id = self.history.add_message(
                conversation_id, "assistant", "", parent_id=user_id, model_id=info.model_id,
                model_sha256=info.model_sha256, route=info.route, complete=False,
            )

        streamed: list[str] = []
        last_flush = time.monotonic()
        restorer = None
        if plan.mapping:
            from app.core.guard.redact import StreamRestorer

            restorer = StreamRestorer(plan.mapping)

        def on_piece(piece: str) -> None:
            nonlocal last_flush
            if restorer is not None:
                piece = restorer.feed(piece)
                if not piece:
                    return
            streamed.append(piece)
            if on_token is not None:
                on_token(piece)
            if assistant_id is not None and time.monotonic() - last_flush >= FLUSH_INTERVAL_S:
                last_flush = time.monotonic()
                assert self.history is not None
                self.history.update_message(assistant_id, text="".join(streamed), complete=False)

        started = time.perf_counter()
        self._turn_conversation = conversation_id
        try:
            prompt = fit_to_context(engine, plan.messages, gen)
            completion = engine.stream(prompt, gen, on_piece, cancel)
        except EngineError as exc:
            completion = Completion(
                text="".join(streamed), finish_reason="error", prompt_tokens=0,
                completion_tokens=0, ttft_s=0.0, total_s=time.perf_counter() - started,
                tokens_per_s=0.0, error=exc.message,
            )
            self._finish(conversation_id, assistant_id, text, completion, info, route_record,
                         plan)
            exc.conversation_id = conversation_id
            raise
        if restorer is not None:
            tail = restorer.flush()
            if tail:
                streamed.append(tail)
                if on_token is not None:
                    on_token(tail)
            completion = replace(completion, text="".join(streamed))
        self._finish(conversation_id, assistant_id, text, completion, info, route_record, plan)
        return TurnResult(conversation_id, user_id, assistant_id, completion, info,
                          route_note=plan.note, redactions=plan.redactions or None)

    def _finish(
        self,
        conversation_id: int,
        assistant_id: int | None,
        prompt: str,
        completion: Completion,
        info: EngineInfo,
        route_record: dict[str, str],
        plan: TurnPlan,
    ) -> None:
        if self.history is not None and assistant_id is not None:
            self.history.update_message(
                assistant_id, text=completion.text, complete=completion.complete,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                ttft_ms=completion.ttft_s * 1000, tokens_per_s=completion.tokens_per_s,
            )
        elif self.history is None:
            self._memory.get(conversation_id).append(ChatMessage("assistant", completion.text))
        cost = 0.0
        if plan.remote:
            cost = call_cost(plan.decision.endpoint, info.model_id, completion.prompt_tokens,
                             completion.completion_tokens)
            if self.ledger is not None:
                self.ledger.add(plan.decision.route, cost)
        if self.audit is not None:
            status = "ok" if completion.finish_reason != "error" else "error"
            self.audit.record(
                "model.call",
                conversation_id=conversation_id,
                model={"id": info.model_id, "sha256": info.model_sha256},
                route=route_record,
                policy={"rule": plan.decision.rule},
                redactions=plan.redactions or None,
                prompt_sha256=hashlib.sha256(prompt.encode()).hexdigest(),
                answer_sha256=hashlib.sha256(completion.text.encode()).hexdigest(),
                tokens_in=completion.prompt_tokens,
                tokens_out=completion.completion_tokens,
                ttft_ms=round(completion.ttft_s * 1000, 3),
                latency_ms=round(completion.total_s * 1000, 3),
                cost=round(cost, 6),
                detail={"refusal": is_refusal(completion.text),
                        "answer_chars": len(completion.text)},
                outcome={"status": status, "reason": completion.error or completion.finish_reason},
            )

    def close(self) -> None:
        """Unload the engine, end a spare engine process, close remote connections."""
        from app.core.engines.supervisor import stop_spare

        self._remote.close()
        with self._load_lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
        stop_spare()



def _as_chat(chain: Sequence[Any]) -> list[ChatMessage]:
    """Stored messages as the engine sees them (empty, e.g. failed, answers left out)."""
    return [ChatMessage(m.role, m.text) for m in chain
            if m.role in ("system", "user", "assistant") and m.text]

__all__ = ["ChatService", "Role", "TurnResult", "title_from", "with_overrides"]
