"""Check a model file before llama.cpp sees it.

Cheap checks (existence, size bounds, magic, version) run in-process; the full metadata parse
runs in a child process with a wall-clock and address-space limit, so that no file a user picks
can hang or crash the app.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.models.errors import ModelFileInvalid, ModelNotFound
from app.core.runtime import app_command

MIN_MODEL_BYTES = 1024
MAX_MODEL_BYTES = 512 * 1024**3
PROBE_TIMEOUT_S = 20.0
PROBE_MEMORY_BYTES = 1024**3


@dataclass(frozen=True)
class GGUFInfo:
    """What a GGUF file says about itself, read without loading it."""

    path: Path
    file_size: int
    version: int
    architecture: str
    name: str | None
    author: str | None
    license: str | None
    parameter_count: int
    quantization: str | None
    context_length: int | None
    block_count: int | None
    chat_template: str | None
    size_label: str | None = None
    basename: str | None = None
    finetune: str | None = None
    organization: str | None = None
    embedding_length: int | None = None
    head_count: int | None = None
    head_count_kv: int | None = None
    key_length: int | None = None
    value_length: int | None = None
    vocab_size: int | None = None

    @classmethod
    def from_probe(cls, path: Path, info: dict[str, Any]) -> GGUFInfo:
        """Build from the child process's JSON."""
        return cls(
            path=path,
            file_size=int(info["file_size"]),
            version=int(info["version"]),
            architecture=str(info.get("architecture") or ""),
            name=info.get("name"),
            author=info.get("author"),
            license=info.get("license"),
            parameter_count=int(info.get("parameter_count") or 0),
            quantization=info.get("quantization"),
            context_length=info.get("context_length"),
            block_count=info.get("block_count"),
            chat_template=info.get("chat_template"),
            size_label=_text(info, "size_label"),
            basename=_text(info, "basename"),
            finetune=_text(info, "finetune"),
            organization=_text(info, "organization"),
            embedding_length=_int(info, "embedding_length"),
            head_count=_int(info, "head_count"),
            head_count_kv=_int(info, "head_count_kv"),
            key_length=_int(info, "key_length"),
            value_length=_int(info, "value_length"),
            vocab_size=_int(info, "vocab_size"),
        )


def _text(info: dict[str, Any], key: str) -> str | None:
    value = info.get(key)
    return value if isinstance(value, str) else None


def _int(info: dict[str, Any], key: str) -> int | None:
    value = info.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def quick_check(path: Path) -> None:
    """Existence, size bounds, magic and version: the checks that need no parsing.

    Raises:
        ModelNotFound: the path does not exist.
        ModelFileInvalid: anything else wrong with it.
    """
    if not path.exists():
        raise ModelNotFound(
            f"No model file at {path}.",
            "Run `enclave models provision` (or `--from PATH` on a machine without network).",
        )
    if not path.is_file():
        raise ModelFileInvalid(f"{path} is not a regular file.", "Choose a .gguf model file.")
    size = path.stat().st_size
    if size < MIN_MODEL_BYTES:
        raise ModelFileInvalid(
            f"{path.name} is only {size} bytes: too small to be a model.",
            "The file is damaged or incomplete; provision or import it again.",
        )
    if size > MAX_MODEL_BYTES:
        raise ModelFileInvalid(f"{path.name} is larger than {MAX_MODEL_BYTES} bytes.")
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ModelFileInvalid(
            f"Cannot read {path.name}: {exc.strerror}.", "Check the file's permissions."
        ) from None
    if head[:4] != b"GGUF":
        raise ModelFileInvalid(
            f"{path.name} is not a GGUF model file.",
            "Enclave runs quantized GGUF models; choose a .gguf file.",
        )
    (version,) = struct.unpack("<I", head[4:8])
    if version not in (2, 3):
        raise ModelFileInvalid(
            f"{path.name} is GGUF version {version}, which this Enclave cannot read.",
            "Use a GGUF v3 file (current llama.cpp conversions).",
        )


def _probe_command(path: Path) -> list[str]:
    # The child caps its own address space before it opens the file (see gguf_reader._main).
    # A preexec_fn would do the same but forces fork() with the GIL held: copying a GUI
    # process's page tables froze the window for ~70 ms on every model load.
    return app_command("__gguf-probe", "--max-memory", str(PROBE_MEMORY_BYTES), str(path))


def inspect_gguf(path: Path, *, timeout: float = PROBE_TIMEOUT_S) -> GGUFInfo:
    """Read a GGUF file's metadata in a limited child process.

    Raises:
        ModelNotFound: the file does not exist.
        ModelFileInvalid: malformed, truncated or hostile; or the probe hung or crashed.
    """
    quick_check(path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    try:
        proc = subprocess.run(
            _probe_command(path),
            capture_output=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ModelFileInvalid(
            f"Reading {path.name} took longer than {timeout:.0f} s and was stopped.",
            "The file is damaged or crafted; do not use it.",
        ) from None
    try:
        result = json.loads(proc.stdout.decode("utf-8", "replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ModelFileInvalid(
            f"Reading {path.name} failed (checker exit status {proc.returncode}).",
            "The file is damaged or crafted; do not use it.",
        ) from None
    if not result.get("ok"):
        raise ModelFileInvalid(
            f"{path.name} is not a usable GGUF model: {result.get('error')}.",
            "Provision or import the model again from a trusted copy.",
        )
    return GGUFInfo.from_probe(path, result["info"])
