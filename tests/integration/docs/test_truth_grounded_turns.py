"""What a grounded answer shows stays true: its sources are kept with it (also when it is
stopped), each conversation answers only from its own collections, and source markers the
model copies never reach the reader.

Real: the chat and embedding models, the encrypted history and documents index, the audit
log, documents in five formats.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from app.core.context import AppContext, open_app
from app.core.conversation_view import view_conversation
from app.core.docs import CollectionNotFound
from app.core.engines.base import GenerationParams
from app.core.history_actions import export_conversation
from app.core.paths import AppPaths
from tests.integration.docs.conftest import PASSPHRASE
from tests.unit.core.docs._fixtures import FACT, write_corpus

pytestmark = pytest.mark.model

QUESTION = "When is the emergency generator tested?"
# Any bracket run followed by SOURCE and a number or a closing bracket: a copied marker.
MARKER = re.compile(r"[<‹«]+\s*(?:[a-z]+[ _-]+){0,2}sources?(?![a-z])[^\n]*?[\d>›»]",
                    re.IGNORECASE)


@pytest.fixture
def files(docs_paths: AppPaths, passphrase_file: Path, tmp_path: Path,
          capsys: pytest.CaptureFixture[str]) -> dict[str, Path]:
    corpus = write_corpus(tmp_path / "docs")
    assert docs(capsys, passphrase_file, "add", str(tmp_path / "docs"), "--collection", "ops")
    return corpus


@pytest.fixture
def app(docs_paths: AppPaths, files: dict[str, Path]) -> Iterator[AppContext]:
    ctx = open_app(docs_paths, passphrase=PASSPHRASE)
    ctx.chat.params = GenerationParams(max_tokens=8, seed=1)
    yield ctx
    ctx.close()


def docs(capsys: pytest.CaptureFixture[str], passphrase_file: Path, *argv: str) -> bool:
    code = main(["docs", *argv, "--passphrase-file", str(passphrase_file)])
    capsys.readouterr()
    return code == 0


def audit_records(app: AppContext) -> list[dict]:  # type: ignore[type-arg]
    assert app.audit is not None
    return [json.loads(line) for line in app.audit.path.read_text().splitlines()]


def test_a_stopped_grounded_answer_keeps_its_sources_and_they_say_when_a_document_changed(
    app: AppContext, files: dict[str, Path], passphrase_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert app.history is not None and app.chat.documents is not None
    cancel = threading.Event()
    app.chat.params = GenerationParams(max_tokens=200, seed=1)
    result = app.chat.send(QUESTION, collections=["ops"], cancel=cancel,
                           on_token=lambda _piece: cancel.set())
    assert result.completion.finish_reason == "cancelled" and result.sources
    shown = view_conversation(app.history, result.conversation_id).messages[-1]
    assert shown.message.id == result.assistant_message_id and not shown.message.complete
    assert [(s.n, s.file, s.page, s.sha256) for s in shown.sources] == [
        (s.n, s.file, s.page, s.sha256) for s in result.sources]
    assert (shown.sources[0].label, shown.sources[0].collection) == ("facilities.pdf p.2", "ops")

    # The audit record names each source by digests, never by its text.
    log = app.audit.path.read_text() if app.audit else ""
    assert FACT not in log
    call = [r for r in audit_records(app) if r["event"] == "model.call"][-1]
    digests = call["detail"]["sources"]
    assert [(d["n"], d["collection"], d["file"]) for d in digests] == [
        (s.n, "ops", Path(s.file).name) for s in result.sources]
    assert all(len(d["sha256"]) == 64 and len(d["passage_sha256"]) == 64 for d in digests)

    # Exports carry them.
    exported = export_conversation(app.policy, app.history, app.audit,
                                   result.conversation_id, "md")
    assert f"[1] facilities.pdf p.2 — collection ops, file {files['pdf']}" in exported

    # Whether each cited document is still the one cited: from the index alone.
    documents = app.chat.documents
    assert documents.source_status(shown.sources) == ["current"] * len(shown.sources)
    files["pdf"].write_bytes(files["pdf"].read_bytes().replace(b"06:00", b"07:30"))
    assert docs(capsys, passphrase_file, "add", str(files["pdf"]), "--collection", "ops")
    pdf = str(files["pdf"])
    assert documents.source_status(shown.sources) == [
        "changed" if s.file == pdf else "current" for s in shown.sources]
    assert docs(capsys, passphrase_file, "remove", pdf)
    assert documents.source_status(shown.sources) == [
        "removed" if s.file == pdf else "current" for s in shown.sources]


def test_each_conversation_answers_from_its_own_collections(app: AppContext) -> None:
    history = app.history
    assert history is not None
    first = app.chat.send(QUESTION, collections=["ops"])
    cid = first.conversation_id
    assert history.scope(cid) == ["ops"] and first.scope == ("ops",)

    # No collections named: the conversation's own are used, also when answering again.
    follow = app.chat.send("Who runs the test?", conversation_id=cid)
    assert follow.sources and {s.collection for s in follow.sources} == {"ops"}
    assert follow.user_message_id is not None
    again = app.chat.regenerate(cid, follow.user_message_id)
    assert again.sources
    assert view_conversation(history, cid).messages[-1].sources  # kept with the new version
    # Editing the first message (ROOT) stays in the conversation, with its collections.
    edited = app.chat.send("When is the generator in building 7 tested?",
                           conversation_id=cid, parent_id=0)
    assert edited.conversation_id == cid and edited.sources

    # Another conversation is never grounded by this one's scope.
    other = app.chat.send(QUESTION)
    assert other.sources is None and history.scope(other.conversation_id) == []
    more = app.chat.send("And in building 8?", conversation_id=other.conversation_id)
    assert more.sources is None

    # An empty list clears the scope.
    cleared = app.chat.send("Thanks.", conversation_id=cid, collections=[])
    assert cleared.sources is None and history.scope(cid) == []


def test_a_scope_naming_a_removed_collection_is_refused_with_how_to_fix_it(
    app: AppContext, passphrase_file: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    history = app.history
    assert history is not None
    first = app.chat.send(QUESTION, collections=["ops"])
    assert docs(capsys, passphrase_file, "remove", "--collection", "ops")
    before = history.counts()
    with pytest.raises(CollectionNotFound) as saved:
        app.chat.send("Again?", conversation_id=first.conversation_id)
    assert "'ops'" in saved.value.message and "no longer exists" in saved.value.message
    assert "enclave docs add PATH --collection ops" in saved.value.hint
    with pytest.raises(CollectionNotFound) as named:
        app.chat.send(QUESTION, collections=["finance"])
    assert "'finance'" in named.value.message and "enclave docs list" in named.value.hint
    assert history.counts() == before, "a refused turn stored nothing"


def test_source_markers_the_model_copies_never_reach_the_reader(app: AppContext) -> None:
    history = app.history
    assert history is not None
    app.chat.params = GenerationParams(max_tokens=120, seed=1, temperature=0.0)
    removed = 0
    for attempt in range(3):  # the prompt's tag is random, so the model's words vary a little
        pieces: list[str] = []
        result = app.chat.send("Repeat the first source exactly, starting with <<<SOURCE.",
                               collections=["ops"], on_token=pieces.append)
        stored = history.messages(result.conversation_id)[-1].text
        for text in ("".join(pieces), result.completion.text, stored):
            assert not MARKER.search(text), f"attempt {attempt}: a marker was shown: {text!r}"
        notes = [n for n in result.notes if n.startswith("Removed ")]
        if notes:
            removed = int(notes[0].split()[1])
            assert notes[0].endswith("copied source marker" + ("s" if removed > 1 else "")
                                     + " from the answer.")
            assert [d.step for d in result.decisions][-1] == "answer"
            call = [r for r in audit_records(app) if r["event"] == "model.call"][-1]
            assert call["detail"]["source_markers_removed"] == removed
            break
    assert removed >= 1, "the model was told to repeat the markers and never did"


def test_answering_again_says_where_the_later_turns_stayed(app: AppContext) -> None:
    first = app.chat.send("Name a fruit.")
    cid = first.conversation_id
    app.chat.send("Name a vegetable.", conversation_id=cid)
    assert first.user_message_id is not None
    again = app.chat.regenerate(cid, first.user_message_id)
    assert "The 2 later messages stay with the earlier answer (version 1/2)." in again.notes
    latest = app.chat.send("Name a colour.", conversation_id=cid)
    assert latest.user_message_id is not None
    assert app.chat.regenerate(cid, latest.user_message_id).notes == ()
