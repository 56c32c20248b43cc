"""No conversation text reaches the disk in plaintext: database, WAL, SHM, key file, anything."""

from __future__ import annotations

from pathlib import Path

from app.core.paths import AppPaths
from app.core.store import open_history

CANARIES = ["CANARY-7f3a9-title", "CANARY-7f3a9-user", "CANARY-7f3a9-answer", "CANARY-7f3a9-del"]


def _files_containing(root: Path, needles: list[bytes]) -> list[str]:
    found = []
    for p in root.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            found += [f"{p.name}: {n!r}" for n in needles if n in data]
    return found


def test_no_canary_in_any_file_while_open_or_after_close(
    paths: AppPaths, no_keyring: None, passphrase: str
) -> None:
    root = paths.data_dir.parent
    needles = [c.encode() for c in CANARIES] + [c.encode("utf-16-le") for c in CANARIES]
    with open_history(paths, passphrase=passphrase) as s:
        cid = s.create_conversation(CANARIES[0])
        s.add_message(cid, "user", f"please remember {CANARIES[1]} " * 50)
        mid = s.add_message(cid, "assistant", "", complete=False)
        s.update_message(mid, text=f"the answer {CANARIES[2]}", complete=True)
        gone = s.create_conversation("to delete")
        s.add_message(gone, "user", CANARIES[3])
        s.delete_conversation(gone)
        assert s.search(CANARIES[1])
        # While open the WAL holds the recent pages: it must be encrypted too.
        assert list(paths.data_dir.glob("*-wal"))
        assert _files_containing(root, needles) == []
    assert _files_containing(root, needles) == []
