"""Put a portable llama-cpp-python wheel's CPU backends beside libllama, in place.

Built with ``-DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON``, the wheel installs the CPU
backend modules (``libggml-cpu-haswell.so``, ...) into ``site-packages/bin/`` and second copies
of every library into ``site-packages/lib/``: upstream's install rules, not llama-cpp-python's.
This moves the backends to ``llama_cpp/lib/`` (where the frozen bundle and a venv install look
for them), drops the stray top-level copies, and rewrites RECORD.

Usage: ``python installer/repack_llama_wheel.py WHEEL``
"""

from __future__ import annotations

import base64
import hashlib
import sys
import zipfile
from pathlib import Path, PurePosixPath


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def repack(wheel: Path) -> list[str]:
    """Rewrite ``wheel``; return the backend modules moved into ``llama_cpp/lib``."""
    moved: list[str] = []
    out = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        record_name = next(n for n in src.namelist() if n.endswith(".dist-info/RECORD"))
        records: list[str] = []
        for info in src.infolist():
            name = PurePosixPath(info.filename)
            if info.filename == record_name:
                continue
            top = name.parts[0]
            if top == "bin" and name.name.startswith("libggml-cpu-"):
                target = f"llama_cpp/lib/{name.name}"
                moved.append(name.name)
            elif top in ("bin", "lib", "include"):
                continue  # duplicates of llama_cpp/lib, tools and headers the app never uses
            else:
                target = info.filename
            data = src.read(info)
            new = zipfile.ZipInfo(target, date_time=info.date_time)
            new.external_attr = info.external_attr
            new.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(new, data)
            records.append(f"{target},{_record_hash(data)},{len(data)}")
        records.append(f"{record_name},,")
        dst.writestr(record_name, "\n".join(records) + "\n")
    out.replace(wheel)
    return sorted(moved)


def main(argv: list[str]) -> int:
    """Repack each wheel named on the command line."""
    for arg in argv:
        moved = repack(Path(arg))
        print(f"repack_llama_wheel: {Path(arg).name}: {len(moved)} CPU backends -> llama_cpp/lib")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
