"""One suite item, run as a chat turn and scored.

Each item goes through ``ChatService.send`` like a user's turn: the same chat template (user
text tokenized as plain text, so control-token strings stay text), sampler, context fitting
and, for grounded items, the same retrieval and grounded prompt over a collection holding the
suite's documents. Only the sampling is the suite's own, with its fixed seed.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from typing import Any

from app.core.approval.perf import Performance
from app.core.approval.scorers import Answer, score
from app.core.approval.suites import Suite, SuiteItem
from app.core.chat import ChatService
from app.core.engines.base import GenerationParams
from app.core.errors import EnclaveError

# The needle a long-prompt item hides at the start, and the text that fills the context after
# it: plain sentences, the same every run.
NEEDLE = "The code word for this text is ORIOLE-2468. Remember it."
FILLER = ("The harbour office opens at nine and closes at five. Boats are logged on arrival "
          "and again on departure. Weather notes are kept in the blue book by the door. ")


def collection_name(suite: Suite) -> str:
    """The throwaway collection a suite's documents are indexed into for a run."""
    return f"evaluation-{suite.name}"


def generation(suite: Suite) -> GenerationParams:
    """The suite's fixed sampling as the engine takes it."""
    p = suite.params
    return GenerationParams(temperature=p.temperature, top_p=p.top_p, top_k=p.top_k,
                            max_tokens=p.max_tokens, seed=p.seed, repeat_penalty=p.repeat_penalty)


def system_prompt(site_prompt: str | None, item: SuiteItem) -> str | None:
    """The site's own system prompt (if evaluated with one), then the item's."""
    parts = [p for p in (site_prompt, item.system) if p and p.strip()]
    return "\n\n".join(parts) or None


def prompt_sha256(system: str | None, user: str) -> str:
    """The digest of exactly what was sent (system and user text)."""
    text = json.dumps({"system": system, "user": user}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def long_prompt(chat: ChatService, item: SuiteItem) -> str:
    """The needle, filler up to ``item.fill`` of the engine's context, then the question."""
    engine = chat.engine
    n_ctx = engine.info.context_length if engine is not None else 0
    target = int(n_ctx * item.fill)
    tokenize = getattr(engine, "tokenize", None)
    per_filler = len(tokenize(FILLER, special=False)) if callable(tokenize) else len(FILLER) // 3
    repeats = max(1, (target - 64) // max(1, per_filler))
    return f"{NEEDLE}\n\n{FILLER * repeats}\n\n{item.prompt}"


@dataclass(frozen=True)
class ItemRun:
    """One item's outcome: the report's row for it."""

    record: dict[str, Any]
    passed: bool


def _record(suite: Suite, item: SuiteItem, **fields: Any) -> dict[str, Any]:
    return {"suite": suite.name, "id": item.id, "probe": item.probe, "scorer": item.scorer,
            "expected": item.expected, **fields}


def score_measure(suite: Suite, item: SuiteItem, perf: Performance) -> ItemRun:
    """Score a ``measure`` item on the run's figures (after every answer)."""
    result = score(item.scorer, item.args, Answer("", (), perf.metrics()))
    return ItemRun(_record(suite, item, prompt_sha256=None, output="", passed=result.passed,
                           detail=result.detail, measured=perf.metrics()), result.passed)


def run_item(
    chat: ChatService, suite: Suite, item: SuiteItem, *, site_prompt: str | None,
    perf: Performance, cancel: threading.Event | None,
) -> ItemRun:
    """Send one item as a turn and score the answer; an error fails the item, with why."""
    user = long_prompt(chat, item) if item.fill else item.prompt
    system = system_prompt(site_prompt, item)
    chat.system_prompt = system
    collections = [collection_name(suite)] if item.grounded else None
    base = {"prompt_sha256": prompt_sha256(system, user)}
    try:
        turn = chat.send(user, params=generation(suite), collections=collections, cancel=cancel)
    except EnclaveError as exc:
        return ItemRun(_record(suite, item, **base, output="", passed=False,
                               detail=f"The turn failed: {exc.message}", error=exc.message),
                       False)
    c = turn.completion
    perf.add(c.ttft_s, c.tokens_per_s, c.completion_tokens)
    metrics = {"ttft_s": c.ttft_s, "tokens_per_s": c.tokens_per_s, "total_s": c.total_s}
    if c.ttft_s > 0:
        metrics["prompt_tokens_per_s"] = c.prompt_tokens / c.ttft_s
        if item.fill:
            perf.prompt_rate = metrics["prompt_tokens_per_s"]
    sources = [(s.n, os.path.basename(s.file)) for s in turn.sources or []]
    result = score(item.scorer, item.args, Answer(c.text, sources, metrics))
    passed = result.passed and c.finish_reason != "error"
    record = _record(
        suite, item, **base, output=c.text, passed=passed,
        detail=result.detail if c.finish_reason != "error" else f"The engine failed: {c.error}",
        sources=[list(s) for s in sources], finish_reason=c.finish_reason,
        prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens,
        ttft_s=round(c.ttft_s, 4), tokens_per_s=round(c.tokens_per_s, 2),
    )
    return ItemRun(record, passed)
