"""One engine process, seen from the app: start it, talk to it, watch it, end it.

The child runs ``app.core.engines.engine_child`` from this same interpreter (or the frozen
binary), never through a PATH lookup. Its environment loses what could reach the user's
secrets (the D-Bus session, SSH and GPG agents); it inherits one end of a socketpair and no
other descriptor. Whatever way it ends — a signal, an abort, the memory cap, a watchdog kill —
``EngineCrashed`` says it in words, and the caller keeps the answer so far.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.engines import wire
from app.core.engines.base import EngineCrashed, EngineError
from app.core.runtime import app_command

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
# Seconds without a single frame (heartbeats come every 0.5 s while a request runs) before the
# process counts as frozen; a decode that stops making progress is judged by ``watchdog_s``.
FROZEN_AFTER_S = 30.0
EXIT_OUT_OF_MEMORY = 86  # engine_child's status when it reached its memory cap

# What reaches the child of the parent's environment: nothing that leads to a secret.
_SECRET_ENV = ("DBUS_SESSION_BUS_ADDRESS", "DBUS_SYSTEM_BUS_ADDRESS", "SSH_AUTH_SOCK",
               "GPG_AGENT_INFO", "GNOME_KEYRING_CONTROL", "KRB5CCNAME", "PYTHON_KEYRING_BACKEND")


def engine_process_supported() -> bool:
    """Whether this OS can run the engine process (a Unix socketpair handed to the child).

    Windows cannot pass a socket to a child this way; there the engine runs in the app's
    process as it did before, and ``enclave doctor`` says so.
    """
    return os.name == "posix" and hasattr(socket, "AF_UNIX")


def engine_command(fd: int, log_file: Path | None) -> list[str]:
    """The child's command line: this interpreter or the frozen binary, never PATH."""
    return app_command("__engine", str(fd), *([str(log_file)] if log_file else []))


def child_environment() -> dict[str, str]:
    """The parent's environment without interpreter overrides or ways to a secret."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTHON") and k not in _SECRET_ENV
           and not k.endswith(("_API_KEY", "_TOKEN"))}
    # glibc gives each thread a 64 MiB malloc arena of address space; with a cap on the
    # address space that would be counted against the model.
    env["MALLOC_ARENA_MAX"] = "2"
    return env


def describe_exit(returncode: int | None, *, frozen_for: float | None = None,
                  memory_cap: int | None = None) -> tuple[str, str, str | None]:
    """(cause, words, signal name) for how an engine process ended."""
    if frozen_for is not None:
        return "hung", f"stopped answering for {frozen_for:.0f} s and was stopped", None
    if returncode == EXIT_OUT_OF_MEMORY:
        cap = f" (its limit is {memory_cap / 2**30:.1f} GiB)" if memory_cap else ""
        return "out-of-memory", f"ran out of memory{cap}", None
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        words = {
            "SIGSEGV": "crashed inside llama.cpp (SIGSEGV, an invalid memory access)",
            "SIGBUS": "crashed inside llama.cpp (SIGBUS, a bad memory access)",
            "SIGABRT": "was aborted by llama.cpp (SIGABRT, an internal check failed)",
            "SIGILL": "used an instruction this CPU does not have (SIGILL)",
            "SIGFPE": "crashed inside llama.cpp (SIGFPE, an arithmetic fault)",
            "SIGKILL": "was killed (SIGKILL), most likely because the computer ran out of memory",
        }.get(name, f"was ended by {name}")
        cause = "out-of-memory" if name == "SIGKILL" else "signal"
        return cause, words, name
    return "exit", f"ended unexpectedly (exit status {returncode})", None


@dataclass
class Watch:
    """Progress seen while waiting for a reply, for the watchdog."""

    stall_limit: float
    last_frame: float
    last_progress: float
    steps: int = -1
    frozen_limit: float = FROZEN_AFTER_S


class EngineProcess:
    """A started engine process and its channel.

    Raises (from ``start``): EngineError when it cannot start or speaks another protocol.
    """

    def __init__(self, log_file: Path | None = None) -> None:
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None
        self.channel: wire.Channel | None = None
        self.hello: dict[str, Any] = {}
        self.memory_cap: int | None = None
        self._next_id = 0

    # --- life -------------------------------------------------------------------------

    def start(self) -> EngineProcess:
        """Start the child and wait for its ``hello``."""
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        stderr_path = self.log_file.with_name("engine-stderr.log") if self.log_file else None
        try:
            err: Any = (open(stderr_path, "ab") if stderr_path  # noqa: SIM115 - closed below
                        else subprocess.DEVNULL)
        except OSError:
            err = subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(
                engine_command(child.fileno(), self.log_file), pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                env=child_environment(), start_new_session=True,
            )
        except OSError as exc:
            parent.close()
            raise EngineError(f"The engine process could not start ({exc}).",
                              "Reinstall Enclave, or check `enclave doctor`.") from exc
        finally:
            child.close()
            if err is not subprocess.DEVNULL:
                err.close()
        self.channel = wire.Channel(parent)
        deadline = time.monotonic() + START_TIMEOUT_S
        hello = None
        while hello is None:
            try:
                hello = self.channel.recv(timeout=0.2)
            except wire.ProtocolError:
                self._raise_ended("load", None)
            if hello is None and time.monotonic() > deadline:
                self.kill()
                raise EngineError("The engine process did not start within "
                                  f"{START_TIMEOUT_S:.0f} s.", "Check `enclave doctor`.")
        if hello.get("t") != "hello" or hello.get("v") != wire.PROTOCOL_VERSION:
            self.kill()
            raise EngineError("The engine process speaks another protocol version.",
                              "Reinstall Enclave: its files are from different versions.")
        if not hello.get("ok"):
            self.kill()
            raise EngineError(str(hello.get("message") or "llama.cpp could not start."),
                              "Check `enclave doctor` and the log file.")
        self.hello = hello
        return self

    @property
    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def signature(self) -> dict[str, str]:
        """The build and hardware the child reported."""
        sig = self.hello.get("signature")
        return {str(k): str(v) for k, v in sig.items()} if isinstance(sig, dict) else {}

    def kill(self) -> None:
        """End the process now (SIGKILL works on a frozen one too) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.kill()
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        if self.channel is not None:
            self.channel.close()

    def close(self) -> None:
        """Ask the child to exit; kill it if it does not within a second."""
        if self.channel is not None and self.alive:
            with contextlib.suppress(wire.ProtocolError):
                self.channel.send({"t": "close"})
            assert self.proc is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=1.0)
        self.kill()

    # --- requests ---------------------------------------------------------------------

    def request(
        self,
        message: dict[str, Any],
        *,
        phase: str,
        stall_limit: float,
        on_frame: Callable[[dict[str, Any]], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """Send one request and wait for its reply, passing other frames to ``on_frame``.

        Args:
            message: The request.
            phase: ``load`` or ``answer``, for the words of a crash.
            stall_limit: Seconds without progress before the process counts as hung.
            on_frame: Receives ``tok``/``progress`` frames as they arrive.
            cancel: Polled about every 50 ms; once it returns True, ``cancel`` is sent.

        Raises:
            EngineCrashed: the process died, hung or broke the protocol (it is killed).
        """
        assert self.channel is not None
        self._next_id += 1
        message = {**message, "id": self._next_id}
        try:
            self.channel.send(message)
        except wire.ProtocolError:
            self._raise_ended(phase, None)
        try:
            return self._await(message, phase, stall_limit, on_frame, cancel)
        except EngineCrashed:
            raise
        except BaseException:
            # Ctrl+C, or on_frame raised: the child is still answering. Stop it and read up
            # to its reply, so the next request does not receive this one's tokens.
            self._abandon(message["id"])
            raise

    def _abandon(self, request_id: int) -> None:
        assert self.channel is not None
        deadline = time.monotonic() + 5.0
        try:
            self.channel.send({"t": "cancel"})
            while time.monotonic() < deadline:
                frame = self.channel.recv(timeout=0.1)
                if frame is not None and frame.get("id") == request_id:
                    return
        except wire.ProtocolError:
            pass
        self.kill()

    def _await(
        self,
        message: dict[str, Any],
        phase: str,
        stall_limit: float,
        on_frame: Callable[[dict[str, Any]], None] | None,
        cancel: Callable[[], bool] | None,
    ) -> dict[str, Any]:
        assert self.channel is not None
        now = time.monotonic()
        watch = Watch(stall_limit, now, now, frozen_limit=min(FROZEN_AFTER_S, stall_limit))
        cancelled = False
        while True:
            try:
                frame = self.channel.recv(timeout=0.05)
            except wire.PeerClosed:
                self._raise_ended(phase, None)
            except wire.ProtocolError as exc:
                log.error("engine protocol error: %s", exc)
                self.kill()
                raise EngineCrashed("The engine process sent something it should not have "
                                    "and was stopped.", "Try again; if it repeats, check "
                                    "`enclave doctor`.", cause="protocol", phase=phase) from exc
            now = time.monotonic()
            if not cancelled and cancel is not None and cancel():
                cancelled = True
                with contextlib.suppress(wire.ProtocolError):
                    self.channel.send({"t": "cancel"})
            if frame is None:
                self._check_watchdog(watch, now, phase)
                continue
            watch.last_frame = now
            kind = frame["t"]
            if kind == "hb":
                steps = frame.get("steps")
                if isinstance(steps, int) and steps != watch.steps:
                    watch.steps, watch.last_progress = steps, now
                continue
            watch.last_progress = now
            if kind in ("tok", "progress"):
                if on_frame is not None:
                    on_frame(frame)
                continue
            if frame.get("id") == message["id"]:
                return frame

    def _check_watchdog(self, watch: Watch, now: float, phase: str) -> None:
        frozen = now - watch.last_frame
        stalled = now - watch.last_progress
        if self.proc is not None and self.proc.poll() is not None:
            self._raise_ended(phase, None)
        if frozen > watch.frozen_limit or stalled > watch.stall_limit:
            self.kill()
            self._raise_ended(phase, max(frozen, stalled))

    def _raise_ended(self, phase: str, hung_for: float | None) -> None:
        returncode = None
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                returncode = self.proc.wait(timeout=5)
        cause, words, sig = describe_exit(returncode, frozen_for=hung_for,
                                          memory_cap=self.memory_cap)
        log.error("engine process %s during %s (status %s)", words, phase, returncode)
        if self.channel is not None:
            self.channel.close()
        what = "while loading the model" if phase == "load" else "while answering"
        raise EngineCrashed(f"The local engine {words} {what}.", "", cause=cause,
                            signal_name=sig, phase=phase)
