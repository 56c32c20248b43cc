"""What a tester typed that nobody listed: every input gets a sentence, never a traceback or
"an unexpected error" (exit 70)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Runner

HUGE = "1180591620717411303424"  # 2**70: beyond SQLite's 64-bit integers


def _assert_handled(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode not in (0, 70), result
    assert "Traceback" not in result.stderr
    assert "unexpected error" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("history", "show", "100000000000000000000"),
        ("history", "show", "-1"),
        ("history", "list", "--limit", "-5"),
        ("history", "list", "--limit", "100000000000000000000"),
        ("history", "list", "--offset", HUGE),
        ("history", "delete", HUGE),
        ("history", "export", HUGE),
        ("history", "rename", HUGE, "title"),
        ("history", "search", "x", "--limit", "-1"),
        ("ask", "--conversation", HUGE, "hi"),
        ("ask", "--max-tokens", "-5", "hi"),
        ("ask", "--max-tokens", "0", "hi"),
        ("ask", "--max-tokens", HUGE, "hi"),
        ("ask", "--temperature", "nan", "hi"),
        ("ask", "--temperature", "-1", "hi"),
        ("ask", "--temperature", "inf", "hi"),
        ("ask", "--top-p", "2", "hi"),
        ("ask", "--top-p", "nan", "hi"),
        ("ask", "--seed", HUGE, "hi"),
        ("chat", "--conversation", HUGE),
        ("chat", "--top-k", "-3"),
        ("settings", "set", "engine.context_length", "99999999999"),
        ("settings", "set", "generation.temperature", "NaN"),
        ("audit", "tail", "-n", "-4"),
        ("docs", "search", "x", "--limit", HUGE),
    ],
)
def test_out_of_range_values_get_a_sentence_on_every_command(
    enclave: Runner, args: tuple[str, ...]
) -> None:
    result = enclave(*args, timeout=60)
    _assert_handled(result)
    assert "range" in result.stderr or "valid value" in result.stderr or "not a" in result.stderr


@pytest.mark.model
def test_invalid_utf8_in_a_question_is_answered_and_stored_repaired(enclave: Runner) -> None:
    question = b"caf\xc3\xa9 \xff\xfe says hi".decode("utf-8", "surrogateescape")
    result = enclave("ask", "--max-tokens", "4", question)
    assert result.returncode == 0, result.stderr
    listing = enclave("history", "list")
    assert "café \ufffd\ufffd says hi" in listing.stdout


@pytest.mark.model
def test_invalid_utf8_typed_into_chat_does_not_end_it(
    tmp_path: Path, site_models_dir: Path
) -> None:
    env = dict(os.environ, ENCLAVE_HOME=str(tmp_path / "home"),
               ENCLAVE_SITE_MODELS_DIR=str(site_models_dir))
    result = subprocess.run(
        [sys.executable, "-m", "app", "chat", "--max-tokens", "4"],
        input=b"bad \xff\xfe bytes\nstill here\n/quit\n", capture_output=True, env=env,
        timeout=180, check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout.count("enclave ›".encode()) == 2  # both lines were answered


@pytest.mark.keyring
def _damage_a_message_page(paths: Any, db: Path, page_size: int) -> bytes:
    """Flip a byte on the page nearest the middle whose damage a message read notices.

    Which page holds messages depends on the schema's tables; the test needs one that does.
    """
    from app.core.store import DatabaseDamaged, open_history

    original = db.read_bytes()
    pages = len(original) // page_size
    for page in sorted(range(2, pages), key=lambda p: abs(p - pages // 2)):
        data = bytearray(original)
        data[page * page_size + 700] ^= 0x10
        db.write_bytes(bytes(data))
        try:
            with open_history(paths) as store:
                for c in store.list_conversations(limit=100):
                    store.messages(c.id)
        except DatabaseDamaged:
            return bytes(data)
    raise AssertionError("no page of the test database holds messages")


def test_a_flipped_byte_in_the_history_is_named_found_and_recovered(
    enclave: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core.paths import default_paths
    from app.core.store import open_history
    from app.core.store.database import PAGE_SIZE

    monkeypatch.setenv("ENCLAVE_HOME", str(tmp_path / "home"))
    paths = default_paths().ensure()
    with open_history(paths) as store:  # keyring mode, as a user's history is
        for i in range(30):
            cid = store.create_conversation(f"conversation {i}")
            for j in range(8):
                store.add_message(cid, "user", f"note {j}: " + "lorem ipsum " * 50)
    db = paths.database_file
    data = _damage_a_message_page(paths, db, PAGE_SIZE)

    shown = [enclave("history", "show", str(i), timeout=60) for i in range(1, 31)]
    failed = [r for r in shown if r.returncode != 0]
    assert failed, "some conversation sits on the damaged page"
    for result in failed:
        _assert_handled(result)
        assert "is damaged" in result.stderr and "enclave store recover" in result.stderr
    status = enclave("store", "status")
    _assert_handled(status)
    assert "damaged" in status.stdout
    doctor = enclave("doctor")
    assert doctor.returncode != 0 and "✗ history" in doctor.stdout

    recovered = enclave("store", "recover")
    assert recovered.returncode == 0, recovered.stderr
    assert "Recovered 30 conversations" in recovered.stdout
    kept = [p for p in db.parent.iterdir() if ".damaged-" in p.name]
    assert len(kept) == 1 and kept[0].read_bytes() == bytes(data)
    assert enclave("store", "status").returncode == 0
    assert all(enclave("history", "show", str(i)).returncode == 0 for i in (1, 15, 30))
