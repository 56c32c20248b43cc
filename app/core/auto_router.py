"""The auto router a ChatService holds: policy, examples and embedder, loaded when first needed.

``auto_route`` has the check and the decision as plain functions; this keeps what they need
between turns (the embedded examples, the cache of embedded context) and fails closed: when
the examples file cannot be trusted or the embedder cannot load, every auto turn stays on
this machine and says why.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app.core.auto_route import (
    SemanticCheck,
    Sensitivity,
    SensitivityCheck,
    Signal,
    auto_decision,
    auto_mode,
    read_examples,
)
from app.core.engines.base import ChatMessage
from app.core.errors import EnclaveError
from app.core.routing import RouteDecision

log = logging.getLogger(__name__)

EmbedLoader = Callable[[], Callable[[Sequence[str]], Any]]


class AutoRouter:
    """Decides auto-routed turns for one session.

    Args:
        policy: The effective policy.
        policy_root: Where the managed folder with the sensitive-topic examples is.
        embedder: Loads the embedder (``Documents.embedder().embed``) on first need.
    """

    def __init__(self, policy: Any, policy_root: Path | None,
                 embedder: EmbedLoader | None = None) -> None:
        self.policy = policy
        self.policy_root = policy_root
        self._embedder = embedder
        self._lock = threading.Lock()
        self._check: SensitivityCheck | None = None
        self._unavailable: Signal | None = None
        self.sticky: set[int] = set()  # conversations marked sensitive (also when not saved)

    def active(self, groups: Sequence[str]) -> bool:
        """Whether this user's turns are routed automatically (never in restricted mode)."""
        if getattr(self.policy, "restricted", False):
            return False
        return auto_mode(self.policy, list(groups))

    def judge(self, messages: Sequence[ChatMessage], *, local_only_documents: bool = False,
              conversation_sensitive: bool = False) -> Sensitivity:
        """Every signal in what the turn would send (the whole prompt)."""
        check = self._ready()
        found = check.check(messages, local_only_documents=local_only_documents,
                            conversation_sensitive=conversation_sensitive)
        if self._unavailable is not None and not found.deterministic:
            return Sensitivity((self._unavailable, *found.signals), found.similarity,
                               found.elapsed_ms)
        return found

    def decide(self, messages: Sequence[ChatMessage], *, requested: str | None, user: str,
               groups: Sequence[str], local_only_documents: bool = False,
               conversation_sensitive: bool = False) -> tuple[RouteDecision, Sensitivity]:
        """The route for one auto turn, and what the check found."""
        found = self.judge(messages, local_only_documents=local_only_documents,
                           conversation_sensitive=conversation_sensitive)
        decision = auto_decision(self.policy, found, requested=requested, user=user,
                                 groups=list(groups))
        return decision, found

    def _ready(self) -> SensitivityCheck:
        with self._lock:
            if self._check is None:
                self._check = SensitivityCheck(self.policy, semantic=self._semantic())
            return self._check

    def _semantic(self) -> SemanticCheck | None:
        if self.policy_root is None:
            return None
        examples, problem = read_examples(
            self.policy_root, str(self.policy.get("routing.sensitive_examples")))
        if problem:
            log.warning("auto routing keeps every turn here: %s", problem)
            self._unavailable = Signal(
                "routing:examples-untrusted", "routing.sensitive_examples",
                "the sensitive-topic examples cannot be trusted (ask your administrator)")
            return None
        if not examples:
            return None
        try:
            if self._embedder is None:
                raise EnclaveError("No embedding model is available in this session.")
            embed = self._embedder()
            return SemanticCheck(examples, embed,
                                 float(self.policy.get("routing.semantic_threshold")))
        except EnclaveError as exc:
            log.warning("auto routing keeps every turn here: %s", exc.message)
            self._unavailable = Signal(
                "routing:semantic-unavailable", "routing.sensitive_examples",
                "the sensitive-topic check cannot run (the embedding model is missing)")
            return None
