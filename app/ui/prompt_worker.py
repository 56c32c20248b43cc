"""What the prompt library asks of the core, each request a job on a ``BackgroundLane``.

The saved prompts live in the encrypted history, so every read and change runs off the GUI
thread, one at a time; results and typed errors come back on the GUI thread. In a session
that is not saved there is no store: only the organization's prompts are listed, and a
change says why it cannot be made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.core.errors import EnclaveError, ExitCode
from app.core.policy import EffectivePolicy
from app.core.prompts import LibraryPrompt, PromptLibrary, PromptStore, managed_prompts
from app.ui.background import BackgroundLane, ErrorHandler


class NotSaved(EnclaveError):
    """This session keeps no history, so there is nowhere to save a prompt."""

    exit_code = ExitCode.STORE


def _not_saved() -> NotSaved:
    return NotSaved("This session is not saved, so prompts cannot be saved or changed here.",
                    "Open Enclave with your history to keep prompts of your own.")


class PromptJobs:
    """Prompt library reads and changes, in order, on one lane.

    Args:
        store: The history (``None`` in a session that is not saved).
        policy: The effective policy: the organization's prompts and site system prompt.
        lane: Where the jobs run.
        on_error: Shows a failed job's error (GUI thread).
    """

    def __init__(self, store: PromptStore | None, policy: EffectivePolicy | None,
                 lane: BackgroundLane, on_error: ErrorHandler) -> None:
        self.library = None if store is None else PromptLibrary(store, policy)
        self.policy = policy
        self.lane = lane
        self.on_error = on_error

    @property
    def saved(self) -> bool:
        """Whether prompts of one's own can be kept (the session has a history)."""
        return self.library is not None

    def _run(self, work: Callable[[], Any], on_done: Callable[[Any], None]) -> None:
        self.lane.run(work, on_done=on_done, on_error=self.on_error,
                      what="Reading the prompt library")

    def _listed(self) -> list[LibraryPrompt]:
        if self.library is None:
            return managed_prompts(self.policy)
        return self.library.prompts()

    def list_prompts(self, on_done: Callable[[list[LibraryPrompt]], None]) -> None:
        """Every prompt, the organization's first."""
        self._run(self._listed, on_done)

    def _change(self, change: Callable[[PromptLibrary], object],
                on_done: Callable[[list[LibraryPrompt]], None],
                on_error: ErrorHandler | None = None) -> None:
        library = self.library

        def work() -> list[LibraryPrompt]:
            if library is None:
                raise _not_saved()
            change(library)
            return library.prompts()

        self.lane.run(work, on_done=on_done, on_error=on_error or self.on_error,
                      what="Changing the prompt library")

    def add(self, name: str, body: str, kind: str,
            on_done: Callable[[list[LibraryPrompt]], None],
            on_error: ErrorHandler | None = None) -> None:
        """Save a new prompt; ``on_done`` gets the refreshed list."""
        self._change(lambda lib: lib.add(name, body, kind), on_done, on_error)

    def edit(self, ref: str, name: str, body: str, kind: str,
             on_done: Callable[[list[LibraryPrompt]], None],
             on_error: ErrorHandler | None = None) -> None:
        """Change one's own prompt; ``on_done`` gets the refreshed list."""
        self._change(lambda lib: lib.edit(ref, name=name, body=body, kind=kind), on_done,
                     on_error)

    def remove(self, ref: str, on_done: Callable[[list[LibraryPrompt]], None]) -> None:
        """Delete one's own prompt; ``on_done`` gets the refreshed list."""
        self._change(lambda lib: lib.remove(ref), on_done)

    def system_prompts(self, conversation_id: int,
                       on_done: Callable[[tuple[str | None, str | None]], None]) -> None:
        """``(site, conversation's own)`` system prompts of a conversation."""
        library, policy = self.library, self.policy

        def work() -> tuple[str | None, str | None]:
            from app.core.prompts import site_system_prompt

            own = None if library is None else library.conversation_prompt(conversation_id)
            return site_system_prompt(policy), own

        self._run(work, on_done)

    def set_system_prompt(self, conversation_id: int, body: str | None,
                          on_done: Callable[[str | None], None]) -> None:
        """Set (or, with ``None``/blank, clear) a conversation's own system prompt."""
        library = self.library

        def work() -> str | None:
            if library is None:
                raise _not_saved()
            return library.set_conversation_prompt(conversation_id, body)

        self._run(work, on_done)
