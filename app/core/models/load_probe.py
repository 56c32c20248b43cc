"""Load a model once in a child process before the app loads it.

llama.cpp is C++: a file that passes every metadata check can still make it abort or segfault
while loading tensors, and that would take the whole app down with the user's unsaved work.
So a model the app has never loaded (one the user imports, or any file not pinned by the
catalog) is first loaded in ``python -m app __load-probe PATH``: load, make a small context,
decode one token, exit. A crash there is a sentence in the UI, not a lost window. The result is
cached by the file's SHA-256 and the llama.cpp version, so each file is probed once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.engines.cpu_kernels import extra_bufts_for
from app.core.engines.engine_process import child_environment
from app.core.jsonstore import read_json_object, write_json_atomic
from app.core.runtime import app_command

LOAD_PROBE_TIMEOUT_S = 60.0
PROBE_CONTEXT = 128
NO_EXTRA_BUFTS = "--no-extra-bufts"

_lock = threading.Lock()


@dataclass(frozen=True)
class LoadProbeResult:
    """What happened when a child process loaded the model.

    Attributes:
        ok: True when llama.cpp loaded it and decoded one token.
        reason: Why not, in words a user understands (empty when ok).
        details: What llama.cpp reported about the loaded model (n_params, n_layer, ...).
        definite: False when the outcome may change on another try (a timeout).
    """

    ok: bool
    reason: str = ""
    details: dict[str, int] = field(default_factory=dict)
    definite: bool = True


def probe_command(path: Path, *flags: str) -> list[str]:
    """The command line that probes one file."""
    return app_command("__load-probe", str(path), *flags)


def run_probe(command: Sequence[str], *, timeout: float = LOAD_PROBE_TIMEOUT_S) -> LoadProbeResult:
    """Run a probe command and turn however it ended into a result. Never raises.

    Args:
        command: The child's command line (``probe_command(path)``).
        timeout: Seconds before the child is killed.
    """
    # The engine process's environment: the probe runs untrusted files through native code
    # too, so it gets no interpreter overrides and no way to the user's secrets either.
    env = child_environment()
    try:
        proc = subprocess.run(
            list(command), capture_output=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return LoadProbeResult(
            False, f"llama.cpp took longer than {timeout:.0f} s to load it and was stopped",
            definite=False,
        )
    except OSError as exc:
        return LoadProbeResult(False, f"the load check could not start ({exc})", definite=False)
    if proc.returncode != 0:
        return LoadProbeResult(False, _crash_reason(proc.returncode))
    try:
        result = json.loads(proc.stdout.decode("utf-8", "replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        return LoadProbeResult(False, "the load check ended without an answer")
    if not isinstance(result, dict):
        return LoadProbeResult(False, "the load check ended without an answer")
    if not result.get("ok"):
        return LoadProbeResult(False, str(result.get("error") or "llama.cpp refused it"))
    details = result.get("details")
    clean = {str(k): int(v) for k, v in details.items() if isinstance(v, int)} if isinstance(
        details, dict) else {}
    return LoadProbeResult(True, "", clean)


def _crash_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"llama.cpp crashed while loading it ({name})"
    return f"llama.cpp crashed while loading it (exit status {returncode})"


def probe_load(path: Path, *, timeout: float = LOAD_PROBE_TIMEOUT_S) -> LoadProbeResult:
    """Load ``path`` in a child process; see the module docstring.

    A crash is tried once more without llama.cpp's extra buffer types (AMX and CPU weight
    repacking crash on some CPUs, llama.cpp#20824): the engine process falls back the same
    way, so such a model is usable and must not be refused here. Where that crash is known
    (an AMX CPU, ``cpu_kernels``), the probe starts without them, as the engine does.
    """
    if not extra_bufts_for("auto"):
        return run_probe(probe_command(path, NO_EXTRA_BUFTS), timeout=timeout)
    first = run_probe(probe_command(path), timeout=timeout)
    if first.ok or "crashed" not in first.reason:
        return first
    second = run_probe(probe_command(path, NO_EXTRA_BUFTS), timeout=timeout)
    if not second.ok:
        return second
    return LoadProbeResult(True, "", {**second.details, "needs_safe_settings": 1})


def llama_cpp_version() -> str:
    """The installed llama-cpp-python version (a new llama.cpp may load a file differently)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llama_cpp_python")
    except PackageNotFoundError:
        return "unknown"


class LoadProbeCache:
    """Definite probe results by SHA-256 and llama.cpp version, in a small JSON file."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def _read(self) -> dict[str, Any]:
        return read_json_object(self.file)

    def get(self, sha256: str) -> LoadProbeResult | None:
        """The cached result for these bytes, if they were probed with this llama.cpp."""
        with _lock:
            hit = self._read().get(f"{sha256}@{llama_cpp_version()}")
        if not isinstance(hit, dict) or not isinstance(hit.get("ok"), bool):
            return None
        details = hit.get("details")
        return LoadProbeResult(
            hit["ok"], str(hit.get("reason") or ""),
            {str(k): int(v) for k, v in details.items() if isinstance(v, int)}
            if isinstance(details, dict) else {},
        )

    def put(self, sha256: str, result: LoadProbeResult) -> None:
        """Remember a definite result (a timeout is not remembered)."""
        if not result.definite:
            return
        with _lock:
            entries = self._read()
            entries[f"{sha256}@{llama_cpp_version()}"] = {
                "ok": result.ok, "reason": result.reason, "details": result.details,
            }
            with contextlib.suppress(OSError):  # a cache that cannot be written costs time
                write_json_atomic(self.file, entries)

    def probe(
        self, sha256: str, path: Path, *, runner: Callable[[Path], LoadProbeResult] = probe_load
    ) -> LoadProbeResult:
        """The cached result, or probe now and cache it."""
        cached = self.get(sha256)
        if cached is not None:
            return cached
        result = runner(path)
        self.put(sha256, result)
        return result


# --- the child --------------------------------------------------------------------------


# Long on purpose: the probe child's whole life, in order, reported as one JSON line.
def _main(argv: list[str], out: Callable[[str], object] = print) -> int:  # pragma: no cover
    """``python -m app __load-probe PATH``: load, decode one token, print one JSON line."""
    import ctypes

    # Here, not at the top: only the probe child needs the reader and jinja2.
    from app.core.models.gguf_reader import GGUFFormatError, read_gguf
    from app.core.models.template_check import template_problem

    # The template first: a hostile one is the clearest reason, whether or not the tensors load.
    try:
        template = read_gguf(argv[0]).get("chat_template")
    except (GGUFFormatError, OSError) as exc:
        out(json.dumps({"ok": False, "error": f"it is not a usable GGUF file: {exc}"}))
        return 0
    problem = template_problem(template if isinstance(template, str) else None)
    if problem:
        out(json.dumps({"ok": False, "error": f"its chat template was refused: {problem}"}))
        return 0

    import llama_cpp as C

    errors: list[str] = []

    @C.llama_log_callback  # type: ignore[untyped-decorator]
    def _log(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        line = text.decode("utf-8", "replace").strip()
        if level in (3, 4) and line:  # ggml: 3 = warning, 4 = error
            errors.append(line)
            del errors[:-5]

    C.llama_log_set(_log, ctypes.c_void_p(0))
    C.llama_backend_init()

    def fail(what: str) -> int:
        detail = next((e for e in reversed(errors) if "error" in e.lower()), "")
        out(json.dumps({"ok": False, "error": f"{what}: {detail}" if detail else what}))
        return 0

    mparams = C.llama_model_default_params()
    mparams.n_gpu_layers = 0  # CPU: the probe checks the file, not the GPU driver
    mparams.use_extra_bufts = NO_EXTRA_BUFTS not in argv[1:]
    model = C.llama_model_load_from_file(os.fsencode(argv[0]), mparams)
    if not model:
        return fail("llama.cpp cannot load it")
    cparams = C.llama_context_default_params()
    cparams.n_ctx = PROBE_CONTEXT
    cparams.n_batch = cparams.n_ubatch = PROBE_CONTEXT
    cparams.n_threads = cparams.n_threads_batch = 1
    cparams.no_perf = True
    ctx = C.llama_init_from_model(model, cparams)
    if not ctx:
        C.llama_model_free(model)
        return fail("llama.cpp cannot make a context for it")
    vocab = C.llama_model_get_vocab(model)
    # A real prompt of a few dozen tokens, not one token: batched kernels (AMX, repacked
    # Q4/Q8) are only reached by a batch, and they are what crashes on some CPUs.
    text = b"Explain in two short sentences why a lighthouse keeper writes down the weather."
    buf = (C.llama_token * PROBE_CONTEXT)()
    n = C.llama_tokenize(vocab, text, len(text), buf, PROBE_CONTEXT // 2, True, False)
    if n <= 0:
        token = C.llama_vocab_bos(vocab)
        buf[0] = token if token >= 0 else 0
        n = 1
    rc = C.llama_decode(ctx, C.llama_batch_get_one(buf, n))
    for _ in range(4):  # and a few answer tokens, one at a time
        if rc != 0:
            break
        buf[0] = int(C.llama_get_logits_ith(ctx, -1)[0] > 0)  # any valid token id
        rc = C.llama_decode(ctx, C.llama_batch_get_one(buf, 1))
    details = {
        "n_params": int(C.llama_model_n_params(model)),
        "n_ctx_train": int(C.llama_model_n_ctx_train(model)),
        "n_layer": int(C.llama_model_n_layer(model)),
        "n_embd": int(C.llama_model_n_embd(model)),
        "n_head": int(C.llama_model_n_head(model)),
        "n_head_kv": int(C.llama_model_n_head_kv(model)),
        "n_vocab": int(C.llama_vocab_n_tokens(vocab)),
        "size": int(C.llama_model_size(model)),
    }
    C.llama_free(ctx)
    C.llama_model_free(model)
    if rc != 0:
        return fail(f"llama.cpp loaded it but could not run it (decode returned {rc})")
    out(json.dumps({"ok": True, "details": details}))
    return 0
