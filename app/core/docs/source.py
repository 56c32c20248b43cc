"""Finding the files to index and reading them safely.

A path can be anything: a FIFO (opening it would block for ever), a directory with a text
extension, a dangling link, a device, a 1 GB log. Each is turned into a ``FileRejected`` with
a reason, never a hang or a crash, and the rest of the batch goes on.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from app.core.docs.errors import FileRejected
from app.core.docs.formats import supported

MAX_FILE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class Candidate:
    """A path to index; ``explicit`` when the user named it rather than a folder holding it."""

    path: Path
    explicit: bool
    root: Path | None = None


@dataclass(frozen=True)
class FileBytes:
    """A file's content and identity."""

    data: bytes
    sha256: str
    size: int
    mtime: float


def discover(paths: Iterable[Path]) -> list[Candidate]:
    """Files named directly, and supported files found under folders (links not followed).

    Hidden files and folders (names starting with '.') inside a folder are left out.
    """
    out: list[Candidate] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(os.path.abspath(given))
        if path.is_dir() and not path.is_symlink() and not supported(path):
            for found in _walk(path):
                if found not in seen:
                    seen.add(found)
                    out.append(Candidate(found, explicit=False, root=path))
        elif path not in seen:
            seen.add(path)
            out.append(Candidate(path, explicit=True))
    return out


def _walk(root: Path) -> list[Path]:
    found: list[Path] = []
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            # A folder named like a document (x.txt/) is reported, not entered.
            if entry.is_dir(follow_symlinks=False) and not supported(path):
                stack.append(path)
            elif supported(path):
                found.append(path)
    return sorted(found)


def read_file(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> FileBytes:
    """Read a regular file whole, within the size cap.

    Raises:
        FileRejected: not a regular file, missing, unreadable, or larger than the cap.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer that never comes.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        kind = "broken link" if path.is_symlink() else "file not found"
        raise FileRejected(f"unreadable ({kind})") from None
    except IsADirectoryError:
        raise FileRejected("unreadable (a folder, not a file)") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise FileRejected("unreadable (not a regular file)") from None
        raise FileRejected(f"unreadable ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise FileRejected("unreadable (a folder, not a file)")
        if not stat.S_ISREG(st.st_mode):
            raise FileRejected("unreadable (not a regular file: a pipe, socket or device)")
        if st.st_size > max_bytes:
            raise FileRejected(
                f"too large ({st.st_size / 1e6:.0f} MB; the limit is {max_bytes / 1e6:.0f} MB)"
            )
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise FileRejected(f"unreadable ({exc.strerror or exc})") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > max_bytes:  # it grew while we read it
        raise FileRejected(f"too large (over {max_bytes / 1e6:.0f} MB)")
    return FileBytes(data, hashlib.sha256(data).hexdigest(), len(data), st.st_mtime)
