"""The local engine as the app uses it: llama.cpp in a supervised engine process.

``SupervisedEngine`` is a ``ChatEngine``: the GUI, the CLI and ``ChatService`` see the same
protocol as before, while llama.cpp runs in a child (``engine_process``). When the child dies
or hangs, the answer so far is kept (``ChatService`` already keeps streamed text), the caller
gets an ``EngineCrashed`` in words, ``on_crash`` lets the app write the audit record, and the
next call starts a fresh process with the next safer settings (``fallback``). A crash while
loading moves down the ladder at once, so a model that crashes only with AMX still opens.

A spare process is started ahead of need (``prestart``), the way browsers keep a spare
renderer: starting Python and loading llama.cpp then overlaps with the app's own start-up,
so the process costs a model load almost nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.engines.base import (
    ChatMessage,
    Completion,
    ContextOverflow,
    EngineCrashed,
    EngineError,
    EngineInfo,
    EngineOptions,
    GenerationParams,
    TokenCallback,
)
from app.core.engines.engine_process import EngineProcess, engine_process_supported
from app.core.engines.fallback import LEVELS, FallbackMemory, fallback_key, options_for
from app.core.engines.sandbox import address_space_budget
from app.core.engines.threads import physical_cores
from app.core.models.errors import ModelLoadFailed
from app.core.models.hardware import estimate_need
from app.core.models.inspect import GGUFInfo

log = logging.getLogger(__name__)

LOAD_STALL_S = 600.0  # a big model from a slow disk; progress frames keep it alive


@dataclass(frozen=True)
class CrashReport:
    """One engine crash, for the audit log and the user."""

    model_id: str
    model_sha256: str
    phase: str  # load | answer
    cause: str  # signal | exit | out-of-memory | hung | protocol
    signal_name: str | None
    words: str
    level: int  # the ladder step that crashed
    next_level: int  # the step the next start uses
    next_words: str  # what the next start changes
    broken: bool  # every step crashed: the model will not load again here


CrashHandler = Callable[[CrashReport], None]

_spare_lock = threading.Lock()
_spare: EngineProcess | None = None


def prestart(log_file: Path | None) -> None:
    """Start a spare engine process in the background (idempotent, never raises)."""
    if not engine_process_supported():
        return

    def start() -> None:
        global _spare
        with _spare_lock:
            if _spare is not None and _spare.alive:
                return
            try:
                _spare = EngineProcess(log_file).start()
            except EngineError as exc:
                log.warning("spare engine process: %s", exc.message)
                _spare = None

    threading.Thread(target=start, name="engine-prestart", daemon=True).start()


def _take_process(log_file: Path | None) -> EngineProcess:
    global _spare
    with _spare_lock:
        spare, _spare = _spare, None
    if spare is not None and spare.alive:
        return spare
    if spare is not None:
        spare.kill()
    return EngineProcess(log_file).start()


def stop_spare() -> None:
    """End the spare process, if one is waiting."""
    global _spare
    with _spare_lock:
        spare, _spare = _spare, None
    if spare is not None:
        spare.close()


class SupervisedEngine:
    """A model loaded in an engine process; see the module docstring."""

    def __init__(
        self,
        path: Path,
        gguf: GGUFInfo,
        *,
        model_id: str,
        sha256: str,
        options: EngineOptions | None = None,
        memory: FallbackMemory,
        log_file: Path | None = None,
        memory_cap: int | None = None,
        on_progress: Callable[[float], bool] | None = None,
        on_crash: CrashHandler | None = None,
    ) -> None:
        """Start an engine process and load the model, moving down the ladder on crashes.

        Raises:
            ModelLoadFailed: llama.cpp refused the file, or every safe setting crashed.
            EngineError: the engine process cannot start at all.
        """
        self.path, self.gguf = path, gguf
        self.model_id, self.sha256 = model_id, sha256
        self.options = options or EngineOptions()
        self.memory = memory
        self.log_file = log_file
        # The engine process's address-space cap (applied there unless layers go to a GPU).
        self.memory_cap = memory_cap or default_memory_cap(gguf, self.options)
        self.on_crash = on_crash
        self._lock = threading.Lock()
        self._proc: EngineProcess | None = None
        self._info: EngineInfo | None = None
        self.level = 0
        self.state = ""  # the thread controller's words after the last answer
        self.containment: dict[str, Any] = {}
        self._start(on_progress)

    # --- starting ---------------------------------------------------------------------

    def _start(self, on_progress: Callable[[float], bool] | None = None) -> None:
        while True:
            proc = _take_process(self.log_file)
            key = fallback_key(self.sha256, proc.signature)
            remembered = self.memory.get(key)
            if remembered.broken:
                proc.close()
                raise ModelLoadFailed(
                    f"{self.model_id} crashed llama.cpp with every safe setting on this "
                    f"computer ({remembered.reason}).",
                    "Choose another model; it will be tried again after an update of "
                    "Enclave or a new copy of the file.",
                )
            self.level = remembered.level
            try:
                self._load(proc, on_progress, first_use=not remembered.confirmed)
            except EngineCrashed as crash:
                report = self._record_crash(proc, crash)
                if report.broken:
                    raise ModelLoadFailed(
                        f"{self.model_id} cannot run on this computer: the local engine "
                        f"{report.words}, with every safe setting.",
                        "Choose another model, or ask IT to check this machine's llama.cpp "
                        "build (`enclave doctor`).",
                    ) from crash
                continue  # the next step of the ladder, in a fresh process
            except BaseException:
                proc.kill()
                raise
            if not remembered.confirmed:
                self.memory.confirm(key, self.level, self.model_id)
            self._proc = proc
            return

    def _load(self, proc: EngineProcess, on_progress: Callable[[float], bool] | None,
              *, first_use: bool) -> None:
        options = options_for(self.level, self.options, physical_cores())
        cancelled = threading.Event()

        def on_frame(frame: dict[str, Any]) -> None:
            fraction = frame.get("fraction")
            if on_progress is not None and isinstance(fraction, (int, float)) and not \
                    on_progress(float(fraction)):
                cancelled.set()

        proc.memory_cap = self.memory_cap
        gguf = dataclasses.asdict(self.gguf)
        gguf["path"] = str(self.gguf.path)
        reply = proc.request(
            {"t": "load", "path": str(self.path), "gguf": gguf, "model_id": self.model_id,
             "sha256": self.sha256, "options": dataclasses.asdict(options),
             "first_use": first_use, "memory_cap": self.memory_cap},
            phase="load", stall_limit=max(LOAD_STALL_S, options.watchdog_s),
            on_frame=on_frame, cancel=cancelled.is_set,
        )
        if reply["t"] == "error":
            proc.close()
            raise ModelLoadFailed(str(reply.get("message") or "llama.cpp refused the model."),
                                  str(reply.get("hint") or "Check `enclave doctor`."))
        raw = reply["info"]
        extra = {str(k): str(v) for k, v in dict(raw.get("extra") or {}).items()}
        if self.level:
            extra["fallback"] = LEVELS[self.level].summary
        self.state = str(reply.get("threads") or "")
        extra["threads_state"] = self.state
        self._info = EngineInfo(
            model_id=str(raw["model_id"]), model_sha256=str(raw["model_sha256"]),
            route="local", device=str(raw["device"]), context_length=int(raw["context_length"]),
            extra=extra,
        )
        self.containment = dict(reply.get("containment") or {})

    def _record_crash(self, proc: EngineProcess, crash: EngineCrashed) -> CrashReport:
        gpu = (self._info is not None and self._info.extra.get("gpu_layers", "0") != "0") or (
            proc.signature.get("offload") == "yes" and self.options.gpu_layers != 0)
        key = fallback_key(self.sha256, proc.signature)
        words = crash.message.removeprefix("The local engine ").rstrip(".")
        after = self.memory.crashed(key, self.level, words, self.model_id, gpu_in_use=gpu)
        report = CrashReport(
            model_id=self.model_id, model_sha256=self.sha256, phase=crash.phase,
            cause=crash.cause, signal_name=crash.signal_name, words=words, level=self.level,
            next_level=after.level, next_words=LEVELS[after.level].summary, broken=after.broken,
        )
        log.error("engine crash: %s (step %d; next %s)", words, self.level,
                  "none: every step crashed" if after.broken else report.next_words)
        if self.on_crash is not None:
            try:
                self.on_crash(report)
            except Exception:  # noqa: BLE001 - a failing audit write must not hide the crash
                log.exception("recording an engine crash failed")
        return report

    # --- ChatEngine -------------------------------------------------------------------

    @property
    def info(self) -> EngineInfo:
        """Who is answering."""
        assert self._info is not None
        return self._info

    def _running(self) -> EngineProcess:
        if self._proc is None or not self._proc.alive:
            self._proc = None
            self._start()
        assert self._proc is not None
        return self._proc

    def stream(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        on_token: TokenCallback,
        cancel: threading.Event | None = None,
    ) -> Completion:
        """Generate an answer in the engine process; see ``ChatEngine.stream``.

        Raises:
            EngineCrashed: the engine process died or hung; the streamed text was delivered.
            ContextOverflow, EngineError: as the in-process engine raises them.
        """
        with self._lock:
            proc = self._running()
            request = {"t": "stream", "messages": _wire_messages(messages),
                       "params": dataclasses.asdict(params)}
            try:
                reply = proc.request(
                    request, phase="answer", stall_limit=self.options.watchdog_s,
                    on_frame=lambda frame: _deliver(frame, on_token),
                    cancel=(cancel.is_set if cancel is not None else None),
                )
            except EngineCrashed as crash:
                self._proc = None
                report = self._record_crash(proc, crash)
                raise EngineCrashed(crash.message + " Your answer so far is kept.",
                                    _next_hint(report), cause=crash.cause,
                                    signal_name=crash.signal_name, phase="answer") from crash
            if reply["t"] == "error":
                _raise_reply(reply)
            c = reply["completion"]
            self.state = str(c.get("engine_state") or "")
            return Completion(
                text=str(c["text"]), finish_reason=c["finish_reason"],
                prompt_tokens=int(c["prompt_tokens"]),
                completion_tokens=int(c["completion_tokens"]), ttft_s=float(c["ttft_s"]),
                total_s=float(c["total_s"]), tokens_per_s=float(c["tokens_per_s"]),
                error=c.get("error"), engine_state=self.state,
            )

    def _simple(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            proc = self._running()
            try:
                reply = proc.request(request, phase="answer", stall_limit=self.options.watchdog_s)
            except EngineCrashed as crash:
                self._proc = None
                report = self._record_crash(proc, crash)
                raise EngineCrashed(crash.message, _next_hint(report), cause=crash.cause,
                                    signal_name=crash.signal_name) from crash
        if reply["t"] == "error":
            _raise_reply(reply)
        return reply

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        """The rendered, tokenized prompt (to fit a conversation into the context)."""
        return list(self._simple({"t": "prompt_tokens",
                                  "messages": _wire_messages(messages)})["tokens"])

    def tokenize(self, text: str, *, special: bool, add_bos: bool = False) -> list[int]:
        """Tokenize in the engine process; see ``LocalEngine.tokenize``."""
        return list(self._simple({"t": "tokenize", "text": text, "special": special,
                                  "add_bos": add_bos})["tokens"])

    @property
    def threads_state(self) -> str:
        """The engine's thread count in words, as of the last answer."""
        return self.state

    @property
    def pid(self) -> int | None:
        """The engine process's id (tests and doctor)."""
        proc = self._proc
        return proc.proc.pid if proc is not None and proc.proc is not None else None

    def close(self) -> None:
        """End the engine process."""
        with self._lock:
            if self._proc is not None:
                self._proc.close()
                self._proc = None


def default_memory_cap(gguf: GGUFInfo, options: EngineOptions) -> int:
    """What the engine process may map for this model: weights, KV cache and a base."""
    need = estimate_need(gguf, options.context_length)
    cap = address_space_budget(need.weights, need.kv_cache + need.compute, gpu_offload=False)
    assert cap is not None
    return cap


def _deliver(frame: dict[str, Any], on_token: TokenCallback) -> None:
    """Hand each piece of a ``tok`` frame to the caller, one call per token as before."""
    pieces = frame.get("s")
    for piece in pieces if isinstance(pieces, list) else [pieces]:
        if isinstance(piece, str) and piece:
            on_token(piece)


def _wire_messages(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def _raise_reply(reply: dict[str, Any]) -> None:
    message = str(reply.get("message") or "The engine failed.")
    hint = str(reply.get("hint") or "")
    if reply.get("kind") == "context-overflow":
        raise ContextOverflow(message, hint)
    raise EngineError(message, hint)


def _next_hint(report: CrashReport) -> str:
    if report.broken:
        return ("Every safe setting crashed with this model on this computer; choose another "
                "model.")
    return (f"Your next message starts a fresh engine with safer settings "
            f"({report.next_words}).")
