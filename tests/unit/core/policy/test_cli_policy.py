"""``enclave policy``: what an administrator sees and the exit codes scripts rely on."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from app.cli import main
from app.cli.policy import render_show
from app.core.policy import load_policy
from app.core.policy.schema import POLICY_KEYS

WriteFn = Callable[..., Path]


def test_validate_exit_codes_and_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.json"
    good.write_text('{"schema_version": 1, "documents": {"enabled": false}}')
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "connector": {"allowed_users": ["a", 3]}}')
    assert main(["policy", "validate", str(good)]) == 0
    assert main(["policy", "validate", str(good), str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}: $.connector.allowed_users[1]:" in err


def test_schema_prints_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "connector" in schema["properties"]


def test_admx_writes_parseable_templates(tmp_path: Path) -> None:
    assert main(["policy", "admx", str(tmp_path / "out")]) == 0
    ET.parse(tmp_path / "out" / "Enclave.admx")
    ET.parse(tmp_path / "out" / "en-US" / "Enclave.adml")


def test_show_lists_restricted_mode_first_and_every_key(
    policy_root: Path, write: WriteFn, capsys: pytest.CaptureFixture[str]
) -> None:
    write("recommended", "10.json", {"schema_version": 1, "engine": {"max_context": 4096}})
    write("managed", "10.json", {"schema_version": 1, "engine": {"max_context": 2048}})
    write("managed", "20.json", "{broken")
    policy = load_policy(policy_root)
    assert render_show(policy) == 0
    out = capsys.readouterr().out
    assert out.startswith("RESTRICTED MODE")
    assert "bad JSON" in out.split("effective policy sha256")[0]
    assert f"effective policy sha256: {policy.sha256}" in out
    assert "superseded (beat 4096 from " in out
    for key in POLICY_KEYS:
        assert f"\n{key} = " in out

    assert render_show(policy, as_json=True) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sha256"] == policy.sha256
    assert report["keys"]["engine.max_context"]["superseded_value"] == 4096


def test_show_on_this_machine_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "show", "--json"]) == 0
    assert "sha256" in json.loads(capsys.readouterr().out)
