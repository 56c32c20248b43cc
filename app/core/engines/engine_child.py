"""The engine process: ``python -m app __engine FD`` — llama.cpp and nothing else.

Started by ``app.core.engines.supervisor`` with one end of a socketpair as ``FD``. It contains
itself first (no sockets, a memory cap once the model's size is known), then loads llama.cpp,
says ``hello`` with what it found (build, hardware, containment), and serves requests one at a
time with the same ``LocalEngine`` the app used in-process. It holds no keys and opens no
files but the model and its own log.

Threads: the main thread reads frames (so ``cancel`` arrives while an answer streams), one
worker runs requests in order, and a heartbeat thread reports progress while a request runs.
The parent's watchdog reads those heartbeats: no frame at all means the process is frozen; a
step counter that stops moving means llama.cpp is stuck inside a decode.

Faults for tests (``ENCLAVE_ENGINE_FAULT=KIND@N``, ignored in a frozen build): ``segv``,
``abort``, ``hang`` (stuck in a decode), ``freeze`` (the whole process stops) or ``oom`` at
answer token N, or ``@load`` during the load; a ``+bufts`` suffix fires only while llama.cpp's
extra buffer types are on, which is how the AMX crash behaves. They stand in for the crashes
llama.cpp has on hardware we do not have (an AMX Xeon segfaults in ``ggml_backend_amx_mul_mat``).
``socket@N`` tries to open a network socket and streams what happened as the answer.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

from app.core.engines import wire

EXIT_OUT_OF_MEMORY = 86  # the child ran into its memory cap (MemoryError)
HEARTBEAT_S = 0.5
# Tokens go to the app at most this often (the first at once). Each frame wakes the app, and
# on a machine whose cores llama.cpp's threads fill, every wake-up stalls all of them; the
# window paints at 30 Hz anyway.
TOKEN_FLUSH_S = 0.03
PROGRESS_EVERY_S = 0.1  # load progress, likewise

log = logging.getLogger("app.engine")


class Fault:
    """A test-only fault to inject; see the module docstring."""

    def __init__(self, spec: str) -> None:
        kind, _, at = spec.partition("@")
        at, _, condition = at.partition("+")
        self.kind = kind.strip().lower()
        self.at_load = at.strip() == "load"
        self.token = int(at) if at.strip().isdigit() else 0
        self.only_with_bufts = condition.strip() == "bufts"

    @classmethod
    def from_env(cls) -> Fault | None:
        """The fault asked for, unless this is a frozen (shipped) build."""
        spec = os.environ.get("ENCLAVE_ENGINE_FAULT", "")
        if not spec or getattr(sys, "frozen", False):
            return None
        return cls(spec)

    def fire(self) -> None:
        """Fail the way a native crash would."""
        if self.kind == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif self.kind == "abort":
            os.abort()
        elif self.kind == "freeze":
            os.kill(os.getpid(), signal.SIGSTOP)
        elif self.kind == "hang":
            while True:  # stuck inside a "decode": heartbeats go on, steps do not
                time.sleep(3600)
        elif self.kind == "socket":
            try:
                socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
            except OSError as exc:
                raise SocketProbe(f"socket refused: {type(exc).__name__}") from None
            raise SocketProbe("socket opened")
        elif self.kind == "oom":
            import mmap

            hog = []
            try:
                # Untouched anonymous mappings: they count against the address-space cap
                # (which stops this long before the 1 TiB bound) without using real memory.
                for _ in range(4096):
                    hog.append(mmap.mmap(-1, 256 * 1024 * 1024))
            except OSError:
                raise MemoryError("the engine reached its memory cap") from None
            raise MemoryError("the fault did not reach the memory cap")


class SocketProbe(Exception):  # noqa: N818 - a message, not an error
    """What the ``socket`` fault found; streamed to the parent as the answer."""


class EngineChild:
    """Serves one parent until it closes the connection."""

    def __init__(self, channel: wire.Channel, containment: dict[str, Any]) -> None:
        self.channel = channel
        self.containment = containment
        self.engine: Any = None
        self.fault = Fault.from_env()
        self.cancel = threading.Event()
        self.steps = 0  # decode steps finished: the watchdog's sign of progress
        self.busy = threading.Event()
        self.requests: queue.Queue[dict[str, Any] | None] = queue.Queue()

    # --- threads --------------------------------------------------------------------------

    def serve(self) -> NoReturn:
        """Read frames until the parent closes or goes away, then exit the process."""
        threading.Thread(target=self._work, name="engine-worker", daemon=True).start()
        threading.Thread(target=self._heartbeat, name="engine-heartbeat", daemon=True).start()
        while True:
            try:
                message = self.channel.recv()
            except wire.ProtocolError:
                break  # the parent is gone (or confused): nothing left to serve
            if message is None:
                continue
            if message["t"] == "cancel":
                self.cancel.set()
            elif message["t"] == "close":
                break
            else:
                self.requests.put(message)
        # Nothing to save: the kernel frees the model faster than llama.cpp's destructors.
        os._exit(0)

    def _heartbeat(self) -> None:
        while True:
            time.sleep(HEARTBEAT_S)
            if self.busy.is_set():
                try:
                    self.channel.send({"t": "hb", "steps": self.steps})
                except wire.PeerClosed:
                    os._exit(0)

    def _work(self) -> None:
        while True:
            message = self.requests.get()
            if message is None:
                os._exit(0)
            self.cancel.clear()
            self.busy.set()
            try:
                reply = self._handle(message)
            except MemoryError:
                # The address-space cap was reached. llama.cpp's state after a failed
                # allocation is not to be trusted: end, and let the exit status say why.
                log.error("engine process reached its memory cap")
                os._exit(EXIT_OUT_OF_MEMORY)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
                reply = _error_reply(exc)
            finally:
                self.busy.clear()
            reply["id"] = message.get("id")
            self._send(reply)

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self.channel.send(message)
        except wire.PeerClosed:
            os._exit(0)

    # --- requests -------------------------------------------------------------------------

    def _handle(self, message: dict[str, Any]) -> dict[str, Any]:
        kind = message["t"]
        if kind == "load":
            return self._load(message)
        if self.engine is None:
            return {"t": "error", "kind": "engine", "message": "No model is loaded."}
        if kind == "stream":
            return self._stream(message)
        if kind == "prompt_tokens":
            from app.core.engines.base import ChatMessage

            messages = [ChatMessage(m["role"], m["content"]) for m in message["messages"]]
            return {"t": "result", "tokens": self.engine.prompt_tokens(messages)}
        if kind == "tokenize":
            tokens = self.engine.tokenize(message["text"], special=bool(message["special"]),
                                          add_bos=bool(message.get("add_bos", False)))
            return {"t": "result", "tokens": tokens}
        return {"t": "error", "kind": "protocol", "message": f"Unknown request {kind!r}."}

    def _load(self, message: dict[str, Any]) -> dict[str, Any]:
        import llama_cpp as C

        from app.core.engines import sandbox
        from app.core.engines.base import EngineOptions
        from app.core.engines.local import LocalEngine
        from app.core.models.inspect import GGUFInfo

        options = EngineOptions(**message["options"])
        if options.gpu_layers != 0 and C.llama_supports_gpu_offload():
            # GPU drivers reserve huge virtual ranges; a cap on the address space breaks them.
            cap, words = None, "no cap: layers go to a GPU, whose driver reserves address space"
        else:
            cap, words = sandbox.cap_address_space(message.get("memory_cap"))
        self.containment.update(memory_cap_bytes=cap, memory=words)
        if self.fault is not None and self.fault.at_load and (
                options.extra_bufts or not self.fault.only_with_bufts):
            self.fault.fire()
        raw = dict(message["gguf"])
        raw["path"] = Path(raw["path"])
        gguf = GGUFInfo(**raw)

        last = 0.0

        def progress(fraction: float) -> bool:
            nonlocal last
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY_S or fraction >= 1.0:
                last = now
                self._send({"t": "progress", "fraction": fraction})
            return not self.cancel.is_set()

        self.engine = LocalEngine(
            Path(message["path"]), gguf, model_id=message["model_id"],
            sha256=message["sha256"], options=options, on_progress=progress,
            first_use=bool(message.get("first_use")),
        )
        info = self.engine.info
        return {"t": "loaded", "info": {
            "model_id": info.model_id, "model_sha256": info.model_sha256, "route": info.route,
            "device": info.device, "context_length": info.context_length, "extra": info.extra,
        }, "containment": self.containment, "threads": self.engine.threads_state}

    def _stream(self, message: dict[str, Any]) -> dict[str, Any]:
        from app.core.engines.base import ChatMessage, GenerationParams

        messages = [ChatMessage(m["role"], m["content"]) for m in message["messages"]]
        raw = dict(message["params"])
        raw["stop"] = tuple(raw.get("stop") or ())
        params = GenerationParams(**raw)
        count = 0
        fault = self.fault if self.fault is not None and not self.fault.at_load else None
        if fault is not None and fault.only_with_bufts and self.engine.info.extra.get(
                "extra_bufts") == "off":
            fault = None

        pending: list[str] = []
        last_sent = 0.0

        def on_token(piece: str) -> None:
            nonlocal count, last_sent
            count += 1
            self.steps += 1
            if fault is not None and count >= fault.token:
                try:
                    fault.fire()
                except SocketProbe as probe:
                    piece = str(probe)
            pending.append(piece)
            now = time.monotonic()
            if now - last_sent >= TOKEN_FLUSH_S:
                last_sent = now
                self.channel.send({"t": "tok", "s": pending[:]})
                pending.clear()

        completion = self.engine.stream(messages, params, on_token, self.cancel)
        if pending:
            self.channel.send({"t": "tok", "s": pending})
        return {"t": "done", "completion": {
            "text": completion.text, "finish_reason": completion.finish_reason,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens, "ttft_s": completion.ttft_s,
            "total_s": completion.total_s, "tokens_per_s": completion.tokens_per_s,
            "error": completion.error, "engine_state": completion.engine_state,
        }}


def _error_reply(exc: Exception) -> dict[str, Any]:
    from app.core.engines.base import ContextOverflow
    from app.core.errors import EnclaveError
    from app.core.models.errors import ModelError

    if isinstance(exc, EnclaveError):
        kind = ("context-overflow" if isinstance(exc, ContextOverflow)
                else "model" if isinstance(exc, ModelError) else "engine")
        return {"t": "error", "kind": kind, "message": exc.message, "hint": exc.hint}
    log.exception("engine request failed")
    # Never the exception text: it may quote the prompt (llama-cpp-python's errors do).
    return {"t": "error", "kind": "engine",
            "message": f"The engine failed ({type(exc).__name__}); details are in the log file."}


def hardware_signature() -> dict[str, str]:
    """This build of llama.cpp and this machine, as the fallback memory keys them."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    import llama_cpp as C

    from app.core.engines.devices import backend_devices

    try:
        build = version("llama_cpp_python")
    except PackageNotFoundError:
        build = "unknown"
    system = C.llama_print_system_info().decode("utf-8", "replace").strip()
    cpu = _cpu_model()
    flags = _cpu_flags()
    devices = ", ".join(f"{d.name}: {d.description}" for d in backend_devices())
    lib = Path(C.__file__).parent / "lib"
    libs = sorted(f"{p.name}:{p.stat().st_size}" for p in lib.glob("*.so*")) if lib.is_dir() else []
    build_id = hashlib.sha256(f"{build}|{system}|{libs}".encode()).hexdigest()[:16]
    hw_id = hashlib.sha256(f"{cpu}|{flags}|{devices}".encode()).hexdigest()[:16]
    return {"build": build, "build_id": build_id, "hardware_id": hw_id, "cpu": cpu,
            "amx": "yes" if "amx_int8" in flags.split() else "no", "devices": devices,
            "system": system}


def _cpuinfo_lines() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def _cpu_model() -> str:
    import platform

    for line in _cpuinfo_lines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _cpu_flags() -> str:
    for line in _cpuinfo_lines():
        if line.startswith(("flags", "Features")):
            return " ".join(sorted(line.split(":", 1)[1].split()))
    return ""


def main(argv: list[str]) -> int:  # pragma: no cover - runs in the child process
    """``python -m app __engine FD [LOG_FILE]``."""
    # No PR_SET_PDEATHSIG: it fires when the *thread* that started us ends (the app starts a
    # spare engine from a short-lived thread). The app's end closes the socket instead, and
    # the main thread exits the process on that end of file.
    sock = socket.socket(fileno=int(argv[0]))
    if len(argv) > 1:
        from app.core.logs import configure_logging

        configure_logging(Path(argv[1]))
    from app.core.engines import sandbox

    method, words = sandbox.deny_sockets()
    containment: dict[str, Any] = {"network_method": method, "network": words,
                                   "memory_cap_bytes": None, "memory": "not loaded yet"}
    channel = wire.Channel(sock)
    try:
        from app.core.engines.backend import init_backend
        from app.core.engines.threads import physical_cores

        init_backend()
        signature = hardware_signature()
        physical_cores()  # psutil loads now, while the app is busy, not during a model load
    except Exception as exc:  # noqa: BLE001 - tell the parent in words
        log.exception("engine start failed")
        channel.send({"t": "hello", "v": wire.PROTOCOL_VERSION, "ok": False,
                      "message": f"llama.cpp could not start ({type(exc).__name__})."})
        return 1
    channel.send({"t": "hello", "v": wire.PROTOCOL_VERSION, "ok": True, "pid": os.getpid(),
                  "signature": signature, "containment": containment})
    return EngineChild(channel, containment).serve()
