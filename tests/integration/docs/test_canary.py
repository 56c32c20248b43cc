"""Document text lives only inside the encrypted database.

Unique canary strings are indexed, searched and asked about; then every byte of every file
under ENCLAVE_HOME is read. The canary must appear nowhere: not in logs, caches, temp files,
and not in the database, its -wal or -shm (which are encrypted).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from app.cli import main
from app.core.paths import AppPaths


@pytest.mark.model
def test_indexed_text_never_reaches_disk_in_plaintext(
    docs_paths: AppPaths, passphrase_file: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    canaries = [f"CANARY{uuid.uuid4().hex}" for _ in range(3)]
    docs = tmp_path / "outside-home"
    docs.mkdir()
    (docs / "a.txt").write_text(f"The vault code word is {canaries[0]}. Keep it safe.\n")
    (docs / "b.md").write_text(f"# Secrets\nThe backup phrase is {canaries[1]}.\n")
    (docs / "c.html").write_text(f"<p>Visible.</p><div style='display:none'>{canaries[2]}</div>")
    pw = ("--passphrase-file", str(passphrase_file))
    assert main(["docs", "add", str(docs), "--collection", "vault", *pw]) == 0
    assert main(["docs", "search", "vault code word", *pw]) == 0
    assert main(["docs", "ask", "What is the vault code word?", "--collection", "vault", *pw]) == 0
    out = capsys.readouterr().out
    assert canaries[0] in out  # the passage really went through search and the prompt

    home = docs_paths.data_dir.parent
    scanned = []
    for path in sorted(home.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            scanned.append(path.name)
            assert not data.startswith(b"SQLite format 3"), f"{path} is not encrypted"
            for canary in canaries:
                assert canary.encode() not in data, f"canary in {path}"
                assert canary.encode("utf-16-le") not in data, f"canary in {path}"
    assert "history.db" in scanned
