from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from app.core.docs.errors import FileRejected
from app.core.docs.source import discover, read_file


def test_a_huge_file_is_refused_by_size_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "huge.txt"
    # Sparse: a 1 GB size that costs no disk.
    subprocess.run(["truncate", "-s", "1G", str(big)], check=True)
    with pytest.raises(FileRejected, match="too large"):
        read_file(big)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    with pytest.raises(FileRejected, match="not a regular file"):
        read_file(fifo)


def test_a_broken_link_and_a_folder_are_refused(tmp_path: Path) -> None:
    link = tmp_path / "gone.md"
    link.symlink_to(tmp_path / "nowhere.md")
    folder = tmp_path / "x.txt"
    folder.mkdir()
    with pytest.raises(FileRejected, match="broken link"):
        read_file(link)
    with pytest.raises(FileRejected, match="folder"):
        read_file(folder)


def test_discover_walks_folders_for_supported_files_only(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.pdf").write_bytes(b"x")
    (tmp_path / "sub" / "c.exe").write_bytes(b"x")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "d.txt").write_text("x")
    (tmp_path / "folder.txt").mkdir()
    found = {c.path.relative_to(tmp_path).as_posix(): c.explicit for c in discover([tmp_path])}
    assert found == {"a.md": False, "sub/b.pdf": False, "folder.txt": False}
