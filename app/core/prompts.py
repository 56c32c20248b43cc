"""The prompt library: saved prompts and system prompts, the organization's ones locked.

Two kinds of prompt: a ``prompt`` is text a user inserts into a message; a ``system`` prompt
tells the model how to behave for a whole conversation. The library a user sees is the
organization's prompts (policy ``prompts.managed``: shown first, locked) followed by the
user's own (kept in the encrypted history). Names are unique regardless of case across both,
so a name typed at the command line finds exactly one prompt.

What the model gets as its system message for a conversation (:func:`with_system_prompt`):
the site's system prompt (policy ``prompts.system``) first, always; then the conversation's
own. A conversation's prompt is added after the site's and can never replace or remove it.

Name and text are validated and normalised here, once, for the GUI, the CLI and the API, by
the same code that checks the policy's prompts (``app.core.policy.schema_prompts``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from app.core.engines.base import ChatMessage
from app.core.errors import EnclaveError, ExitCode
from app.core.policy import EffectivePolicy
from app.core.policy.schema_prompts import (
    MAX_BODY_CHARS,
    MAX_NAME_CHARS,
    PromptKind,
    body_problem,
    name_problem,
    normal_body,
    normal_name,
)
from app.core.store.prompts import StoredPrompt

KINDS: tuple[PromptKind, ...] = ("prompt", "system")
MANAGED_KEY = "prompts.managed"
SITE_SYSTEM_KEY = "prompts.system"
MANAGED_TOOLTIP = "Managed by your organization"


class InvalidPrompt(EnclaveError):
    """A prompt's name, text or kind cannot be used as given."""

    exit_code = ExitCode.USAGE


class PromptNotFound(EnclaveError):
    """No prompt in the library has that name or id."""

    exit_code = ExitCode.USAGE


class ManagedPromptLocked(EnclaveError):
    """The prompt is the organization's: users cannot change or delete it."""

    exit_code = ExitCode.REFUSED


@dataclass(frozen=True)
class LibraryPrompt:
    """One prompt as the library shows it.

    Attributes:
        name: Unique regardless of case.
        body: The text.
        kind: ``prompt`` or ``system``.
        managed: True for the organization's prompts (from policy): locked.
        id: The saved prompt's id; ``None`` for a managed one.
    """

    name: str
    body: str
    kind: str
    managed: bool = False
    id: int | None = None

    @property
    def ref(self) -> str:
        """What finds it again: the id of one's own prompt, the name of a managed one."""
        return self.name if self.id is None else str(self.id)


class PromptStore(Protocol):
    """The part of the history store the library needs (``HistoryStore`` is one)."""

    def add_prompt(self, name: str, body: str, kind: str = "prompt") -> StoredPrompt:
        """Save a new prompt."""
        ...

    def update_prompt(self, prompt_id: int, *, name: str, body: str, kind: str) -> StoredPrompt:
        """Replace a saved prompt."""
        ...

    def delete_prompt(self, prompt_id: int) -> None:
        """Delete a saved prompt."""
        ...

    def saved_prompts(self) -> list[StoredPrompt]:
        """Every saved prompt."""
        ...

    def set_conversation_system_prompt(self, conversation_id: int, body: str | None) -> None:
        """Set or clear a conversation's own system prompt."""
        ...

    def conversation_system_prompt(self, conversation_id: int) -> str | None:
        """A conversation's own system prompt."""
        ...


@runtime_checkable
class SystemPromptReader(Protocol):
    """A history that keeps per-conversation system prompts (an in-memory one does not)."""

    def conversation_system_prompt(self, conversation_id: int) -> str | None:
        """A conversation's own system prompt."""
        ...


# -- validation ------------------------------------------------------------------------------


def clean_name(name: str) -> str:
    """A prompt name, normalised (NFKC, no control or invisible characters) and checked.

    Raises:
        InvalidPrompt: empty, longer than ``MAX_NAME_CHARS``, or only digits.
    """
    cleaned = normal_name(name)
    problem = name_problem(cleaned)
    if problem:
        raise InvalidPrompt(f"This prompt name cannot be used: {problem}.",
                            f"Give a name of 1 to {MAX_NAME_CHARS} characters with at least "
                            "one letter.")
    return cleaned


def clean_body(body: str) -> str:
    """A prompt's text, normalised (NFKC, only tab and newline of the controls) and checked.

    Raises:
        InvalidPrompt: empty or longer than ``MAX_BODY_CHARS``.
    """
    cleaned = normal_body(body)
    problem = body_problem(cleaned)
    if problem:
        raise InvalidPrompt(f"This prompt text cannot be used: {problem}.",
                            f"Give a text of 1 to {MAX_BODY_CHARS:,} characters; a long "
                            "reference belongs in a document the conversation answers from.")
    return cleaned


def clean_kind(kind: str) -> PromptKind:
    """``prompt`` or ``system``, whatever the case or spaces around it.

    Raises:
        InvalidPrompt: anything else.
    """
    folded = normal_name(kind).casefold()
    if folded not in KINDS:
        raise InvalidPrompt(f"{kind!r:.40} is not a kind of prompt.",
                            'Use "prompt" (text to insert) or "system" (a system prompt).')
    return "system" if folded == "system" else "prompt"


# -- what policy provides ----------------------------------------------------------------------


def managed_prompts(policy: EffectivePolicy | None) -> list[LibraryPrompt]:
    """The organization's prompts (policy ``prompts.managed``), in the policy's order."""
    if policy is None or MANAGED_KEY not in policy:
        return []
    out: list[LibraryPrompt] = []
    for entry in policy.get(MANAGED_KEY) or []:
        # Validated when the policy was read; normalised again so what shows is what runs.
        out.append(LibraryPrompt(normal_name(str(entry["name"])), normal_body(str(entry["body"])),
                                 str(entry.get("kind", "prompt")), managed=True))
    return out


def site_system_prompt(policy: EffectivePolicy | None) -> str | None:
    """The site's system prompt (policy ``prompts.system``), or ``None``."""
    if policy is None or SITE_SYSTEM_KEY not in policy:
        return None
    value = policy.get(SITE_SYSTEM_KEY)
    text = normal_body(str(value)) if value else ""
    return text or None


def with_system_prompt(
    history: Sequence[ChatMessage],
    *,
    base: str | None,
    policy: EffectivePolicy | None,
    store: object,
    conversation_id: int | None,
) -> list[ChatMessage]:
    """The transcript a turn sends, opened by the system message this conversation gets.

    The site's system prompt comes first and is always there; then ``base`` (the chat
    service's own, e.g. an evaluation's, given only when the transcript has no system message
    of its own, as before); then the conversation's own system prompt. A system message the
    transcript already opens with (an API client's) follows them in the same message.

    Args:
        history: The stored branch, oldest first.
        base: The chat service's system prompt, if any.
        policy: The effective policy (the site's prompt), if any.
        store: The history; per-conversation prompts come from it when it keeps them.
        conversation_id: The conversation the turn continues; ``None`` for a new one.
    """
    messages = list(history)
    has_system = any(m.role == "system" for m in messages)
    own = None
    if conversation_id is not None and isinstance(store, SystemPromptReader):
        own = store.conversation_system_prompt(conversation_id)
    parts = [site_system_prompt(policy), None if has_system else base, own]
    system = "\n\n".join(p for p in parts if p)
    if not system:
        return messages
    if messages and messages[0].role == "system":
        messages[0] = ChatMessage("system", f"{system}\n\n{messages[0].content}")
    else:
        messages.insert(0, ChatMessage("system", system))
    return messages


def system_prompt_sha256(messages: Sequence[ChatMessage]) -> str | None:
    """SHA-256 of the system message a prompt opens with (for audit records), or ``None``."""
    if not messages or messages[0].role != "system":
        return None
    return hashlib.sha256(messages[0].content.encode("utf-8")).hexdigest()


# -- the library -------------------------------------------------------------------------------


class PromptLibrary:
    """The organization's prompts and the user's own, as one library.

    Args:
        store: Where the user's prompts and conversations' system prompts are kept.
        policy: The effective policy (the organization's prompts); ``None``: none.
    """

    def __init__(self, store: PromptStore, policy: EffectivePolicy | None) -> None:
        self.store = store
        self.policy = policy

    def prompts(self, query: str = "", kind: str | None = None) -> list[LibraryPrompt]:
        """Managed prompts first, then the user's own by name; ``query`` filters both.

        ``query`` matches anywhere in the name or text, regardless of case; ``kind`` keeps
        only ``prompt`` or ``system`` ones.
        """
        own = [LibraryPrompt(p.name, p.body, p.kind, id=p.id) for p in self.store.saved_prompts()]
        every = managed_prompts(self.policy) + own
        wanted = normal_body(query).casefold()
        if kind is not None:
            kind = clean_kind(kind)
        return [p for p in every if (kind is None or p.kind == kind)
                and (not wanted or wanted in p.name.casefold() or wanted in p.body.casefold())]

    def find(self, ref: str | int) -> LibraryPrompt:
        """One prompt by its name (regardless of case) or, for one's own, its id.

        Raises:
            PromptNotFound: no prompt has that name or id.
        """
        every = self.prompts()
        text = str(ref).strip()
        if text.isdigit():
            found = [p for p in every if p.id == int(text)]
        else:
            folded = normal_name(text).casefold()
            found = [p for p in every if p.name.casefold() == folded]
        if not found:
            raise PromptNotFound(f"There is no prompt {text!r:.90}.",
                                 "List the prompts with: enclave prompts list")
        return found[0]

    def add(self, name: str, body: str, kind: str = "prompt") -> LibraryPrompt:
        """Save a new prompt of one's own.

        Raises:
            InvalidPrompt: the name, text or kind cannot be used, or the organization already
                provides a prompt of that name.
            StoredPromptExists: one of the user's prompts already has that name.
        """
        name, body, kind = clean_name(name), clean_body(body), clean_kind(kind)
        self._not_managed_name(name)
        saved = self.store.add_prompt(name, body, kind)
        return LibraryPrompt(saved.name, saved.body, saved.kind, id=saved.id)

    def edit(self, ref: str | int, *, name: str | None = None, body: str | None = None,
             kind: str | None = None) -> LibraryPrompt:
        """Change one's own prompt; what is left ``None`` stays as it was.

        Raises:
            PromptNotFound: no such prompt.
            ManagedPromptLocked: it is the organization's.
            InvalidPrompt: the new name, text or kind cannot be used.
        """
        old = self._own(ref, "edited")
        assert old.id is not None  # _own returns only the user's prompts
        new_name = old.name if name is None else clean_name(name)
        if new_name.casefold() != old.name.casefold():
            self._not_managed_name(new_name)
        saved = self.store.update_prompt(
            old.id, name=new_name, body=old.body if body is None else clean_body(body),
            kind=old.kind if kind is None else clean_kind(kind))
        return LibraryPrompt(saved.name, saved.body, saved.kind, id=saved.id)

    def remove(self, ref: str | int) -> LibraryPrompt:
        """Delete one's own prompt; returns what was deleted.

        Raises:
            PromptNotFound: no such prompt.
            ManagedPromptLocked: it is the organization's.
        """
        old = self._own(ref, "deleted")
        assert old.id is not None
        self.store.delete_prompt(old.id)
        return old

    def _own(self, ref: str | int, verb: str) -> LibraryPrompt:
        found = self.find(ref)
        if found.managed:
            raise ManagedPromptLocked(
                f"The prompt {found.name!r} is managed by your organization and cannot be "
                f"{verb}.", "Save a copy under another name (enclave prompts add) and change "
                "that one.")
        return found

    def _not_managed_name(self, name: str) -> None:
        if any(p.name.casefold() == name.casefold() for p in managed_prompts(self.policy)):
            raise InvalidPrompt(f"Your organization provides a prompt named {name!r}.",
                                "Choose another name for your own.")

    # -- a conversation's system prompt ----------------------------------------------------

    def site_system_prompt(self) -> str | None:
        """The site's system prompt: given first in every conversation, locked."""
        return site_system_prompt(self.policy)

    def conversation_prompt(self, conversation_id: int) -> str | None:
        """The conversation's own system prompt (after the site's), or ``None``."""
        return self.store.conversation_system_prompt(conversation_id)

    def set_conversation_prompt(self, conversation_id: int, body: str | None) -> str | None:
        """Give a conversation its own system prompt; ``None`` or blank text removes it.

        The site's system prompt is not touched: it stays first whatever is set here.
        Returns the text as stored (``None`` when removed).

        Raises:
            InvalidPrompt: the text is longer than ``MAX_BODY_CHARS``.
            ConversationNotFound: there is no such conversation.
        """
        text = None if body is None or not normal_body(body) else clean_body(body)
        self.store.set_conversation_system_prompt(conversation_id, text)
        return text

    def use(self, ref: str | int, conversation_id: int) -> LibraryPrompt:
        """Make a system prompt from the library the conversation's own.

        Raises:
            PromptNotFound: no such prompt.
            InvalidPrompt: it is a prompt to insert, not a system prompt.
            ConversationNotFound: there is no such conversation.
        """
        found = self.find(ref)
        if found.kind != "system":
            raise InvalidPrompt(
                f"{found.name!r} is a prompt to insert into a message, not a system prompt.",
                f"Print it with: enclave prompts show {found.ref}")
        self.set_conversation_prompt(conversation_id, found.body)
        return found


def as_json(prompt: LibraryPrompt) -> dict[str, Any]:
    """A prompt as ``--json`` output shows it."""
    return {"id": prompt.id, "name": prompt.name, "kind": prompt.kind,
            "managed": prompt.managed, "body": prompt.body}
