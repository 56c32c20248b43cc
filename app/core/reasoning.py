"""Reasoning ("thinking") text in an answer: where it is, so every face can set it aside.

Reasoning models write their working before the answer, between markers their chat template
names: ``<think>…</think>`` (DeepSeek-R1, Qwen3, most open models), ``<thinking>``,
``<reasoning>``, ``<|begin_of_thought|>…<|end_of_thought|>``, or the harmony channels of
gpt-oss (``<|channel|>analysis<|message|>…<|end|>`` then ``<|channel|>final<|message|>``).
The history keeps the answer exactly as it was written; the window shows the reasoning
collapsed under "Thinking", and copy, export and the next turn's context leave it out unless
asked. Some templates open the block in the prompt, so an answer can start inside it: text
before a lone closing marker is reasoning too. A block that never closes (the answer was
stopped mid-thought) is reasoning that is still ``open``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# (opening, closing) markers; matched in any case, as templates and models vary.
MARKER_PAIRS: tuple[tuple[str, str], ...] = (
    ("<think>", "</think>"),
    ("<thinking>", "</thinking>"),
    ("<reasoning>", "</reasoning>"),
    ("<|begin_of_thought|>", "<|end_of_thought|>"),
    ("<|channel|>analysis<|message|>", "<|end|>"),
)
_PAIRS = MARKER_PAIRS
# What a harmony answer puts before its final text (longest first); dropped from the answer.
HARMONY_FINAL_MARKERS = ("<|start|>assistant<|channel|>final<|message|>",
                         "<|channel|>final<|message|>")
_HARMONY_FINAL = re.compile(r"(?:<\|start\|>assistant)?<\|channel\|>final<\|message\|>",
                            re.IGNORECASE)
_OPEN = re.compile("|".join(re.escape(o) for o, _ in _PAIRS), re.IGNORECASE)
_CLOSE_FOR = {o.lower(): c for o, c in _PAIRS}
# A lone closer: not harmony's ``<|end|>``, which also ends ordinary messages.
LONE_CLOSERS = tuple(c for _, c in _PAIRS[:4])
_ANY_CLOSE = re.compile("|".join(re.escape(c) for c in LONE_CLOSERS), re.IGNORECASE)


@dataclass(frozen=True)
class Reasoned:
    """An answer split into its reasoning and what it says to the user."""

    thinking: str  # the reasoning blocks, joined by a blank line ("" when there is none)
    answer: str  # the text without any reasoning block
    open: bool = False  # the last reasoning block has not closed (still thinking, or stopped)

    @property
    def has_thinking(self) -> bool:
        """Whether there is any reasoning to show or leave out."""
        return bool(self.thinking) or self.open


def split_reasoning(text: str) -> Reasoned:
    """Split ``text`` into reasoning and answer (the answer is ``text`` if there is none).

    An answer whose pieces, joined around a removed block, spell an opening marker again
    (``"<thi<think>…</think>nk>"``) is split once more: no answer given out opens a block.
    """
    first = _split_once(text)
    result = first
    while _OPEN.search(result.answer):
        again = _split_once(result.answer)
        thinking = "\n\n".join(t for t in (result.thinking, again.thinking) if t)
        result = Reasoned(thinking, again.answer, again.open)
    return result


def _split_once(text: str) -> Reasoned:
    thoughts: list[str] = []
    rest = text
    # A closing marker before any opening one: the template opened the block in the prompt.
    first_open = _OPEN.search(rest)
    lone_close = _ANY_CLOSE.search(rest)
    if lone_close and (first_open is None or lone_close.start() < first_open.start()):
        thoughts.append(rest[:lone_close.start()])
        rest = rest[lone_close.end():]
    answer: list[str] = []
    still_open = False
    while True:
        opened = _OPEN.search(rest)
        if opened is None:
            answer.append(_HARMONY_FINAL.sub("", rest))
            break
        answer.append(_HARMONY_FINAL.sub("", rest[:opened.start()]))
        close = _CLOSE_FOR[opened.group(0).lower()]
        end = rest.lower().find(close.lower(), opened.end())
        if end < 0:
            thoughts.append(rest[opened.end():])
            still_open = True
            break
        thoughts.append(rest[opened.end():end])
        rest = rest[end + len(close):]
    if not thoughts:  # kept exactly, but a harmony "final" header is no one's text
        return Reasoned("", "".join(answer).strip() if _HARMONY_FINAL.search(text) else text)
    shown = "".join(answer).strip()
    thinking = "\n\n".join(t.strip() for t in thoughts if t.strip())
    return Reasoned(thinking, shown, still_open)


def without_reasoning(text: str) -> str:
    """``text`` with its reasoning left out (copy, export, the next turn's context)."""
    return split_reasoning(text).answer
