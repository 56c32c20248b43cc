"""`enclave history show` tells the truth about a conversation: which version of an answer
is on screen (‹ i/n ›) and how to see the other, what each answer cited, whether a cited
document changed or went away since, and which collections the conversation answers from.

The real program as a subprocess (the chat and embedding models, the encrypted history);
the second version of the answer is made in process with the same home, as the window's
Regenerate button does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.core.docs.embed import EmbeddingFiles
from tests.e2e.conftest import Runner
from tests.unit.core.docs._fixtures import write_corpus

pytestmark = pytest.mark.model

PASSPHRASE = "history show e2e passphrase"


@pytest.fixture
def site(tmp_path: Path, default_model_file: Path, embedding_files: EmbeddingFiles) -> Path:
    d = tmp_path / "site-with-embeddings"
    d.mkdir()
    for f in (default_model_file, embedding_files.model, embedding_files.tokenizer):
        (d / f.name).symlink_to(f)
    return d


def test_history_show_marks_versions_sources_and_changed_documents(
    enclave: Runner, tmp_path: Path, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pf = tmp_path / "pass.txt"
    pf.write_text(PASSPHRASE + "\n")
    pw = ("--passphrase-file", str(pf))
    files = write_corpus(tmp_path / "docs")
    r = enclave("docs", "add", str(tmp_path / "docs"), "--collection", "ops", *pw, models=site)
    assert r.returncode == 0, r.stderr
    r = enclave("ask", "When is the emergency generator tested?", "--collection", "ops",
                "--max-tokens", "8", "--seed", "1", "--json", *pw, models=site)
    assert r.returncode == 0, r.stderr
    asked = json.loads(r.stdout)
    cid = asked["conversation_id"]
    assert asked["collections"] == ["ops"]

    # Answer it again (a second version), in process with the same home.
    monkeypatch.setenv("ENCLAVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ENCLAVE_SITE_MODELS_DIR", str(site))
    from app.core.context import open_app
    from app.core.engines.base import GenerationParams

    app = open_app(passphrase=PASSPHRASE)
    try:
        app.chat.params = GenerationParams(max_tokens=8, seed=2)
        assert app.history is not None
        first_answer, user = (m for m in reversed(app.history.messages(cid)))
        assert first_answer.role == "assistant" and user.role == "user"
        again = app.chat.regenerate(cid, user.id)
        assert again.sources, "answered again from the conversation's collections"
    finally:
        app.close()

    r = enclave("history", "show", str(cid), *pw, models=site)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Collections: ops" in out
    assert re.search(rf"^## assistant \(.+\) · #{again.assistant_message_id} · ‹ 2/2 ›$",
                     out, re.MULTILINE)
    assert f"(other versions: #{first_answer.id}; show one with --through ID)" in out
    assert "[1] facilities.pdf p.2 (ops)\n" in out
    assert "changed since" not in out and "no longer" not in out

    r = enclave("history", "show", str(cid), "--through", str(first_answer.id), *pw,
                models=site)
    assert r.returncode == 0, r.stderr
    assert re.search(rf"^## assistant \(.+\) · #{first_answer.id} · ‹ 1/2 ›$", r.stdout,
                     re.MULTILINE)
    assert f"(other versions: #{again.assistant_message_id};" in r.stdout

    # The cited document changes: every answer citing it says so.
    files["pdf"].write_bytes(files["pdf"].read_bytes().replace(b"06:00", b"07:30"))
    r = enclave("docs", "add", str(files["pdf"]), "--collection", "ops", *pw, models=site)
    assert r.returncode == 0, r.stderr
    r = enclave("history", "show", str(cid), "--json", *pw, models=site)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["collections"] == ["ops"]
    answer = shown["messages"][-1]
    assert answer["id"] == again.assistant_message_id
    assert answer["versions"] == {"index": 2, "count": 2,
                                  "ids": [first_answer.id, again.assistant_message_id]}
    pdf = [s for s in answer["sources"] if s["file"] == str(files["pdf"])]
    assert pdf and {s["status"] for s in pdf} == {"changed"}
    assert {s["status"] for s in answer["sources"] if s not in pdf} <= {"current"}

    r = enclave("docs", "remove", str(files["pdf"]), *pw, models=site)
    assert r.returncode == 0, r.stderr
    r = enclave("history", "show", str(cid), *pw, models=site)
    assert "[1] facilities.pdf p.2 (ops) — the document is no longer in this collection" \
        in r.stdout

    r = enclave("history", "show", str(cid), "--through", "999999", *pw, models=site)
    assert r.returncode != 0 and "Message 999999 is not in conversation" in r.stderr
