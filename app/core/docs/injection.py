"""Heuristics for passages that read like instructions aimed at the model.

A document is data. Text inside one that tells "the assistant" to ignore its instructions,
take on a new role, or send something to an address is the signature of a prompt injection.
These patterns only flag: the passage is still shown to the user (who may need to see it),
and the grounded prompt already tells the model that sources are not instructions.
"""

from __future__ import annotations

import re

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("asks to ignore previous instructions", re.compile(
        r"\b(ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(previous|prior|above|"
        r"earlier|preceding|all|any|your|system)\b[^.\n]{0,30}\b(instructions?|prompts?|rules|"
        r"directions|guidelines|context)\b", re.IGNORECASE)),
    ("tries to give the model a new role", re.compile(
        r"\byou are now\b|\bfrom now on,? you\b|\bact as (an?|the)\b|\bpretend (to be|you are)\b"
        r"|\bnew (system )?instructions?\s*:", re.IGNORECASE)),
    ("addresses the AI directly", re.compile(
        r"\b(dear|attention|note to( the)?|hey)\s+(AI|assistant|language model|LLM|chatbot)\b"
        r"|\b(system prompt|developer mode|jailbreak)\b", re.IGNORECASE)),
    ("asks to send data to a URL or email address", re.compile(
        r"\b(send|post|upload|forward|e-?mail|transmit|exfiltrate|submit|leak|report)\b"
        r"[^\n]{0,80}(https?://|www\.|[\w.+-]+@[\w-]+\.[\w.]+)", re.IGNORECASE)),
    ("embeds a link carrying data", re.compile(
        r"!\[[^\]]*\]\(\s*https?://[^)\s]*[?&][^)\s]*=", re.IGNORECASE)),
)


def injection_reason(text: str, *, hidden: bool = False) -> str | None:
    """Why a passage looks like injected instructions, or ``None`` when it does not.

    Args:
        text: the passage.
        hidden: the passage was hidden from a reader of the original document.
    """
    reasons = [label for label, pattern in _PATTERNS if pattern.search(text)]
    if hidden:
        reasons.insert(0, "hidden text in the source document")
    return "; ".join(reasons) or None
