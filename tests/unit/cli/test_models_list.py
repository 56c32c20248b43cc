"""`enclave models list` describes every installed model the way the GUI's picker does."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from app.cli import main
from app.core.paths import AppPaths
from tests.policies import policy_root


def _run(monkeypatch: pytest.MonkeyPatch, paths: AppPaths, *args: str) -> int:
    import app.core.paths

    monkeypatch.setattr(app.core.paths, "default_paths", lambda: paths)
    return main(["models", "list", *args])


def test_a_blocked_model_is_listed_with_its_rule_and_what_to_do(
    model_paths: AppPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = policy_root(tmp_path, '{"schema_version": 1, "models": {"allowed_sha256": ["'
                       + "0" * 64 + '"]}}', name="pol", file_name="50-models.json")
    paths = dataclasses.replace(model_paths, policy_root=root)
    assert _run(monkeypatch, paths) == 0
    out = capsys.readouterr().out
    assert "blocked" in out and "smollm2-135m-instruct-q4_1" in out
    assert _run(monkeypatch, paths, "--json") == 0
    [row] = [r for r in json.loads(capsys.readouterr().out)
             if r["id"] == "smollm2-135m-instruct-q4_1"]
    assert row["state"] == "blocked" and row["rule"].startswith("managed:models.allowed_sha256")
    assert "administrator" in row["hint"] and row["verified"] is True
    assert row["quantization"] and row["size"] > 0


def test_without_a_policy_the_default_model_is_ready(
    model_paths: AppPaths, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run(monkeypatch, model_paths, "--json") == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["smollm2-135m-instruct-q4_1"]["state"] == "ready"
    assert rows["smollm2-135m-instruct-q4_1"]["active"] is True
