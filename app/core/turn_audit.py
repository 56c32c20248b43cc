"""The audit records a turn leaves: what was decided, what left, what came back.

Records hold digests, counts and rules, never the text itself (unless policy asks the audit
log to keep content, which ``AuditLog`` handles).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

from app.core.audit import events
from app.core.errors import EnclaveError
from app.core.observe.refusal import is_refusal
from app.core.policy.endpoints import insecure_http_override
from app.core.ports import AuditSink
from app.core.prompts import system_prompt_sha256
from app.core.turn import Turn


def sha(text: str) -> str:
    """The digest the audit log keeps instead of the text."""
    return hashlib.sha256(text.encode()).hexdigest()


def source_digests(sources: Sequence[Any]) -> list[dict[str, Any]]:
    """What the audit log keeps of the sources an answer was given: never their text.

    Per source: its number, collection and file name, the document's digest when it was
    cited, and the digest of the passage itself.
    """
    return [{"n": s.n, "collection": s.collection,
             "file": os.path.basename(str(s.file).replace("\\", "/")),
             "sha256": s.sha256, "passage_sha256": sha(s.text)} for s in sources]


def record_refusal(
    audit: AuditSink | None, turn: Turn, classification: str, rule: str, exc: EnclaveError
) -> None:
    """A refusal in step 1 (route, budget): the turn's decision and ``policy.refused``."""
    turn.decide("authorize", False, rule, exc.message)
    if audit is not None:
        audit.record(events.POLICY_REFUSED, conversation_id=turn.request.conversation_id,
                     route={"name": str(turn.request.route), "classification": classification},
                     policy={"rule": rule}, outcome={"status": "denied", "reason": exc.message})


def record_start(audit: AuditSink | None, turn: Turn) -> None:
    """Before the model is called, where policy requires an audit trail.

    NIST AU-5: when policy requires the audit log, a model call that cannot be recorded must
    not happen; recording its start first makes a failure refuse the call.
    """
    if audit is None or not audit.required:
        return
    info = turn.answering.info
    audit.record(events.MODEL_CALL, conversation_id=turn.conversation,
                 model={"id": info.model_id, "sha256": info.model_sha256},
                 route=turn.route_record, prompt_sha256=sha(turn.request.text),
                 outcome={"status": "ok", "reason": "started"})


def record_outgoing(audit: AuditSink | None, turn: Turn) -> None:
    """What leaves: the insecure-http override where it is used, and what was redacted."""
    plan = turn.planned
    if audit is None or not plan.remote:
        return
    if insecure_http_override(plan.decision.endpoint):
        audit.record(
            events.CONNECTOR_INSECURE_HTTP, conversation_id=turn.conversation,
            route=turn.route_record,
            detail={"base_url": (plan.decision.endpoint or {}).get("base_url", "")},
            outcome={"status": "ok", "reason": "allowed by allow_insecure_http"})
    if plan.redactions:
        audit.record(events.REDACTION_APPLIED, conversation_id=turn.conversation,
                     route=turn.route_record, redactions=plan.redactions,
                     outcome={"status": "ok", "reason": "redacted before sending"})


def record_call(audit: AuditSink | None, turn: Turn) -> None:
    """Step 7: one ``model.call`` record per call, with the rule that routed it."""
    if audit is None:
        return
    completion, plan, info = turn.answer, turn.planned, turn.answering.info
    sources = turn.grounding.sources if turn.grounding is not None else []
    audit.record(
        events.MODEL_CALL,
        conversation_id=turn.conversation,
        model={"id": info.model_id, "sha256": info.model_sha256},
        route=turn.route_record,
        policy={"rule": plan.decision.rule},
        redactions=plan.redactions or None,
        prompt_sha256=sha(turn.request.text),
        answer_sha256=sha(completion.text),
        tokens_in=completion.prompt_tokens,
        tokens_out=completion.completion_tokens,
        ttft_ms=round(completion.ttft_s * 1000, 3),
        latency_ms=round(completion.total_s * 1000, 3),
        cost=round(turn.cost, 6),
        detail={"refusal": is_refusal(completion.text), "answer_chars": len(completion.text),
                **({"note": plan.note} if plan.note else {}),
                **({"system_prompt_sha256": digest}
                   if (digest := system_prompt_sha256(plan.messages)) else {}),
                **({"sources": source_digests(sources)} if sources else {}),
                **({"source_markers_removed": turn.markers_removed}
                   if turn.markers_removed else {}),
                **({"auto_routing": turn.sensitivity.record()}
                   if turn.sensitivity is not None else {})},
        outcome={"status": "ok" if completion.finish_reason != "error" else "error",
                 "reason": completion.error or completion.finish_reason},
    )
