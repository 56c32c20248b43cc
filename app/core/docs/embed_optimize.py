"""A faster, equivalent copy of the embedding model, made once and kept in the user's cache.

The catalog's MiniLM was exported by PyTorch's exporter, which guards every attention softmax
with ``Where(IsNaN(p), 0, p)`` for rows whose keys are all masked. onnxruntime cannot fuse
across the guard, and the two ops read and write the whole ``batch x 12 x n x n`` score
tensor: about a sixth of the model's time on a CPU (``bench/README.md``). Our batches never
have such a row: every text keeps its ``[CLS]`` and ``[SEP]`` tokens unmasked, so softmax
never sees an all ``-inf`` row and the guard never fires. The copy drops the guards and
nothing else, so its vectors are the source's (checked on a probe batch before it is used).

The copy lives in ``<cache>/embedding/``, named by the source's SHA-256 (already checked
against the catalog), the onnxruntime version and this recipe's version, with a sidecar
recording its own SHA-256, checked each time it is used. Anything that goes wrong (the
``onnx`` package missing, a model without the guards, a failure while rewriting, a copy whose
vectors differ, a damaged cached file) logs a line and the source model is used: slower,
never wrong.

Two copies can be made (``schema.EMBEDDERS``). ``exact`` is the one above: the catalog
model's vectors, faster. ``fast`` goes further: its MatMul weights are int8 per output
channel and its activations quantized on the fly, so the CPU's int8 instructions do the
work (2.6x the catalog model alone at batch 8 here). Its vectors are close to the catalog
model's but not equal (cosine 0.98-0.99; the same documents are found, ``bench/README.md``),
so a documents index records which copy made its vectors (``docs_meta``) and is always
searched with that one. It is checked against the catalog model too, at a looser bound
that still catches a broken kernel; anything wrong falls back to ``exact`` with a log line.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.core.docs.pooling import mean_pool
from app.core.docs.schema import EXACT_EMBEDDER, FAST_EMBEDDER
from app.core.engines.engine_process import child_environment
from app.core.models.digests import sha256_file
from app.core.runtime import app_command

log = logging.getLogger(__name__)

RECIPE = "nan-guard-1"  # bump when the rewrite changes: older copies are then remade
FAST_RECIPE = "int8pc-1"  # the same, for the int8 copy
MIN_COSINE = 0.9999  # the copy's probe vectors against the source's
# The int8 copy measured 0.979 at worst on the probe batch and 0.982 over 1,900 real chunks;
# a kernel that saturates or a wrong scale lands far lower.
FAST_MIN_COSINE = 0.95
CHILD_VERB = "__embed-optimize"  # app/__main__.py runs ``_main`` for it
BUILD_TIMEOUT_S = 300.0
RETRY_AFTER_S = 24 * 3600.0  # a copy that failed is tried again after this long
# Tests only: comma-separated steps (start, quantize, check-exact, check-fast) and how they
# fail (segv, hang, no-onnx; else an error; a check fails by judging the vectors different).
FAULT_ENV = "ENCLAVE_EMBED_OPTIMIZE_FAULT"


class OptimizeFailed(Exception):
    """The optimised copy could not be made or checked; the source model is used instead."""


def _ort_version() -> str:
    import onnxruntime as ort

    return str(ort.__version__)


def _recipe(variant: str) -> str:
    if variant != FAST_EMBEDDER:
        return RECIPE
    # Without VNNI, x86 int8 kernels multiply in 16 bits and can saturate: 7-bit weights
    # leave them room (onnxruntime's advice). Named apart, so a copy moves with its CPU.
    return FAST_RECIPE if _has_vnni() else f"{FAST_RECIPE}-rr"


@functools.cache  # /proc/cpuinfo once: every cached_paths() asks
def _has_vnni() -> bool:
    from app.core.approval.machine import cpu

    flags = set(cpu()[1])
    return bool(flags & {"avx512_vnni", "avx_vnni", "neon"})


def cached_paths(cache_dir: Path, source_sha256: str,
                 variant: str = EXACT_EMBEDDER) -> tuple[Path, Path]:
    """Where the ``variant`` copy of the model with this digest, for this onnxruntime, is kept."""
    stem = f"minilm-{source_sha256[:16]}-ort{_ort_version()}-{_recipe(variant)}"
    folder = cache_dir / "embedding"
    return folder / f"{stem}.onnx", folder / f"{stem}.json"


def optimized_model(source: Path, source_sha256: str, cache_dir: Path,
                    variant: str = EXACT_EMBEDDER) -> Path:
    """The ``variant`` copy of ``source`` (made now if missing or damaged), else a fallback.

    A ``fast`` copy that cannot be made falls back to the ``exact`` one, and that to
    ``source``; callers tell which runs by comparing with :func:`cached_paths`.

    Args:
        source: the catalog's model file, its digest already checked.
        source_sha256: that digest (names the copy).
        cache_dir: the user's cache directory.
        variant: ``schema.EXACT_EMBEDDER`` or ``schema.FAST_EMBEDDER``.
    """
    model, sidecar = cached_paths(cache_dir, source_sha256, variant)
    if _intact(model, sidecar, source_sha256, variant):
        return model
    failed = model.with_suffix(".failed")
    why = _failed_lately(failed)
    if why is None:
        if model.exists() or sidecar.exists():
            log.warning("optimised embedding model %s is damaged or stale; making it again",
                        model)
        try:
            _build(source, model, sidecar, source_sha256, variant)
            failed.unlink(missing_ok=True)
            log.info("optimised embedding model saved to %s", model)
            return model
        except Exception as exc:  # onnx and onnxruntime raise their own untyped errors
            why = f"{type(exc).__name__}: {exc}"
            # Remembered, so every start does not spend seconds failing again.
            with contextlib.suppress(OSError):
                failed.write_text(json.dumps({"why": why, "at": time.time()}), encoding="utf-8")
    if variant == FAST_EMBEDDER:
        log.warning("int8 embedding model not made, using the exact one (slower): %s", why)
        return optimized_model(source, source_sha256, cache_dir)
    log.warning("embedding model not optimised, using the original (slower): %s", why)
    return source


def _failed_lately(marker: Path) -> str | None:
    """Why making this copy failed within ``RETRY_AFTER_S``, else None (try again)."""
    try:
        meta = json.loads(marker.read_text(encoding="utf-8"))
        if time.time() - float(meta["at"]) < RETRY_AFTER_S:
            return f"{meta['why']} (on an earlier try; tried again after a day)"
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _intact(model: Path, sidecar: Path, source_sha256: str, variant: str) -> bool:
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        return (
            isinstance(meta, dict)
            and meta.get("source_sha256") == source_sha256
            and meta.get("recipe") == _recipe(variant)
            and meta.get("onnxruntime") == _ort_version()
            and meta.get("sha256") == sha256_file(model)
        )
    except (OSError, ValueError):
        return False


def _build(source: Path, model: Path, sidecar: Path, source_sha256: str, variant: str) -> None:
    """Make the copy in a child process and keep it if the child says it is right.

    A child, because importing onnx and rewriting a model hold the GIL for up to a second
    (the window froze while a first document was added), and because onnx and onnxruntime's
    quantizer are native code that can crash: a crash here costs the copy, not the app.
    """
    model.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".making-", dir=model.parent))
    try:
        made = scratch / "copy.onnx"
        try:
            done = subprocess.run(build_command(source, made, variant), capture_output=True,
                                  text=True, timeout=BUILD_TIMEOUT_S, check=False,
                                  env=child_environment())
        except subprocess.TimeoutExpired as exc:
            raise OptimizeFailed(f"making it took over {BUILD_TIMEOUT_S:.0f} s") from exc
        if done.returncode != 0 or not made.is_file():
            raise OptimizeFailed(_why(done.returncode, done.stderr))
        digest = sha256_file(made)
        os.replace(made, model)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    meta = {"source_sha256": source_sha256, "recipe": _recipe(variant),
            "onnxruntime": _ort_version(), "sha256": digest}
    sidecar.write_text(json.dumps(meta, indent=1), encoding="utf-8")


def build_command(source: Path, target: Path, variant: str) -> list[str]:
    """The child's command line: this interpreter or the frozen binary, never PATH."""
    # The parent decides about VNNI, so the copy matches the name it is kept under.
    return app_command(CHILD_VERB, str(source), str(target), variant,
                       "reduce" if not _has_vnni() else "full")


def _why(returncode: int, stderr: str) -> str:
    if returncode < 0:
        try:
            return f"the process making it crashed ({signal.Signals(-returncode).name})"
        except ValueError:
            return f"the process making it ended on signal {-returncode}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else f"the process making it exited with {returncode}"


def _main(argv: list[str]) -> int:
    """``enclave __embed-optimize SOURCE TARGET VARIANT RANGE``: make one copy (``_build``)."""
    source, target, variant, reduce = Path(argv[0]), Path(argv[1]), argv[2], argv[3]
    try:
        _fault("start")
        make(source, target, variant, reduce_range=reduce == "reduce")
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which falls back
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def make(source: Path, target: Path, variant: str, *, reduce_range: bool = False) -> None:
    """Write the ``variant`` copy of ``source`` to ``target``, checked against ``source``.

    ``reduce_range``: 7-bit int8 weights, for CPUs without VNNI (``_recipe``).

    Raises:
        OptimizeFailed: it could not be made, or its vectors are too far from the source's.
    """
    rewrite(source, target)
    if variant == FAST_EMBEDDER:
        _fault("quantize")
        folded, quantized = target.with_suffix(".folded"), target.with_suffix(".int8")
        try:
            quantize(target, folded, quantized, reduce_range=reduce_range)
            os.replace(quantized, target)
        finally:
            folded.unlink(missing_ok=True)
            quantized.unlink(missing_ok=True)
    bound = FAST_MIN_COSINE if variant == FAST_EMBEDDER else MIN_COSINE
    check_equivalent(source, target, 1.5 if _fault(f"check-{variant}") else bound)


def _fault(step: str) -> bool:
    """Tests make the child fail at ``step`` through ``FAULT_ENV`` (ignored when frozen)."""
    spec = os.environ.get(FAULT_ENV, "")
    if getattr(sys, "frozen", False) or step not in spec.split(","):
        return False
    if "segv" in spec:
        os.kill(os.getpid(), signal.SIGSEGV)
    if "hang" in spec:
        time.sleep(3600)
    if "no-onnx" in spec:
        sys.modules["onnx"] = None  # type: ignore[assignment]
        return False
    if step.startswith("check"):
        return True
    raise RuntimeError(f"[ONNXRuntimeError] : 1 : FAIL : injected at {step}")


def quantize(model: Path, folded: Path, target: Path, *, reduce_range: bool = False) -> None:
    """Write ``model`` with int8 weights (MatMuls per output channel) to ``target``.

    The catalog's weights reach the MatMuls through ``Cast``/``Mul`` nodes, which the
    quantizer does not follow; onnxruntime's basic optimisation folds them into plain
    float weights first (``folded``, a scratch file).
    """
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folded)
    options.log_severity_level = 3
    ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
    quiet = logging.getLogger()  # the quantizer advises "pre-processing" on the root logger
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(folded), str(target), weight_type=QuantType.QInt8,
                         per_channel=True, reduce_range=reduce_range)
    finally:
        quiet.setLevel(level)


def rewrite(source: Path, target: Path) -> int:
    """Write ``source`` without its softmax NaN guards to ``target``; returns how many.

    Raises:
        OptimizeFailed: the ``onnx`` package is missing or the model has no such guard.
    """
    try:
        import onnx
    except ImportError as exc:
        raise OptimizeFailed("the onnx package is not installed") from exc
    proto = onnx.load(str(source))
    removed = drop_nan_guards(proto.graph)
    if removed == 0:
        raise OptimizeFailed("the model has no softmax NaN guard to remove")
    onnx.save(proto, str(target))
    return removed


def drop_nan_guards(graph: Any) -> int:
    """Rewire every ``Where(IsNaN(x), c, x)`` to ``x`` and drop both nodes; returns how many."""
    producers = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    dropped = []
    for node in graph.node:
        if node.op_type != "Where" or len(node.input) != 3:
            continue
        test = producers.get(node.input[0])
        if test is None or test.op_type != "IsNaN" or test.input[0] != node.input[2]:
            continue
        if consumers.get(test.output[0], 0) != 1:
            continue  # the NaN test feeds something else too: leave it
        if any(out.name == node.output[0] for out in graph.output):
            continue
        kept = node.input[2]
        for other in graph.node:
            for k, name in enumerate(other.input):
                if name == node.output[0]:
                    other.input[k] = kept
        dropped += [node, test]
    for node in dropped:
        graph.node.remove(node)
    return len(dropped) // 2


def probe_feeds(vocab: int = 30_000) -> dict[str, Any]:
    """A padded batch of different lengths, each row ``[CLS] … [SEP]`` as the tokenizer makes."""
    rng = np.random.default_rng(7)
    lengths = [2, 9, 40, 128]
    ids = np.zeros((len(lengths), max(lengths)), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(1_000, vocab, n)
        ids[row, 0], ids[row, n - 1] = 101, 102
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def check_equivalent(source: Path, candidate: Path, bound: float = MIN_COSINE) -> None:
    """Both models embed the probe batch alike (cosine >= ``bound``, no NaN).

    Raises:
        OptimizeFailed: they differ, or the candidate does not load.
    """
    feeds = probe_feeds()
    vectors = []
    for path in (source, candidate):
        session = _session(path)
        wanted = {i.name for i in session.get_inputs()}
        hidden = session.run(None, {k: v for k, v in feeds.items() if k in wanted})[0]
        vectors.append(mean_pool(np.asarray(hidden, dtype=np.float32), feeds["attention_mask"]))
    cosine = (vectors[0] * vectors[1]).sum(axis=1)
    if not np.all(np.isfinite(vectors[1])) or float(cosine.min()) < bound:
        raise OptimizeFailed(f"the optimised model's vectors differ (cosine {cosine.min():.6f})")


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options,
                                providers=["CPUExecutionProvider"])
