"""Export and delete: policy decides, the audit log records, the same for GUI and CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from app.core.context import open_app
from app.core.history_actions import ExportNotAllowed, delete_conversation, export_conversation
from app.core.paths import AppPaths
from tests.policies import policy_root


def with_policy(paths: AppPaths, root: Path, doc: dict) -> AppPaths:  # type: ignore[type-arg]
    policy_root(root.parent, doc, name=root.name, file_name="50-history.json")
    return dataclasses.replace(paths, policy_root=root)


def events_of(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [json.loads(line)["event"] for line in app.audit.path.read_text().splitlines()]


def test_export_refused_by_policy(app_paths: AppPaths, tmp_path: Path) -> None:
    paths = with_policy(app_paths, tmp_path / "pol", {"history": {"export_allowed": False}})
    app = open_app(paths, passphrase="export test passphrase")
    try:
        cid = app.history.create_conversation("secret plans")  # type: ignore[union-attr]
        with pytest.raises(ExportNotAllowed, match="organization"):
            export_conversation(app.policy, app.history, app.audit, cid, "md")
        assert "history.exported" not in events_of(app)
    finally:
        app.close()


def test_export_and_delete_are_audited(app_paths: AppPaths) -> None:
    app = open_app(app_paths, passphrase="export test passphrase")
    try:
        cid = app.history.create_conversation("notes")  # type: ignore[union-attr]
        app.history.add_message(cid, "user", "hello there")  # type: ignore[union-attr]
        text = export_conversation(app.policy, app.history, app.audit, cid, "json")
        assert json.loads(text)["messages"][0]["text"] == "hello there"
        delete_conversation(app.history, app.audit, cid)
        assert app.history.list_conversations() == []  # type: ignore[union-attr]
        ev = events_of(app)
        assert "history.exported" in ev and "history.deleted" in ev
    finally:
        app.close()


def test_branch_through_a_hit_on_an_older_branch(app_paths: AppPaths) -> None:
    from app.core.conversation_view import branch_through
    from app.core.errors import EnclaveError

    app = open_app(app_paths, passphrase="branch test passphrase")
    try:
        h = app.history
        assert h is not None
        cid = h.create_conversation("branches")
        q = h.add_message(cid, "user", "Name a bird.")
        old = h.add_message(cid, "assistant", "A kingfisher.", parent_id=q)
        follow = h.add_message(cid, "user", "Where does it live?", parent_id=old)
        new = h.add_message(cid, "assistant", "A heron.", parent_id=q)  # regenerated
        assert [m.id for m in branch_through(h, cid)] == [q, new]
        assert [m.id for m in branch_through(h, cid, new)] == [q, new]
        # The hit is on the older branch: shown with the newest leaf below it.
        assert [m.id for m in branch_through(h, cid, old)] == [q, old, follow]
        assert [m.id for m in branch_through(h, cid, q)] == [q, new]
        with pytest.raises(EnclaveError, match="not in conversation"):
            branch_through(h, cid, 10_000)
        assert branch_through(h, h.create_conversation("empty")) == []
    finally:
        app.close()
