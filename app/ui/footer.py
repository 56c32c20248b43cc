"""Small texts the window shows: the line under each answer, sizes, memory in use."""

from __future__ import annotations

import os
from typing import Any

import psutil

from app.core.units import human_size

_PROCESS = psutil.Process(os.getpid())


def footer_for(
    model_id: str,
    route: str,
    tokens_per_s: float | None,
    ttft_ms: float | None,
    complete: bool,
    finish_reason: str | None,
    error: str | None,
) -> str:
    """``model · LOCAL · 85 tokens/s · first token 120 ms`` (+ why it is incomplete)."""
    parts = [model_id, (route or "local").upper()]
    if tokens_per_s:
        parts.append(f"{tokens_per_s:.0f} tokens/s")
    if ttft_ms:
        parts.append(f"first token {ttft_ms:.0f} ms")
    if not complete:
        if finish_reason == "cancelled":
            parts.append("incomplete (stopped)")
        elif error or finish_reason == "error":
            parts.append(f"incomplete ({error or 'error'})")
        else:
            parts.append("incomplete")
    return " · ".join(parts)


def footer_for_message(message: Any) -> str:
    """The line under a stored answer (``""`` for a question): what history kept of the turn."""
    if message.role != "assistant":
        return ""
    return footer_for(message.model_id or "?", message.route, message.tokens_per_s,
                      message.ttft_ms, message.complete, None, None)


def memory_text() -> str:
    """Memory this process uses (resident set), for the status bar."""
    try:
        rss = _PROCESS.memory_info().rss
    except psutil.Error:
        return "Memory: ?"
    return f"Memory: {human_size(rss)}"
