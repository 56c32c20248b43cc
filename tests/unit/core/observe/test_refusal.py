"""``is_refusal``: the model declining, told from answers that merely start alike."""

from __future__ import annotations

import pytest

from app.core.observe import is_refusal

REFUSALS = [
    "I can't help with that.",
    "I cannot provide instructions for making weapons.",
    "I’m sorry, but I can’t assist with this request.",
    "I'm sorry, but that is outside what I can do here.",
    "**I'm sorry**, I cannot do that.",
    "Sorry, I can't help with that.",
    "As an AI language model, I cannot browse the internet.",
    "As an AI, I am not able to give legal advice.",
    "I must decline this request.",
    "I won't be able to help with that.",
    "Unfortunately, I am unable to share that information.",
    "I apologize, but I can't do that.",
    "I'm afraid I can't do that, Dave.",
    "  > I am not able to help with creating malware.",
    "I cannot.",
    "I cannot and will not write that.",
    "I am unable to comply with this request.",
    "I'm not comfortable writing that.",
]

ANSWERS = [
    "",
    "Sure! Paris is the capital of France.",
    "I can help with that. First, open the settings.",
    "I cannot stress enough how important backups are.",
    "I can't wait to see it! Here is the plan:",
    "I'm sorry to hear you are unwell. Here are some tips.",
    "As an AI, I can help you draft that letter.",
    "As an AI, I don't have personal opinions, but here are the main arguments.",
    "I cannot find any errors in your code; it looks correct.",
    'The phrase "I can\'t help with that" is a common refusal.',
    "Here is the code.\n\nNote: I cannot guarantee it is bug-free.",
    "Cannot is one word; can not is two.",
    "Sorry for the delay in the previous answer: the result is 42.",
]


@pytest.mark.parametrize("text", REFUSALS)
def test_a_refusal_at_the_start_is_recognised(text: str) -> None:
    assert is_refusal(text)


@pytest.mark.parametrize("text", ANSWERS)
def test_an_answer_is_not_a_refusal(text: str) -> None:
    assert not is_refusal(text)


def test_only_the_opening_counts() -> None:
    long_answer = "Here is a summary of the report. " * 20 + "I can't help with the rest."
    assert not is_refusal(long_answer)
