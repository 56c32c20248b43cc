"""Auto routing: may this turn use the remote endpoint, or does it carry something sensitive?

Under ``routing.mode = "auto"`` every turn is judged on everything that would be sent — the
whole conversation context, the retrieved passages, the new message — before anything
leaves. Two kinds of signal keep it here:

- deterministic: a redaction finding of a blocking or admin-listed type, a classification
  marking, a custom term or pattern, a local-only collection, a conversation already marked
  sensitive (stickiness: its earlier context never leaves afterwards). Nothing overrides these;
- semantic: similarity (the bundled MiniLM embedder) to the administrator's examples of
  sensitive topics, measured against everyday topics (:data:`GENERAL_TOPICS`): a turn stays
  when it is closer to a sensitive example than to any everyday topic by at least
  ``routing.semantic_threshold``. Raw similarity alone separates poorly with a small
  embedder (``bench/routing.py``: at 2% sensitive sent, 3 in 10 general questions were kept
  here; with the margin, under 1 in 10).

What is left may go to ``routing.auto_endpoint``, redacted and confirmed as policy says. The
signals and their scores go into the turn's decisions and its audit record.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.core.engines.base import ChatMessage
from app.core.routing import BLOCKING_ENTITY_TYPES, LOCAL, RouteDecision, decide_route

Embed = Callable[[Sequence[str]], Any]  # texts -> (n, d) array of unit vectors

ALWAYS_LOCAL_TYPES = frozenset({"TERM", "CUSTOM"}) | BLOCKING_ENTITY_TYPES
"""Custom terms and patterns are the site's own definition of sensitive: never auto-sent."""

GENERAL_TOPICS = (
    "General knowledge question about science, nature, history or geography",
    "Help with programming, code, databases or software tools",
    "Writing help: poems, jokes, emails, letters, stories, rewording",
    "Cooking, recipes, travel, sport, hobbies and everyday life",
    "Explain how something works in general terms",
    "Mathematics, statistics, economics and finance concepts and definitions",
    "Translate, proofread or summarise a text",
    "Career advice, interviews, meetings and study tips",
    "Health, fitness and wellbeing tips in general",
    "Recommendations for books, films, music or names",
    "How laws, institutions and organisations work in general",
    "Technology concepts such as networks, security and computing explained",
)
"""Everyday topics a sensitive example is measured against (see the module docstring)."""

_WINDOW_CHARS = 600  # about one embedder window (256 tokens) of prose, split at spaces
_MAX_WINDOWS = 64  # a long context is judged on its first and last windows beyond this
_CACHE_SIZE = 4096  # texts already embedded: a conversation's context repeats every turn

_WORDS = {
    "CLASSIFICATION": "a classification marking",
    "PRIVATE_KEY": "a private key",
    "TERM": "a term your organization lists as sensitive",
    "CUSTOM": "text matching your organization's sensitive patterns",
    "EMAIL": "an email address",
    "PHONE": "a phone number",
    "IBAN": "a bank account number",
    "CARD": "a payment card number",
    "SSN": "a social security number",
    "SECRET": "a secret or access key",
    "URL_CREDENTIALS": "a password in a link",
    "IP": "an IP address",
    "MAC": "a hardware address",
}


@dataclass(frozen=True)
class Signal:
    """One reason a turn stays on this machine.

    Attributes:
        name: ``finding:EMAIL``, ``documents:local-only``, ``conversation:sensitive`` or
            ``semantic:similar-topic``.
        rule: The policy key that made it count.
        words: The reason, as the route indicator says it ("contains an email address").
        deterministic: Whether nothing may override it (every signal but similarity).
        score: The similarity, for the semantic signal.
    """

    name: str
    rule: str
    words: str
    deterministic: bool = True
    score: float | None = None


@dataclass(frozen=True)
class Sensitivity:
    """What the check found in everything a turn would send."""

    signals: tuple[Signal, ...]
    similarity: float | None  # the best margin over everyday topics (see SemanticCheck)
    elapsed_ms: float

    @property
    def sensitive(self) -> bool:
        """Whether the turn must stay here."""
        return bool(self.signals)

    @property
    def deterministic(self) -> bool:
        """Whether a signal fired that no choice of the user overrides."""
        return any(s.deterministic for s in self.signals)

    def reason(self) -> str:
        """``contains a classification marking`` (the first signal), or ``general question``."""
        return self.signals[0].words if self.signals else "general question"

    def record(self) -> dict[str, Any]:
        """The audit record's view: signal names, rules and scores, never text."""
        return {
            "signals": [{"name": s.name, "rule": s.rule, "score": s.score}
                        for s in self.signals],
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "elapsed_ms": round(self.elapsed_ms, 2),
        }


def windows(text: str) -> list[str]:
    """``text`` in pieces of about one embedder window each (long text would be truncated)."""
    text = " ".join(text.split())
    if len(text) <= _WINDOW_CHARS:
        return [text] if text else []
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + _WINDOW_CHARS)
        if end < len(text):
            cut = text.rfind(" ", start + _WINDOW_CHARS // 2, end)
            end = cut if cut > start else end
        out.append(text[start:end].strip())
        start = end
    if len(out) > _MAX_WINDOWS:
        half = _MAX_WINDOWS // 2
        out = out[:half] + out[-half:]
    return [w for w in out if w]


class SemanticCheck:
    """Closeness to the administrator's sensitive examples, with a cache of embedded text.

    Args:
        examples: The sensitive topics (one sentence or phrase each).
        embed: The embedder (``Embedder.embed``), loaded by the caller.
        threshold: The margin at or above which a turn stays here.
        everyday: The topics a margin is measured against.
    """

    def __init__(self, examples: Sequence[str], embed: Embed, threshold: float,
                 everyday: Sequence[str] = GENERAL_TOPICS) -> None:
        import numpy as np

        self.examples = [e for e in (x.strip() for x in examples) if e]
        self.threshold = threshold
        self._embed = embed
        self._np = np
        self._lock = threading.Lock()
        self._cache: OrderedDict[bytes, Any] = OrderedDict()
        self._examples = (np.asarray(embed(self.examples), dtype=np.float32) if self.examples
                          else np.zeros((0, 1), dtype=np.float32))
        self._everyday = np.asarray(embed(list(everyday)), dtype=np.float32)

    def best(self, texts: Sequence[str]) -> float | None:
        """The largest margin of any window of ``texts``.

        A window's margin is its similarity to the closest sensitive example minus its
        similarity to the closest everyday topic.
        """
        if not self.examples:
            return None
        pieces = [w for t in texts for w in windows(t)]
        if not pieces:
            return None
        vectors = self._vectors(pieces)
        sensitive = (vectors @ self._examples.T).max(axis=1)
        everyday = (vectors @ self._everyday.T).max(axis=1)
        return float((sensitive - everyday).max())

    def _vectors(self, pieces: list[str]) -> Any:
        keys = [hashlib.sha256(p.encode("utf-8", "replace")).digest() for p in pieces]
        with self._lock:
            missing = {k: p for k, p in zip(keys, pieces, strict=True) if k not in self._cache}
        fresh = self._embed(list(missing.values())) if missing else []
        with self._lock:
            found = dict(zip(missing, fresh, strict=True))
            for k, v in found.items():
                self._cache[k] = v
            vectors = [found[k] if k in found else self._cache[k] for k in keys]
            for k in keys:
                if k in self._cache:
                    self._cache.move_to_end(k)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
            return self._np.stack(vectors)


class SensitivityCheck:
    """Judges what a turn would send (see the module docstring).

    Args:
        policy: The effective policy (redaction rules, ``routing.*``).
        semantic: The similarity check, or ``None`` when no examples are configured.
        detect: Findings by type in messages (``Redactor.detect``); built from policy when
            not given.
    """

    def __init__(self, policy: Any, *, semantic: SemanticCheck | None = None,
                 detect: Callable[[Sequence[ChatMessage]], dict[str, int]] | None = None) -> None:
        if detect is None:
            from app.core.guard.redact import Redactor

            detect = Redactor.from_policy(policy).detect
        self._detect = detect
        self.semantic = semantic
        blocking = policy.get("redaction.blocking_types")
        listed = policy.get("routing.local_types")
        self.local_types = (ALWAYS_LOCAL_TYPES | frozenset(blocking or ())
                            | frozenset(listed or ()))

    def check(self, messages: Sequence[ChatMessage], *, local_only_documents: bool = False,
              conversation_sensitive: bool = False) -> Sensitivity:
        """Every signal that fires on ``messages`` (all that would be sent)."""
        started = time.perf_counter()
        signals: list[Signal] = []
        if conversation_sensitive:
            signals.append(Signal("conversation:sensitive", "routing:sticky",
                                  "this conversation was marked sensitive earlier"))
        if local_only_documents:
            signals.append(Signal("documents:local-only", "documents:local-only",
                                  "it draws on local-only documents"))
        found = self._detect(messages)
        for kind in sorted(found, key=lambda k: (k not in BLOCKING_ENTITY_TYPES, k)):
            if kind in self.local_types:
                rule = ("redaction.blocking_types" if kind in BLOCKING_ENTITY_TYPES
                        else "redaction.custom_terms" if kind in ("TERM", "CUSTOM")
                        else "routing.local_types")
                signals.append(Signal(f"finding:{kind}", rule,
                                      f"contains {_WORDS.get(kind, kind.lower())}"))
        similarity = None
        if self.semantic is not None and not signals:
            # Deterministic signals already decide; the embedder runs only when it matters.
            similarity = self.semantic.best([m.content for m in messages if m.role != "system"])
            if similarity is not None and similarity >= self.semantic.threshold:
                signals.append(Signal(
                    "semantic:similar-topic", "routing.semantic_threshold",
                    f"it is close to a sensitive topic (margin {similarity:.2f} ≥ "
                    f"{self.semantic.threshold:.2f})", deterministic=False, score=similarity))
        return Sensitivity(tuple(signals), similarity,
                           (time.perf_counter() - started) * 1000)


def auto_mode(policy: Any, groups: Sequence[str]) -> bool:
    """Whether ``routing.mode`` (with its per-group overrides) makes this user's turns auto.

    A user in any group set to ``manual`` gets manual routing: the cautious choice wins.
    """
    overrides = policy.get("routing.group_modes") or {}
    modes = {str(overrides[g]) for g in groups if g in overrides}
    if modes:
        return "manual" not in modes
    return str(policy.get("routing.mode") or "manual") == "auto"


def read_examples(policy_root: Path, name: str) -> tuple[list[str], str | None]:
    """The sensitive-topic examples from the managed policy folder, or why there are none.

    Held to the managed policy's rule (root-owned, not writable by others): an example a
    user could edit would let them route their own sensitive text out.

    Returns:
        ``(examples, problem)``: an absent file is no examples and no problem.
    """
    from app.core.policy.sources import read_trusted_bytes

    path = policy_root / "managed" / Path(name).name
    if not path.exists():
        return [], None
    data, problem = read_trusted_bytes(path)
    if data is None:
        return [], f"{path}: {problem}"
    text = data.decode("utf-8", "replace")
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")], None


def auto_decision(policy: Any, sensitivity: Sensitivity, *, requested: str | None, user: str,
                  groups: list[str]) -> RouteDecision:
    """Where an auto-routed turn goes, given what the check found in everything it would send.

    - ``--route local`` (``requested == "local"``) is always honoured;
    - a turn with any signal stays here, and one with a deterministic signal stays here even
      when the user picked the remote route;
    - otherwise the turn may use ``routing.auto_endpoint`` (or the route the user picked),
      through the connector gate as any remote turn; no endpoint allowed means local.
    """
    if requested == LOCAL:
        return RouteDecision(LOCAL, None, True, "route:local", "Local — you chose this machine.")
    if sensitivity.sensitive and (requested is None or sensitivity.deterministic):
        signal = sensitivity.signals[0]
        return RouteDecision(LOCAL, None, True, f"routing:auto:{signal.name}",
                             f"Local — {sensitivity.reason()}.", kept_here=requested is not None)
    target = requested or str(policy.get("routing.auto_endpoint") or "")
    if not target:
        return RouteDecision(LOCAL, None, True, "routing.auto_endpoint",
                             "Local — no remote model is set for automatic routing.")
    decision = decide_route(policy, requested=target, user=user, groups=groups)
    if not decision.remote:
        if requested is not None:
            return decision  # the user's own pick, refused: the caller says why
        return RouteDecision(LOCAL, None, True, decision.rule,
                             f"Local — the remote model is not available to you "
                             f"({decision.reason.rstrip('.')}).")
    why = "general question" if not sensitivity.sensitive else "sent as you chose"
    return replace(decision, reason=f"Remote ({decision.route}) — {why}. {decision.reason}")
