"""The supervised engine process with the real model: answers, crashes, fallbacks, containment.

Faults are injected in the engine process (``ENCLAVE_ENGINE_FAULT``) the way llama.cpp fails on
hardware this machine does not have: a segfault, an abort, a decode that never returns, a
frozen process, running into the memory cap. Each must leave the caller with the answer so far,
words for what happened, and a working engine for the next call.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.engines.base import (
    ChatMessage,
    EngineCrashed,
    EngineOptions,
    GenerationParams,
)
from app.core.engines.fallback import FallbackMemory
from app.core.engines.supervisor import CrashReport, SupervisedEngine, stop_spare
from app.core.models.errors import ModelLoadFailed
from app.core.models.inspect import inspect_gguf

pytestmark = [pytest.mark.model, pytest.mark.slow]

QUESTION = [ChatMessage("user", "Write a long story about a lighthouse keeper.")]
LONG = GenerationParams(max_tokens=64, temperature=0.0)


@pytest.fixture
def memory(tmp_path: Path) -> FallbackMemory:
    return FallbackMemory(tmp_path / "engine-fallbacks.json")


@pytest.fixture(autouse=True)
def _no_spare() -> Iterator[None]:
    yield
    stop_spare()


def start(model: Path, memory: FallbackMemory, crashes: list[CrashReport] | None = None,
          **options: object) -> SupervisedEngine:
    return SupervisedEngine(
        model, inspect_gguf(model), model_id="smollm2", sha256="a" * 64,
        options=EngineOptions(context_length=1024, **options),  # type: ignore[arg-type]
        memory=memory, on_crash=(crashes.append if crashes is not None else None),
    )


def test_answers_stream_from_another_process(default_model_file: Path,
                                             memory: FallbackMemory) -> None:
    engine = start(default_model_file, memory)
    try:
        pieces: list[str] = []
        c = engine.stream(QUESTION, GenerationParams(max_tokens=12, seed=1), pieces.append)
        assert engine.pid is not None and engine.pid != os.getpid()
        assert c.completion_tokens > 0 and "".join(pieces) == c.text
        assert c.engine_state.endswith(("thread", "threads", "(machine busy)"))
        assert len(engine.prompt_tokens(QUESTION)) > 5
    finally:
        engine.close()


def test_cancel_reaches_the_engine_process(default_model_file: Path,
                                           memory: FallbackMemory) -> None:
    engine = start(default_model_file, memory)
    cancel = threading.Event()
    seen: list[str] = []

    def on_token(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 3:
            cancel.set()

    try:
        c = engine.stream(QUESTION, GenerationParams(max_tokens=400, temperature=0.0),
                          on_token, cancel)
        assert c.finish_reason == "cancelled"
        assert c.completion_tokens < 40  # stopped within a few tokens, not at 400
    finally:
        engine.close()


@pytest.mark.parametrize(("fault", "cause", "signal_name", "words"), [
    ("segv@10", "signal", "SIGSEGV", "SIGSEGV"),
    ("abort@10", "signal", "SIGABRT", "SIGABRT"),
    ("hang@10", "hung", None, "stopped answering"),
    ("freeze@10", "hung", None, "stopped answering"),
    ("oom@10", "out-of-memory", None, "ran out of memory"),
])
def test_a_crash_keeps_the_answer_and_the_next_call_works(
    default_model_file: Path, memory: FallbackMemory, monkeypatch: pytest.MonkeyPatch,
    fault: str, cause: str, signal_name: str | None, words: str,
) -> None:
    crashes: list[CrashReport] = []
    monkeypatch.setenv("ENCLAVE_ENGINE_FAULT", fault)
    engine = start(default_model_file, memory, crashes, watchdog_s=3.0)
    first_pid = engine.pid
    pieces: list[str] = []
    try:
        with pytest.raises(EngineCrashed) as raised:
            engine.stream(QUESTION, LONG, pieces.append)
        err = raised.value
        assert (err.cause, err.signal_name) == (cause, signal_name)
        assert words in err.message and "answer so far is kept" in err.message
        assert "safer settings" in err.hint
        # The tokens before the fault reached the caller, but for the last ≤30 ms of them
        # (frames are coalesced; a segfault sends nothing more).
        assert len(pieces) >= 5
        assert [(r.phase, r.cause, r.level) for r in crashes] == [("answer", cause, 0)]
        monkeypatch.delenv("ENCLAVE_ENGINE_FAULT")
        c = engine.stream(QUESTION, GenerationParams(max_tokens=8, seed=2), lambda _p: None)
        assert c.completion_tokens > 0
        assert engine.pid not in (None, first_pid)
        assert engine.info.extra.get("fallback")  # the fresh engine runs with safer settings
    finally:
        engine.close()


def test_amx_style_crash_falls_back_and_is_remembered(
    default_model_file: Path, memory: FallbackMemory, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Crashes like llama.cpp on an AMX Xeon: only while extra buffer types are on, which
    # they are here as with `engine.cpu_repacking = on` (on an AMX CPU, llama.cpp's own
    # crash comes first, with the same outcome).
    monkeypatch.setenv("ENCLAVE_ENGINE_FAULT", "segv@load+bufts")
    crashes: list[CrashReport] = []
    engine = start(default_model_file, memory, crashes, extra_bufts=True)
    try:
        assert [(r.phase, r.level, r.next_level) for r in crashes] == [("load", 0, 1)]
        assert engine.info.extra["extra_bufts"] == "off"
        assert "AMX" in engine.info.extra["fallback"]
        c = engine.stream(QUESTION, GenerationParams(max_tokens=8), lambda _p: None)
        assert c.completion_tokens > 0
    finally:
        engine.close()
    again: list[CrashReport] = []
    # Straight to the remembered setting.
    engine = start(default_model_file, memory, again, extra_bufts=True)
    try:
        assert again == []
        assert engine.info.extra["extra_bufts"] == "off"
    finally:
        engine.close()
    [entry] = memory.report()
    assert entry["level"] == 1 and "AMX" in entry["words"] and not entry["broken"]


def test_a_model_that_always_crashes_is_refused_with_the_reason(
    default_model_file: Path, memory: FallbackMemory, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENCLAVE_ENGINE_FAULT", "abort@load")
    crashes: list[CrashReport] = []
    with pytest.raises(ModelLoadFailed) as raised:
        start(default_model_file, memory, crashes)
    # No GPU here, so the GPU step is skipped: as configured, no extra buffers, fewer threads.
    assert [r.level for r in crashes] == [0, 1, 3]
    assert crashes[-1].broken and "SIGABRT" in raised.value.message
    monkeypatch.delenv("ENCLAVE_ENGINE_FAULT")
    with pytest.raises(ModelLoadFailed, match="every safe setting"):
        start(default_model_file, memory)  # not tried again on this build and machine
    [entry] = memory.report()
    assert entry["broken"]


def test_the_engine_process_cannot_open_a_socket(
    default_model_file: Path, memory: FallbackMemory, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENCLAVE_ENGINE_FAULT", "socket@1")
    engine = start(default_model_file, memory)
    try:
        pieces: list[str] = []
        engine.stream(QUESTION, GenerationParams(max_tokens=2), pieces.append)
        assert pieces[0] == "socket refused: PermissionError", pieces
        assert engine.containment["network_method"] == "seccomp"
        status = Path(f"/proc/{engine.pid}/status").read_text()
        assert "Seccomp:\t2" in status
        assert engine.containment["memory_cap_bytes"] > default_model_file.stat().st_size
    finally:
        engine.close()


def test_the_engine_process_gets_no_way_to_the_keyring(
    default_model_file: Path, memory: FallbackMemory, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/0/bus")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary")
    engine = start(default_model_file, memory)
    try:
        environ = Path(f"/proc/{engine.pid}/environ").read_bytes()
        assert b"DBUS_SESSION_BUS_ADDRESS" not in environ
        assert b"sk-canary" not in environ
    finally:
        engine.close()


def test_a_spare_engine_outlives_the_thread_that_started_it() -> None:
    import time

    import app.core.engines.supervisor as sup

    sup.prestart(None)
    deadline = time.monotonic() + 30
    while sup._spare is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the starting thread has ended by now
    assert sup._spare is not None and sup._spare.alive


def test_the_engine_process_ends_with_the_app(default_model_file: Path, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import sys, tempfile, pathlib\n"
        "from app.core.engines.supervisor import SupervisedEngine\n"
        "from app.core.engines.fallback import FallbackMemory\n"
        "from app.core.models.inspect import inspect_gguf\n"
        f"p = pathlib.Path({str(default_model_file)!r})\n"
        "e = SupervisedEngine(p, inspect_gguf(p), model_id='m', sha256='b' * 64,\n"
        f"    memory=FallbackMemory(pathlib.Path({str(tmp_path / 'f.json')!r})))\n"
        "print(e.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    with subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as app:
        assert app.stdout is not None
        engine_pid = int(app.stdout.readline())
        app.send_signal(signal.SIGKILL)  # the app dies without a word
        app.wait()
    status = Path(f"/proc/{engine_pid}/status")

    def gone() -> bool:  # exited (a zombie until init reaps it counts)
        try:
            return "State:\tZ" in status.read_text()
        except OSError:
            return True

    deadline = time.monotonic() + 10
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone()
