"""Every audit event name, in one place.

Other modules pass these constants to ``AuditLog.record``; a name not listed here is refused,
so a typo cannot create an event that no report or collector rule looks for.
"""

from __future__ import annotations

from typing import Final

MODEL_CALL: Final = "model.call"
POLICY_REFUSED: Final = "policy.refused"
REDACTION_APPLIED: Final = "redaction.applied"
EGRESS_BLOCKED: Final = "egress.blocked"
POLICY_LOADED: Final = "policy.loaded"
POLICY_RESTRICTED: Final = "policy.restricted"
MODEL_IMPORTED: Final = "model.imported"
MODEL_VERIFIED: Final = "model.verified"
MODEL_REFUSED: Final = "model.refused"
KEY_ROTATED: Final = "key.rotated"
HISTORY_EXPORTED: Final = "history.exported"
HISTORY_DELETED: Final = "history.deleted"
HISTORY_RECOVERED: Final = "history.recovered"
RETENTION_RUN: Final = "retention.run"
AUDIT_VERIFIED: Final = "audit.verified"
AUDIT_CHECKPOINT: Final = "audit.checkpoint"
ENGINE_CRASHED: Final = "engine.crashed"
# A call to an external endpoint that policy allows over plain http (allow_insecure_http):
# recorded for every such call, so the override leaves a trail where it is used.
CONNECTOR_INSECURE_HTTP: Final = "connector.insecure_http"
# `enclave models provision` may (ok) or may not (denied) download; detail.host: where to.
MODEL_DOWNLOAD: Final = "model.download"
# A model was evaluated (`enclave models evaluate`): detail names the signed report (id and
# SHA-256), the suites with their versions and scores, and the llama.cpp build.
MODEL_EVALUATED: Final = "model.evaluated"
# The local API (`enclave serve`): started and stopped (detail.address), a token made or
# revoked (detail.token: its name, never the token), failed sign-ins (recorded at the 1st,
# 10th, 100th… failure in a row, detail.failures), and one record per embeddings request.
API_STARTED: Final = "api.started"
API_STOPPED: Final = "api.stopped"
API_TOKEN_CREATED: Final = "api.token_created"
API_TOKEN_REVOKED: Final = "api.token_revoked"
API_AUTH_FAILED: Final = "api.auth_failed"
API_EMBEDDINGS: Final = "api.embeddings"

ALL_EVENTS: Final[frozenset[str]] = frozenset(
    {
        MODEL_CALL,
        POLICY_REFUSED,
        REDACTION_APPLIED,
        EGRESS_BLOCKED,
        POLICY_LOADED,
        POLICY_RESTRICTED,
        MODEL_IMPORTED,
        MODEL_VERIFIED,
        MODEL_REFUSED,
        KEY_ROTATED,
        HISTORY_EXPORTED,
        HISTORY_DELETED,
        HISTORY_RECOVERED,
        RETENTION_RUN,
        AUDIT_VERIFIED,
        AUDIT_CHECKPOINT,
        ENGINE_CRASHED,
        CONNECTOR_INSECURE_HTTP,
        MODEL_DOWNLOAD,
        MODEL_EVALUATED,
        API_STARTED,
        API_STOPPED,
        API_TOKEN_CREATED,
        API_TOKEN_REVOKED,
        API_AUTH_FAILED,
        API_EMBEDDINGS,
    }
)

# outcome.status values.
OK: Final = "ok"
DENIED: Final = "denied"
ERROR: Final = "error"
OUTCOME_STATUSES: Final[frozenset[str]] = frozenset({OK, DENIED, ERROR})

# Optional fields a caller may pass to ``record``, in the order they appear in the issue.
OPTIONAL_FIELDS: Final[frozenset[str]] = frozenset(
    {
        "conversation_id",
        "model",
        "route",
        "policy",
        "redactions",
        "prompt_sha256",
        "answer_sha256",
        "tokens_in",
        "tokens_out",
        "ttft_ms",
        "latency_ms",
        "cost",
        "outcome",
        "detail",
    }
)
# Text a caller may hand over; only its digest is kept unless policy logs content.
TEXT_FIELDS: Final = ("prompt", "answer")
