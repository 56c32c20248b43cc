"""A bounded GGUF metadata reader.

Meant to run in a child process (see ``inspect.py``) with a time and memory limit: the file is
hostile until proven otherwise. Every length read from the file is checked against the bytes
that remain before anything is allocated, so a crafted count (2^62 elements, 2^60 tensors)
fails fast instead of hanging or exhausting memory, and truncation shows up as tensor data that
runs past the end of the file.

Runs as ``python -m app __gguf-probe PATH`` and prints one JSON object.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
MAX_TENSORS = 100_000
MAX_KV = 100_000
MAX_STRING = 4 * 1024 * 1024  # a chat template is a few KB; 4 MB is generous
MAX_ARRAY = 10_000_000  # vocabularies run to a few hundred thousand entries
MAX_DIMS = 8
KEEP_STRING = 65_536  # longer values are summarised, not returned

# ggml type -> (block size in elements, bytes per block).
GGML_TYPE_SIZES: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    9: (32, 36), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210),
    15: (256, 292), 16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18),
    21: (256, 110), 22: (256, 82), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4),
    27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66),
    39: (32, 17),
}

# llama_ftype -> the quantisation name users know.
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    38: "MXFP4_MOE",
}

# GGUF value types: 0..12
_SCALARS: dict[int, tuple[str, int]] = {
    0: ("<B", 1), 1: ("<b", 1), 2: ("<H", 2), 3: ("<h", 2), 4: ("<I", 4), 5: ("<i", 4),
    6: ("<f", 4), 7: ("<?", 1), 10: ("<Q", 8), 11: ("<q", 8), 12: ("<d", 8),
}
_STRING = 8
_ARRAY = 9


class GGUFFormatError(ValueError):
    """The file is not a well-formed GGUF file; the message says where and why."""


class _Reader:
    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh = fh
        self.size = size
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.size:
            raise GGUFFormatError(
                f"{what} needs {n} bytes at offset {self.pos}, but the file ends at {self.size}"
            )
        data = self.fh.read(n)
        if len(data) != n:
            raise GGUFFormatError(f"file ended while reading {what}")
        self.pos += n
        return data

    def skip(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise GGUFFormatError(
                f"{what} needs {n} bytes at offset {self.pos}, but the file ends at {self.size}"
            )
        self.fh.seek(n, os.SEEK_CUR)
        self.pos += n

    def u32(self, what: str) -> int:
        return int(struct.unpack("<I", self.take(4, what))[0])

    def u64(self, what: str) -> int:
        return int(struct.unpack("<Q", self.take(8, what))[0])

    def string(self, what: str, keep: bool = True) -> str:
        n = self.u64(f"length of {what}")
        if n > MAX_STRING:
            raise GGUFFormatError(f"{what} claims {n} bytes (limit {MAX_STRING})")
        if not keep:
            self.skip(n, what)
            return ""
        return self.take(n, what).decode("utf-8", errors="replace")


def _read_value(r: _Reader, vtype: int, key: str, keep: bool) -> Any:
    if vtype in _SCALARS:
        fmt, n = _SCALARS[vtype]
        return struct.unpack(fmt, r.take(n, f"value of {key}"))[0]
    if vtype == _STRING:
        return r.string(f"value of {key}", keep=keep)
    if vtype == _ARRAY:
        etype = r.u32(f"element type of {key}")
        count = r.u64(f"element count of {key}")
        if count > MAX_ARRAY:
            raise GGUFFormatError(f"{key} claims {count} elements (limit {MAX_ARRAY})")
        if etype in _SCALARS:
            width = _SCALARS[etype][1]
            if count * width > r.size - r.pos:
                raise GGUFFormatError(f"{key} claims {count} elements, more than the file holds")
            r.skip(count * width, key)
            return {"array_of": etype, "count": count}
        if etype == _STRING:
            # Each string needs at least its 8-byte length: bound the count before looping.
            if count * 8 > r.size - r.pos:
                raise GGUFFormatError(f"{key} claims {count} strings, more than the file holds")
            for _ in range(count):
                r.string(f"element of {key}", keep=False)
            return {"array_of": etype, "count": count}
        raise GGUFFormatError(f"{key} is an array of unsupported type {etype}")
    raise GGUFFormatError(f"{key} has unknown value type {vtype}")


def _tensor_bytes(ggml_type: int, dims: list[int]) -> int | None:
    spec = GGML_TYPE_SIZES.get(ggml_type)
    if spec is None:
        return None
    block, type_size = spec
    elements = 1
    for d in dims:
        elements *= d
    return (elements // block) * type_size


# Long on purpose: the file is read front to back once; each check guards the next read.
def read_gguf(path: str) -> dict[str, Any]:
    """Read and check a GGUF file's header, metadata and tensor table.

    Args:
        path: the file to read.

    Returns:
        A JSON-ready summary: version, counts, selected metadata, parameter count, the byte
        range the tensor data needs, and the quantisation name.

    Raises:
        GGUFFormatError: on anything malformed, truncated or out of bounds.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        r = _Reader(fh, size)
        if r.take(4, "magic") != GGUF_MAGIC:
            raise GGUFFormatError("not a GGUF file (the first four bytes are not 'GGUF')")
        version = r.u32("version")
        if version not in SUPPORTED_VERSIONS:
            raise GGUFFormatError(f"GGUF version {version} is not supported (2 or 3 are)")
        n_tensors = r.u64("tensor count")
        n_kv = r.u64("metadata count")
        if n_tensors > MAX_TENSORS:
            raise GGUFFormatError(f"header claims {n_tensors} tensors (limit {MAX_TENSORS})")
        if n_kv > MAX_KV:
            raise GGUFFormatError(f"header claims {n_kv} metadata entries (limit {MAX_KV})")
        meta: dict[str, Any] = {}
        for i in range(n_kv):
            key = r.string(f"key #{i}")
            vtype = r.u32(f"type of {key}")
            value = _read_value(r, vtype, key, keep=True)
            if isinstance(value, str) and len(value) > KEEP_STRING:
                value = value[:KEEP_STRING]
            meta[key] = value
        params = 0
        data_needed = 0
        for i in range(n_tensors):
            name = r.string(f"tensor #{i} name")
            n_dims = r.u32(f"dimensions of {name}")
            if n_dims == 0 or n_dims > MAX_DIMS:
                raise GGUFFormatError(f"tensor {name} has {n_dims} dimensions")
            dims = [r.u64(f"dimension of {name}") for _ in range(n_dims)]
            if any(d == 0 or d > 2**40 for d in dims):
                raise GGUFFormatError(f"tensor {name} has an impossible shape {dims}")
            ggml_type = r.u32(f"type of {name}")
            offset = r.u64(f"offset of {name}")
            count = 1
            for d in dims:
                count *= d
            params += count
            nbytes = _tensor_bytes(ggml_type, dims)
            end = offset + (nbytes or 1)
            data_needed = max(data_needed, end)
        alignment = meta.get("general.alignment", 32)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise GGUFFormatError(f"general.alignment {alignment!r} is not a power of two")
        data_start = (r.pos + alignment - 1) // alignment * alignment
        if data_start + data_needed > size:
            raise GGUFFormatError(
                f"the tensor data needs {data_start + data_needed} bytes but the file has "
                f"{size}: the file is truncated"
            )
    return _summary(version, n_tensors, n_kv, meta, params, size)


def _summary(
    version: int, n_tensors: int, n_kv: int, meta: dict[str, Any], params: int, size: int
) -> dict[str, Any]:
    arch = meta.get("general.architecture")
    arch = arch if isinstance(arch, str) else ""
    ftype = meta.get("general.file_type")
    template = meta.get("tokenizer.chat_template")

    def text(key: str) -> str | None:
        value = meta.get(key)
        return value if isinstance(value, str) else None

    def number(key: str) -> int | None:
        value = meta.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return {
        "version": version,
        "tensor_count": n_tensors,
        "metadata_count": n_kv,
        "file_size": size,
        "architecture": arch,
        "name": text("general.name"),
        "author": text("general.author"),
        "license": text("general.license"),
        "size_label": text("general.size_label"),
        "parameter_count": params,
        "quantization": FILE_TYPES.get(ftype, f"type {ftype}") if isinstance(ftype, int) else None,
        "context_length": number(f"{arch}.context_length"),
        "block_count": number(f"{arch}.block_count"),
        "embedding_length": number(f"{arch}.embedding_length"),
        # What a memory estimate needs (the KV cache): heads, and per-head key/value widths.
        "head_count": number(f"{arch}.attention.head_count"),
        "head_count_kv": number(f"{arch}.attention.head_count_kv"),
        "key_length": number(f"{arch}.attention.key_length"),
        "value_length": number(f"{arch}.attention.value_length"),
        "vocab_size": _vocab_size(meta, arch),
        # What groups versions of one model into a family.
        "basename": text("general.basename"),
        "finetune": text("general.finetune"),
        "organization": text("general.organization"),
        "chat_template": template if isinstance(template, str) else None,
    }


def _vocab_size(meta: dict[str, Any], arch: str) -> int | None:
    value = meta.get(f"{arch}.vocab_size")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    tokens = meta.get("tokenizer.ggml.tokens")
    if isinstance(tokens, dict) and isinstance(tokens.get("count"), int):
        return int(tokens["count"])
    return None


def _limit_memory(max_bytes: int) -> None:
    """Cap this process's address space, so a crafted file cannot exhaust the machine."""
    try:
        import resource
    except ImportError:  # Windows: the parent's timeout still applies
        return
    resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))


def _main(argv: list[str], out: Callable[[str], object] = print) -> int:
    if len(argv) >= 2 and argv[0] == "--max-memory":
        _limit_memory(int(argv[1]))
        argv = argv[2:]
    try:
        result: dict[str, Any] = {"ok": True, "info": read_gguf(argv[0])}
    except GGUFFormatError as exc:
        result = {"ok": False, "error": str(exc)}
    except OSError as exc:
        result = {"ok": False, "error": f"cannot read the file: {exc.strerror or exc}"}
    out(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
