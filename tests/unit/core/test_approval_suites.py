"""Evaluation suites are versioned data files; a site adds its own folder, named in policy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.core.approval.suites import (
    SuiteError,
    UnknownSuite,
    all_suites,
    builtin_dir,
    default_suites,
    load_suite,
    select,
    site_dirs,
)
from app.core.errors import ExitCode
from app.core.policy import load_policy
from tests.policies import policy_root

SMOKE = """
[suite]
name = "site-smoke"
version = "2.1.0"
category = "capability"
description = "The site's own two questions."
pass_score = 1.0

[suite.params]
max_tokens = 16
seed = 7

[[item]]
id = "smoke-capital"
probe = "fact recall"
prompt = "What is the capital of France? Answer with one word."
expected = "Paris."
scorer = "contains"
args = { answer = "Paris", reject = ["London"] }
"""


def write_suite(folder: Path, text: str = SMOKE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "suite.toml").write_text(text, encoding="utf-8")
    return folder


def test_the_default_suites_cover_what_an_approval_needs() -> None:
    suites = {s.name: s for s in default_suites()}
    assert set(suites) == {"capability", "grounded", "red-team", "performance"}
    for suite in suites.values():
        assert suite.version and len(suite.digest) == 64
        for item in suite.items:  # every item names its probe, expected behaviour and scorer
            assert item.probe and item.expected and item.scorer
    assert {i.scorer for i in suites["capability"].items} >= {"exact", "contains", "numeric",
                                                              "json"}
    grounded = suites["grounded"]
    assert all(i.grounded and i.scorer == "cites" for i in grounded.items)
    assert {d.name for d in grounded.documents} >= {i.args["source"] for i in grounded.items}
    assert {i.probe for i in suites["red-team"].items} == {
        "embedded instruction", "document injection", "system-prompt extraction",
        "control tokens in user text", "jailbreak against a site rule", "PII echo",
        "over-refusal"}
    perf = {i.probe for i in suites["performance"].items}
    assert perf == {"load time", "time to first token and decoding speed", "context limit",
                    "peak memory"}
    # Fixed sampling, so a rerun gives the same answers.
    assert all(s.params.temperature == 0.0 and s.params.seed >= 0 for s in suites.values())


def test_a_changed_suite_has_another_digest(tmp_path: Path) -> None:
    [red] = select(["red-team"])
    assert red.subset(probes=["over-refusal"]).digest != red.digest
    copy = tmp_path / "red-team"
    shutil.copytree(builtin_dir() / "red-team", copy)
    assert load_suite(copy / "suite.toml").digest == red.digest  # where it lies does not count
    doc = copy / "documents" / "canteen-notice.md"
    doc.write_text(doc.read_text() + "One more line.\n")
    assert load_suite(copy / "suite.toml").digest != red.digest  # its documents do


def test_two_suites_with_one_name_are_refused(tmp_path: Path) -> None:
    shutil.copytree(builtin_dir() / "red-team", tmp_path / "copy")
    with pytest.raises(SuiteError, match="Two evaluation suites are named 'red-team'"):
        all_suites([tmp_path])


def test_a_site_suite_named_in_policy_runs_by_default(tmp_path: Path) -> None:
    folder = write_suite(tmp_path / "site-suites" / "smoke")
    root = policy_root(tmp_path, {"models": {"suite_dirs": [str(folder.parent)]}})
    policy = load_policy(root)
    names = [s.name for s in default_suites(site_dirs(policy))]
    assert names[-1] == "site-smoke" and "capability" in names
    [smoke] = select(["site-smoke"], site_dirs(policy))
    assert smoke.origin == "site" and smoke.version == "2.1.0" and smoke.params.seed == 7


def test_a_broken_suite_says_which_file_and_what(tmp_path: Path) -> None:
    folder = write_suite(tmp_path / "bad", SMOKE.replace('scorer = "contains"',
                                                         'scorer = "vibes"'))
    with pytest.raises(SuiteError) as caught:
        all_suites([folder])
    assert str(folder / "suite.toml") in caught.value.message
    assert "no scorer 'vibes'" in caught.value.message
    with pytest.raises(SuiteError, match="does not exist"):
        all_suites([tmp_path / "missing"])


def test_an_unknown_suite_name_is_a_usage_error() -> None:
    with pytest.raises(UnknownSuite) as caught:
        select(["capabilty"])
    assert caught.value.exit_code == ExitCode.USAGE
    assert "capability" in caught.value.hint
