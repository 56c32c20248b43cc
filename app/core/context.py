"""Assemble the app's services once, the same way for the GUI and the CLI.

Order matters: policy first (it decides everything else), then the user's settings under it,
then the audit log (so that the policy's own loading is recorded), then history, then the
chat service that ties them together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from app.core.audit import AuditLog, AuditUnavailable, events
from app.core.auto_router import AutoRouter
from app.core.chat import ChatService
from app.core.engines.base import EngineOptions, GenerationParams
from app.core.engines.cpu_kernels import extra_bufts_for
from app.core.engines.supervisor import prestart
from app.core.errors import EnclaveError
from app.core.grounding import Documents
from app.core.guard.egress import install_egress_guard
from app.core.logs import configure_logging
from app.core.models.registry import ModelRegistry
from app.core.paths import AppPaths, default_paths
from app.core.policy import EffectivePolicy, current_os_user, load_policy
from app.core.routing import allowed_hosts
from app.core.settings import Settings
from app.core.store import HistoryStore, PassphraseRequired, open_history
from app.core.usage_cost import UsageLedger

AskPassphrase = Callable[[bool], str]  # first_run -> passphrase

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    """Everything a front end needs, built from paths, policy and settings."""

    paths: AppPaths
    policy: EffectivePolicy
    settings: Settings
    registry: ModelRegistry
    chat: ChatService
    audit: AuditLog | None = None
    history: HistoryStore | None = None
    warnings: list[str] = field(default_factory=list)

    def close(self) -> None:
        """Unload the model and close the stores, in reverse order of opening."""
        self.chat.close()
        if self.chat.documents is not None:
            self.chat.documents.close()
        for closable in (self.history, self.audit):
            if closable is not None:
                try:
                    closable.close()
                except Exception:  # noqa: BLE001 - closing must not mask the real outcome
                    log.exception("error while closing %s", type(closable).__name__)


def engine_options(settings: Settings) -> EngineOptions:
    """Engine options from the effective settings (policy caps already applied)."""
    return EngineOptions(
        context_length=int(settings.get("engine.context_length")),
        gpu_layers=int(settings.get("engine.gpu_layers")),
        threads=int(settings.get("engine.threads")),
        extra_bufts=extra_bufts_for(str(settings.get("engine.cpu_repacking"))),
    )


def generation_params(settings: Settings) -> GenerationParams:
    """Sampling parameters from the effective settings."""
    return GenerationParams(
        temperature=float(settings.get("generation.temperature")),
        top_p=float(settings.get("generation.top_p")),
        top_k=int(settings.get("generation.top_k")),
        max_tokens=int(settings.get("generation.max_tokens")),
        seed=int(settings.get("generation.seed")),
    )


def open_audit(paths: AppPaths, policy: EffectivePolicy) -> tuple[AuditLog | None, list[str]]:
    """Open the audit log as the policy configures it and record the policy's loading."""
    warnings: list[str] = []
    try:
        audit = AuditLog(
            paths,
            log_content=bool(policy.get("audit.log_content")),
            required=bool(policy.get("audit.required")),
            forward=policy.get("audit.forward"),
            policy_sha256=policy.sha256,
        )
    except EnclaveError as exc:
        if policy.get("audit.required"):
            raise
        return None, [f"The audit log is off: {exc.message}"]
    event = events.POLICY_RESTRICTED if policy.restricted else events.POLICY_LOADED
    outcome = {"status": "denied" if policy.restricted else "ok",
               "reason": "; ".join(policy.restricted_reasons) or "policy loaded"}
    try:
        audit.record(event, outcome=outcome)
    except AuditUnavailable as exc:
        # audit.required: the chat service refuses model calls until the log is writable.
        warnings.append(exc.message)
    if audit.degraded and audit.degraded_reason:
        warnings.append(f"The audit log cannot be written: {audit.degraded_reason}")
    return audit, warnings


def record_event(paths: AppPaths, event: str, **fields: object) -> None:
    """Write one audit record from a command that does not open the whole app.

    Raises:
        AuditUnavailable: policy requires the audit log and it cannot be written.
    """
    policy = load_policy(paths.policy_root)
    audit, _warnings = open_audit(paths, policy)
    if audit is None:
        return
    try:
        audit.record(event, **fields)
    finally:
        audit.close()


def guard_network(
    policy: EffectivePolicy, user: str, groups: list[str], audit: AuditLog | None
) -> None:
    """Refuse every connection but loopback, this user's policy endpoints and the collector.

    Each refusal is written to the audit log.
    """
    collector = policy.get("audit.forward")
    extra = {urlsplit(collector).hostname or ""} if collector else set()

    def hosts() -> set[str]:
        return allowed_hosts(policy, user, groups) | extra

    def blocked(host: str, port: int | None) -> None:
        if audit is not None:
            try:
                audit.record(events.EGRESS_BLOCKED, detail={"host": host, "port": port},
                             outcome={"status": "denied", "reason": "not allowed by policy"})
            except EnclaveError:
                log.warning("could not audit a blocked connection to %s", host)

    install_egress_guard(hosts, blocked)


def guard_process_network(paths: AppPaths) -> None:
    """The egress guard for a command before (or without) ``open_app``; refusals are audited."""
    policy = load_policy(paths.policy_root)
    user, groups = current_os_user()

    def audited(host: str, port: int | None) -> None:
        try:
            record_event(paths, events.EGRESS_BLOCKED, detail={"host": host, "port": port},
                         outcome={"status": "denied", "reason": "not allowed by policy"})
        except EnclaveError:
            log.warning("could not audit a blocked connection to %s", host)

    install_egress_guard(lambda: allowed_hosts(policy, user, groups), audited)


def open_store(
    paths: AppPaths, passphrase: str | None, ask_passphrase: AskPassphrase | None
) -> HistoryStore:
    """Open the encrypted history, asking for a passphrase only when the key needs one."""
    try:
        return open_history(paths, passphrase=passphrase)
    except PassphraseRequired:
        if passphrase is not None or ask_passphrase is None:
            raise
        first_run = not paths.database_file.exists()
        return open_history(paths, passphrase=ask_passphrase(first_run))


def apply_retention(history: HistoryStore, settings: Settings, audit: AuditLog | None) -> int:
    """Delete conversations older than the retention setting (policy may lock it)."""
    days = int(settings.get("history.retention_days") or 0)
    if days <= 0:
        return 0
    removed = history.apply_retention(days)
    if audit is not None:
        audit.record(events.RETENTION_RUN, detail={"days": days, "deleted": removed},
                     outcome={"status": "ok", "reason": f"{removed} conversations deleted"})
    return removed


# Long on purpose: the one place a session is assembled, in dependency order; each step
# closes what the earlier ones opened when it fails.
def open_app(
    paths: AppPaths | None = None,
    *,
    save: bool = True,
    passphrase: str | None = None,
    ask_passphrase: AskPassphrase | None = None,
    prestart_engine: bool = False,
) -> AppContext:
    """Build the app's services.

    Args:
        paths: where things live; default: this user's directories.
        save: keep conversations in the encrypted history (``False``: in memory only).
        passphrase: the history passphrase, when the history is in passphrase mode.
        ask_passphrase: called when a passphrase is needed and none was given.
        prestart_engine: start an engine process now, while the keyring and the database
            open, so loading a model later does not wait for it.

    Raises:
        StoreError: the history cannot be opened (wrong key, damaged file…); the file is
            left untouched. Callers may retry with ``save=False``.
    """
    paths = (paths or default_paths()).ensure()
    configure_logging(paths.log_file)
    if prestart_engine:
        prestart(paths.log_file)
    policy = load_policy(paths.policy_root)
    settings = Settings.load(paths, policy)
    warnings = [f"Restricted mode: {r}" for r in policy.restricted_reasons]
    warnings += list(settings.warnings)
    audit, audit_warnings = open_audit(paths, policy)
    warnings += audit_warnings
    history = None
    typed: list[str] = []  # a passphrase typed at the prompt also opens the documents index

    def asking(first_run: bool) -> str:
        assert ask_passphrase is not None
        typed.append(ask_passphrase(first_run))
        return typed[-1]

    if save:
        try:
            history = open_store(paths, passphrase, asking if ask_passphrase else None)
            apply_retention(history, settings, audit)
        except BaseException:
            if audit is not None:
                audit.close()
            raise
    registry = ModelRegistry(paths)
    user, groups = current_os_user()
    # Documents live in the same encrypted database; the index opens on first use, also in
    # a session whose conversations are not saved.
    from app.core.docs.index import open_index

    documents = Documents(paths, policy, lambda: open_index(
        paths, passphrase=passphrase if passphrase is not None else (typed[-1] if typed else None)))
    chat = ChatService(
        registry, history=history, audit=audit, policy=policy,
        options=engine_options(settings), params=generation_params(settings),
        user=user, groups=groups, ledger=UsageLedger(paths.data_dir / "usage.json"),
        documents=documents,
        auto=AutoRouter(policy, paths.policy_root, lambda: documents.embedder().embed),
    )
    guard_network(policy, user, groups, audit)
    try:
        chat.local.default_model_id = registry.active_model_id(policy, settings)
    except EnclaveError as exc:
        warnings.append(exc.message)
    return AppContext(
        paths=paths, policy=policy, settings=settings, registry=registry, chat=chat,
        audit=audit, history=history, warnings=warnings,
    )
