"""Recovering a damaged history keeps what each answer was grounded on and which collections
each conversation answers from, along with the messages themselves. Real SQLCipher."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core import secrets
from app.core.paths import AppPaths, default_paths
from app.core.store import open_history
from app.core.store.database import PAGE_SIZE
from app.core.store.recover import recover_history

PASSPHRASE = "recovery keeps sources passphrase"
CONVERSATIONS = 30


@dataclass(frozen=True)
class Cited:
    n: int
    collection: str
    file: str
    page: int | None
    heading: str | None
    char_start: int
    char_end: int
    sha256: str | None
    text: str
    flagged: bool = False


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppPaths]:
    monkeypatch.setenv("ENCLAVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/enclave-test-bus")
    secrets.reset_backend_cache()
    yield default_paths().ensure()
    secrets.reset_backend_cache()


def _fill(paths: AppPaths) -> dict[int, int]:
    """Grounded conversations; returns answer id -> how many sources it cites."""
    cited: dict[int, int] = {}
    with open_history(paths, passphrase=PASSPHRASE) as store:
        for i in range(CONVERSATIONS):
            cid = store.create_conversation(f"conversation {i}")
            store.set_scope(cid, [f"team-{i}", "handbook"])
            q = store.add_message(cid, "user", f"question {i}: " + "lorem ipsum " * 40)
            a = store.add_message(cid, "assistant", f"answer {i} [1] [2]", parent_id=q)
            store.save_sources(a, [
                Cited(n, "handbook", f"/docs/file-{i}-{n}.md", n, None, 0, 10, f"{n:064x}",
                      f"passage {n} of answer {i}: " + "dolor sit amet " * 40)
                for n in (1, 2)])
            cited[a] = 2
            store.mark_sensitive(cid, "contains a classification marking", 1.0)
        store.add_api_token("notebook", "f" * 64, scopes=("chat",), route="local",
                            created=1.0, expires=None)
    return cited


@pytest.mark.parametrize("where", [0.6, 0.75, 0.97])
def test_recovery_brings_sources_and_collections_along(paths: AppPaths, where: float) -> None:
    cited = _fill(paths)
    db = paths.database_file
    data = bytearray(db.read_bytes())
    data[int(db.stat().st_size // PAGE_SIZE * where) * PAGE_SIZE + 1500] ^= 0x01
    db.write_bytes(bytes(data))
    recover_history(db, PASSPHRASE)
    with open_history(paths, passphrase=PASSPHRASE) as store:
        answers = [m for c in store.list_conversations(limit=1000)
                   for m in store.messages(c.id) if m.role == "assistant"]
        kept = store.sources_for(m.id for m in answers)
        # One flipped byte costs at most the rows of one page, not a table.
        assert sum(len(v) for v in kept.values()) >= sum(cited.values()) - 8
        assert all([s.n for s in v] == [1, 2] and v[0].collection == "handbook"
                   for v in kept.values())
        scopes = [store.scope(c.id) for c in store.list_conversations(limit=1000)]
        assert len([s for s in scopes if s]) >= CONVERSATIONS - 4
        assert all(s[0] == "handbook" and s[1].startswith("team-") for s in scopes if s)
        # Sensitivity marks and API tokens come along too (a lost mark would let a
        # sensitive conversation's context leave with the next question).
        marked = [c for c in store.list_conversations(limit=1000)
                  if store.sensitive_reason(c.id)]
        assert len(marked) >= CONVERSATIONS - 4
        assert [t.name for t in store.api_tokens()] in (["notebook"], [])
