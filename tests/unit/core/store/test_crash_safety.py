"""A writer killed at random moments never loses an acknowledged write nor corrupts the db."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from app.core.paths import AppPaths
from app.core.store import open_history

_WRITER = textwrap.dedent(
    """
    import sys
    from app.core.paths import default_paths
    from app.core.store import open_history

    store = open_history(default_paths(), passphrase=sys.stdin.readline().rstrip("\\n"))
    cid = store.create_conversation("crash")
    print("c", cid, flush=True)
    i = 0
    while True:
        mid = store.add_message(cid, "assistant", "", complete=False)
        print("m", mid, flush=True)
        for step in range(3):
            store.update_message(mid, text=f"partial {i} " * (step + 1), complete=False)
        print("u", mid, step, flush=True)
        i += 1
    """
)

KILLS = 20


def _collect(stream: Any, into: list[str]) -> None:
    into.extend(stream)


@pytest.mark.slow
def test_sigkill_never_loses_acknowledged_writes(
    paths: AppPaths, no_keyring: None, passphrase: str, raw_connect: Callable[[], Any]
) -> None:
    rng = random.Random(1234)
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/enclave-test-bus"}
    acked_messages: set[int] = set()
    acked_conversations: set[int] = set()
    fully_updated: dict[int, int] = {}
    for _ in range(KILLS):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(passphrase + "\n")
        proc.stdin.flush()
        lines: list[str] = []
        reader = threading.Thread(target=_collect, args=(proc.stdout, lines), daemon=True)
        reader.start()
        # Kill once it is writing (after it acknowledged its conversation), at a random moment.
        deadline = time.monotonic() + 30
        while not lines and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        reader.join(timeout=30)
        proc.stdout.close()
        proc.stdin.close()
        assert lines, "the writer never started"
        for line in lines:
            if not line.endswith("\n"):
                continue  # cut off by the kill: not a complete acknowledgement
            kind, ident, *rest = line.split()
            if kind == "c":
                acked_conversations.add(int(ident))
            elif kind == "m":
                acked_messages.add(int(ident))
            else:
                fully_updated[int(ident)] = int(rest[0])

        conn = raw_connect()
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
        finally:
            conn.close()
        with open_history(paths, passphrase=passphrase) as s:
            conversation_ids = {c.id for c in s.list_conversations(limit=1000)}
            stored = {m.id: m for cid in conversation_ids for m in s.messages(cid)}
        assert acked_conversations <= conversation_ids
        assert acked_messages <= set(stored)
        for mid, step in fully_updated.items():
            assert stored[mid].text.count("partial") == step + 1
            assert not stored[mid].complete
    assert len(acked_messages) > KILLS
