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
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from app.core.docs.pooling import mean_pool
from app.core.models.digests import sha256_file

log = logging.getLogger(__name__)

RECIPE = "nan-guard-1"  # bump when the rewrite changes: older copies are then remade
MIN_COSINE = 0.9999  # the copy's probe vectors against the source's


class OptimizeFailed(Exception):
    """The optimised copy could not be made or checked; the source model is used instead."""


def _ort_version() -> str:
    import onnxruntime as ort

    return str(ort.__version__)


def cached_paths(cache_dir: Path, source_sha256: str) -> tuple[Path, Path]:
    """Where the copy of the model with this digest, for this onnxruntime, is kept."""
    stem = f"minilm-{source_sha256[:16]}-ort{_ort_version()}-{RECIPE}"
    folder = cache_dir / "embedding"
    return folder / f"{stem}.onnx", folder / f"{stem}.json"


def optimized_model(source: Path, source_sha256: str, cache_dir: Path) -> Path:
    """The optimised copy of ``source`` (made now if missing or damaged), else ``source``.

    Args:
        source: the catalog's model file, its digest already checked.
        source_sha256: that digest (names the copy).
        cache_dir: the user's cache directory.
    """
    model, sidecar = cached_paths(cache_dir, source_sha256)
    if _intact(model, sidecar, source_sha256):
        return model
    if model.exists() or sidecar.exists():
        log.warning("optimised embedding model %s is damaged or stale; making it again", model)
    try:
        _build(source, model, sidecar, source_sha256)
    except Exception as exc:  # onnx and onnxruntime raise their own untyped errors
        log.warning("embedding model not optimised, using the original (slower): %s: %s",
                    type(exc).__name__, exc)
        return source
    log.info("optimised embedding model saved to %s", model)
    return model


def _intact(model: Path, sidecar: Path, source_sha256: str) -> bool:
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        return (
            isinstance(meta, dict)
            and meta.get("source_sha256") == source_sha256
            and meta.get("recipe") == RECIPE
            and meta.get("onnxruntime") == _ort_version()
            and meta.get("sha256") == sha256_file(model)
        )
    except (OSError, ValueError):
        return False


def _build(source: Path, model: Path, sidecar: Path, source_sha256: str) -> None:
    model.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".opt-", suffix=".onnx", dir=model.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        rewrite(source, tmp)
        check_equivalent(source, tmp)
        digest = sha256_file(tmp)
        os.replace(tmp, model)
    finally:
        tmp.unlink(missing_ok=True)
    meta = {"source_sha256": source_sha256, "recipe": RECIPE,
            "onnxruntime": _ort_version(), "sha256": digest}
    sidecar.write_text(json.dumps(meta, indent=1), encoding="utf-8")


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


def check_equivalent(source: Path, candidate: Path) -> None:
    """Both models embed the probe batch alike (cosine >= ``MIN_COSINE``, no NaN).

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
    if not np.all(np.isfinite(vectors[1])) or float(cosine.min()) < MIN_COSINE:
        raise OptimizeFailed(f"the optimised model's vectors differ (cosine {cosine.min():.6f})")


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options,
                                providers=["CPUExecutionProvider"])
