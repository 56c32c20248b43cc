"""The policy section for the organization's prompts, and how prompt text is normalised.

Part of the policy schema (``schema`` assembles the document from these sections). The
normalisation lives here, at the bottom, so a prompt from a policy file and one a user saves
(``app.core.prompts``) are cleaned by the same code and bounded by the same limits: a managed
prompt is exactly what the library shows and what the model gets.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from app.core.inputs import clean_text, one_line
from app.core.policy.schema_types import _Strict

MAX_NAME_CHARS = 80
"""The longest prompt name: it fits a list row and a command line."""

MAX_BODY_CHARS = 20_000
"""The longest prompt text (about 5,000 tokens: a system prompt longer than that leaves a
small local model's context nearly no room for the conversation)."""

PromptKind = Literal["prompt", "system"]

# Invisible characters that change what a reader sees nowhere but can split or hide words:
# zero-width space/joiners, bidi controls, word joiner and its kin, BOM, soft hyphen.
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]")
# C0/C1 controls and DEL but tab and newline: a prompt is often a template.
_CONTROL_BODY = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def normal_name(text: str) -> str:
    """A prompt name as stored: one line, NFKC, nothing invisible (as a title is)."""
    return one_line(text)


def normal_body(text: str) -> str:
    """A prompt's text as stored: NFKC, no invisible characters, only tab and newline kept.

    Windows and old Mac line ends become newlines (the controls would otherwise eat them);
    leading and trailing blank space goes.
    """
    text = clean_text(text.replace("\x00", "")).replace("\r\n", "\n").replace("\r", "\n")
    for _ in range(2):  # before NFKC and after, as for a name
        text = unicodedata.normalize("NFKC", _INVISIBLE.sub("", _CONTROL_BODY.sub("", text)))
    return text.strip()


def name_problem(name: str) -> str:
    """Why a normalised name cannot be used (empty: it can)."""
    if not name:
        return "the name is empty (or only spaces and invisible characters)"
    if len(name) > MAX_NAME_CHARS:
        return f"the name is {len(name):,} characters long; the limit is {MAX_NAME_CHARS}"
    if name.isdigit():
        return "the name is only digits, which commands would read as an id"
    return ""


def body_problem(body: str) -> str:
    """Why a normalised prompt text cannot be used (empty: it can)."""
    if not body:
        return "the text is empty (or only spaces and invisible characters)"
    if len(body) > MAX_BODY_CHARS:
        return f"the text is {len(body):,} characters long; the limit is {MAX_BODY_CHARS:,}"
    return ""


def _checked_name(value: str) -> str:
    name = normal_name(value)
    problem = name_problem(name)
    if problem:
        raise ValueError(problem)
    return name


def _checked_body(value: str) -> str:
    body = normal_body(value)
    problem = body_problem(body)
    if problem:
        raise ValueError(problem)
    return body


PromptName = Annotated[str, AfterValidator(_checked_name)]
PromptBody = Annotated[str, AfterValidator(_checked_body)]


class ManagedPrompt(_Strict):
    """One prompt the organization provides: shown locked in every user's library."""

    name: PromptName = Field(description=f"Name shown in the library (at most {MAX_NAME_CHARS} "
                             "characters, unique).")
    body: PromptBody = Field(description=f"The prompt's text (at most {MAX_BODY_CHARS:,} "
                             "characters).")
    kind: PromptKind = Field(
        default="prompt",
        description='"prompt": text users insert into a message; "system": a system prompt '
        "users may choose for a conversation.",
    )


def _unique_names(prompts: list[ManagedPrompt]) -> list[ManagedPrompt]:
    seen: set[str] = set()
    for prompt in prompts:
        folded = prompt.name.casefold()
        if folded in seen:
            raise PydanticCustomError(
                "duplicate_prompt", "two managed prompts are named '{name}'; names must be "
                "unique (regardless of case)", {"name": prompt.name})
        seen.add(folded)
    return prompts


class PromptsPolicy(_Strict):
    """The organization's prompts: shown to every user, locked."""

    managed: Annotated[list[ManagedPrompt], AfterValidator(_unique_names)] = Field(
        default_factory=list,
        description="Prompts every user's library shows, locked (users cannot edit or delete "
        "them): a list of {name, body, kind}.",
    )
    system: PromptBody | None = Field(
        default=None,
        description="Site system prompt given to the model first in every conversation, "
        "locally and remotely; a conversation's own system prompt follows it and never "
        "replaces it. null = none.",
    )
