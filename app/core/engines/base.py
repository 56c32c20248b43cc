"""The ChatEngine protocol and the data that flows through it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from app.core.engines.cpu_kernels import extra_bufts_for
from app.core.errors import EnclaveError, ExitCode

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "cancelled", "error"]


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation as the engine sees it."""

    role: Role
    content: str


@dataclass(frozen=True)
class GenerationParams:
    """Sampling and length parameters for one answer."""

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    max_tokens: int = 512
    seed: int = -1  # -1: a fresh random seed each call
    # Small models loop without it; 1.0 turns it off.
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Completion:
    """The outcome of one generation; a cancelled or failed answer keeps its partial text."""

    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    ttft_s: float
    total_s: float
    tokens_per_s: float
    error: str | None = None
    # What the engine was doing, for the status bar: "2 threads", "1 of 2 threads (machine busy)".
    engine_state: str = ""

    @property
    def complete(self) -> bool:
        """Whether the model finished on its own (not cancelled, no error)."""
        return self.finish_reason in ("stop", "length")


@dataclass(frozen=True)
class EngineInfo:
    """What answered: shown under each answer and written to history and audit."""

    model_id: str
    model_sha256: str
    route: str = "local"
    device: str = "CPU"
    context_length: int = 0
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EngineOptions:
    """How to load a model."""

    context_length: int = 4096
    gpu_layers: int = -1  # -1: all layers when offload is available, else 0
    threads: int = 0  # 0: adaptive, up to one per physical core; N: pinned to N
    batch_size: int = 512
    # llama.cpp's extra buffer types repack weights for AMX and other CPU kernels; turning
    # them off is the first safe fallback after a crash (llama.cpp#20824). By default they
    # are off where that crash is known (``cpu_kernels``: an AMX CPU).
    extra_bufts: bool = field(default_factory=lambda: extra_bufts_for("auto"))
    # Seconds without any progress (no token, no finished step) before a running engine
    # process counts as hung and is stopped.
    watchdog_s: float = 120.0


TokenCallback = Callable[[str], None]


class EngineError(EnclaveError):
    """The engine failed while answering.

    ``conversation_id`` names the conversation the failed turn was saved in (with its answer
    so far), so a front end can go on in it; ``None`` when nothing was saved.
    """

    exit_code = ExitCode.ENGINE
    conversation_id: int | None = None


class ContextOverflow(EngineError):
    """The prompt does not fit in the model's context window."""


class EngineCrashed(EngineError):
    """The engine process died or stopped answering; the answer so far is kept.

    Attributes:
        cause: ``signal``, ``exit``, ``out-of-memory``, ``hung`` or ``protocol``.
        signal_name: ``SIGSEGV`` and the like, when a signal ended it.
        phase: ``load`` or ``answer``.
    """

    def __init__(
        self, message: str, hint: str = "", *, cause: str = "signal",
        signal_name: str | None = None, phase: str = "answer",
    ) -> None:
        super().__init__(message, hint)
        self.cause = cause
        self.signal_name = signal_name
        self.phase = phase


class ChatEngine(Protocol):
    """Anything that turns a conversation into a streamed answer."""

    @property
    def info(self) -> EngineInfo:
        """Who is answering."""
        ...

    def stream(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        on_token: TokenCallback,
        cancel: threading.Event | None = None,
    ) -> Completion:
        """Generate an answer, calling ``on_token`` with each new piece of text.

        Returns when the answer is finished, cancelled (``cancel`` set) or failed; the
        returned ``Completion`` always carries the text produced so far.
        """
        ...

    def close(self) -> None:
        """Release the model."""
        ...
