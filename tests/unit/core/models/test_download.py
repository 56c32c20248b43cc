"""`enclave models provision` reaches only the index the policy names, and only when allowed.

pip runs in a child process, out of reach of the app's egress guard, so nothing a user can set
(``PIP_*`` variables, proxies, pip's configuration files, ``PYTHON*`` variables) may steer it.
Most tests stop at the command pip would run; one runs the real pip against two loopback
indexes: the policy's and a decoy every user-settable knob points at.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.errors import ExitCode
from app.core.models.catalog import CatalogEntry, ModelSource
from app.core.models.download import (
    DEFAULT_INDEX_URL,
    DOWNLOAD_ALLOWED_KEY,
    INDEX_URL_KEY,
    DownloadDecision,
    DownloadRefused,
    decide_download,
)
from app.core.models.errors import ModelError
from app.core.models.provision import provision
from app.core.policy import EffectivePolicy, load_policy
from tests.policies import policy_root as shared_policy_root
from tests.unit.core.models._index_server import LoopbackIndex, build_wheel

PAYLOAD = b"GGUF" + b"\x03\0\0\0" + b"w" * 4000
SPEC = "tiny-model==1.0"


def entry_for(data: bytes) -> CatalogEntry:
    return CatalogEntry(
        id="tiny", name="Tiny", family="tiny", kind="chat", file="tiny.gguf", size=len(data),
        sha256=hashlib.sha256(data).hexdigest(), license="MIT", default=False,
        source=ModelSource("tiny-model", "1.0", "tiny_model/tiny.gguf"),
    )


def models_policy(tmp_path: Path, **models: Any) -> EffectivePolicy:
    """A real machine policy whose managed file sets ``models.<key>`` values."""
    root = shared_policy_root(tmp_path / "models-policy", {"models": models},
                              file_name="10-models.json")
    policy = load_policy(root)
    assert not policy.restricted, policy.restricted_reasons
    return policy


def policy_root(tmp_path: Path, managed: str | None = None) -> Path:
    return shared_policy_root(tmp_path, managed)


@pytest.fixture
def open_policy(tmp_path: Path) -> EffectivePolicy:
    """The built-in policy: nothing restricted."""
    policy = load_policy(policy_root(tmp_path / "open"))
    assert not policy.restricted
    return policy


@pytest.fixture
def restricted_policy(tmp_path: Path) -> EffectivePolicy:
    """A managed file that cannot be read: restricted mode."""
    policy = load_policy(policy_root(tmp_path / "broken", "{ this is not json"))
    assert policy.restricted
    return policy


@pytest.fixture
def decoy() -> Iterator[LoopbackIndex]:
    """An index nobody should ever reach."""
    with LoopbackIndex(lifetime_s=120) as index:
        yield index


def _sitecustomize(tmp_path: Path) -> tuple[Path, Path]:
    """A PYTHONPATH entry whose sitecustomize leaves a mark if a child Python imports it."""
    d = tmp_path / "pythonpath"
    d.mkdir(exist_ok=True)
    mark = tmp_path / "sitecustomize-ran"
    (d / "sitecustomize.py").write_text(f"open({str(mark)!r}, 'w').close()\n")
    return d, mark


def hostile_environment(tmp_path: Path, decoy: LoopbackIndex) -> dict[str, str]:
    """Every variable a user could set to send pip somewhere else."""
    root = decoy.url.removesuffix("/simple")
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = {decoy.url}\nextra-index-url = {decoy.url}\n")
    user_conf = tmp_path / "home" / ".config" / "pip"
    user_conf.mkdir(parents=True, exist_ok=True)
    (user_conf / "pip.conf").write_text(conf.read_text())
    pythonpath, _mark = _sitecustomize(tmp_path)
    return {
        "PIP_INDEX_URL": decoy.url, "PIP_EXTRA_INDEX_URL": decoy.url,
        "PIP_FIND_LINKS": root, "PIP_TRUSTED_HOST": "127.0.0.1", "PIP_CONFIG_FILE": str(conf),
        "PIP_NO_INDEX": "0", "PIP_PROXY": root,
        "HTTP_PROXY": root, "HTTPS_PROXY": root, "http_proxy": root, "https_proxy": root,
        "ALL_PROXY": root, "NO_PROXY": "", "REQUESTS_CA_BUNDLE": str(conf),
        "SSL_CERT_FILE": str(conf), "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config"),
        "XDG_CONFIG_DIRS": str(tmp_path / "home" / ".config"),
        "PYTHONPATH": str(pythonpath), "PYTHONSTARTUP": str(conf), "PYTHONHOME": "",
        "PYTHONUSERBASE": str(tmp_path / "home"),
    }


class Recorder:
    """Stands in for ``subprocess.run``: records what would run, runs nothing."""

    def __init__(self, before: list[Any] | None = None) -> None:
        self.calls: list[tuple[list[str], dict[str, str] | None]] = []
        self.audited_before: list[int] = []
        self._audit = before

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append((list(argv), kwargs.get("env")))
        if self._audit is not None:
            self.audited_before.append(len(self._audit))
        return subprocess.CompletedProcess(argv, 1, "", "ERROR: intercepted by the test")


def _download(
    tmp_path: Path, policy: Any, audited: list[Any], monkeypatch: pytest.MonkeyPatch,
) -> Recorder:
    recorder = Recorder(audited)
    monkeypatch.setattr(subprocess, "run", recorder)
    with pytest.raises(ModelError):
        provision(entry_for(PAYLOAD), tmp_path / "models", policy=policy,
                  audit=lambda decision, spec: audited.append((decision, spec)))
    return recorder


# --- what pip is given ------------------------------------------------------------------


def test_pip_gets_the_default_index_and_a_clean_environment(
    tmp_path: Path, open_policy: EffectivePolicy, decoy: LoopbackIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in hostile_environment(tmp_path, decoy).items():
        monkeypatch.setenv(name, value)
    audited: list[Any] = []
    recorder = _download(tmp_path, open_policy, audited, monkeypatch)
    [(argv, env)] = recorder.calls
    assert argv[:3] == [sys.executable, "-I", "-m"] and argv[3] == "pip"
    assert "--isolated" in argv
    assert argv[argv.index("--index-url") + 1] == DEFAULT_INDEX_URL
    assert not any(a.startswith(("--extra-index-url", "--find-links", "--trusted-host",
                                 "--proxy")) for a in argv)
    assert env is not None, "the child must not inherit this process's environment"
    assert {k for k in env if k.upper().startswith("PIP_")} == {"PIP_CONFIG_FILE"}
    assert env["PIP_CONFIG_FILE"] == os.devnull  # pip then reads no configuration file
    assert not [k for k in env if k.upper().startswith("PYTHON") or "PROXY" in k.upper()
                or k.upper().startswith("XDG_") or k in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")]
    assert env.get("HOME") != str(tmp_path / "home")
    port = decoy.url.split(":")[2].split("/")[0]
    assert not [x for x in [*argv, *env.values()] if port in x]
    assert decoy.hits == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PIP_INDEX_URL", "{decoy}"),
        ("PIP_EXTRA_INDEX_URL", "{decoy}"),
        ("PIP_FIND_LINKS", "{decoy}"),
        ("PIP_CONFIG_FILE", "{conf}"),
        ("HTTPS_PROXY", "{decoy}"),
        ("https_proxy", "{decoy}"),
        ("ALL_PROXY", "{decoy}"),
        ("PYTHONPATH", "{conf}"),
        ("XDG_CONFIG_DIRS", "{conf}"),
    ],
)
def test_no_user_variable_reaches_pip(
    tmp_path: Path, open_policy: EffectivePolicy, decoy: LoopbackIndex,
    monkeypatch: pytest.MonkeyPatch, name: str, value: str,
) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = {decoy.url}\n")
    monkeypatch.setenv(name, value.format(decoy=decoy.url, conf=conf))
    recorder = _download(tmp_path, open_policy, [], monkeypatch)
    [(argv, env)] = recorder.calls
    assert env is not None
    assert env.get(name) in (None, os.devnull)  # PIP_CONFIG_FILE is ours: read no file
    assert str(conf) not in " ".join([*argv, *env.values()])
    assert decoy.url not in " ".join([*argv, *env.values()])


# --- whether pip runs at all ------------------------------------------------------------


def test_restricted_mode_refuses_and_runs_nothing(
    tmp_path: Path, restricted_policy: EffectivePolicy, decoy: LoopbackIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", decoy.url)
    recorder = Recorder()
    monkeypatch.setattr(subprocess, "run", recorder)
    audited: list[tuple[DownloadDecision, str]] = []
    with pytest.raises(DownloadRefused, match="restricted mode") as err:
        provision(entry_for(PAYLOAD), tmp_path / "models", policy=restricted_policy,
                  audit=lambda decision, spec: audited.append((decision, spec)))
    assert err.value.exit_code == ExitCode.REFUSED
    assert "--from PATH" in err.value.hint
    assert recorder.calls == [] and decoy.hits == []
    [(decision, spec)] = audited
    assert (decision.allowed, decision.host, spec) == (False, "pypi.org", SPEC)
    assert decision.rule == "restricted-mode"
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []


def test_a_policy_that_forbids_downloads_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = models_policy(tmp_path, download_allowed=False)
    recorder = Recorder()
    monkeypatch.setattr(subprocess, "run", recorder)
    audited: list[tuple[DownloadDecision, str]] = []
    with pytest.raises(DownloadRefused, match="turned off") as err:
        provision(entry_for(PAYLOAD), tmp_path / "models", policy=policy,
                  audit=lambda decision, spec: audited.append((decision, spec)))
    assert DOWNLOAD_ALLOWED_KEY in audited[0][0].rule and "10-models.json" in err.value.hint
    assert recorder.calls == []


def test_no_policy_means_no_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(subprocess, "run", recorder)
    with pytest.raises(DownloadRefused):
        provision(entry_for(PAYLOAD), tmp_path / "models")
    assert recorder.calls == []


def test_the_destination_is_audited_before_pip_starts(
    tmp_path: Path, open_policy: EffectivePolicy, monkeypatch: pytest.MonkeyPatch,
) -> None:
    audited: list[Any] = []
    recorder = _download(tmp_path, open_policy, audited, monkeypatch)
    assert recorder.audited_before == [1]
    decision, spec = audited[0]
    assert (decision.allowed, decision.host, decision.index_url, spec) == (
        True, "pypi.org", DEFAULT_INDEX_URL, SPEC)


def test_an_audit_log_that_cannot_be_written_stops_the_download(
    tmp_path: Path, open_policy: EffectivePolicy, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.core.audit.errors import AuditUnavailable

    recorder = Recorder()
    monkeypatch.setattr(subprocess, "run", recorder)

    def broken(_decision: DownloadDecision, _spec: str) -> None:
        raise AuditUnavailable("The audit log cannot be written.", "Free some disk space.")

    with pytest.raises(AuditUnavailable):
        provision(entry_for(PAYLOAD), tmp_path / "models", policy=open_policy, audit=broken)
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("index_url", "allowed", "host"),
    [
        ("https://pypi.corp.example/simple", True, "pypi.corp.example"),
        ("https://PyPI.Corp.Example:8443/root/simple/", True, "pypi.corp.example"),
        ("http://127.0.0.1:3141/simple", True, "127.0.0.1"),
        ("http://pypi.corp.example/simple", False, "pypi.corp.example"),  # no TLS off-machine
        ("ftp://pypi.corp.example/simple", False, "pypi.corp.example"),
        ("file:///srv/wheels", False, ""),
        ("not a url", False, ""),
    ],
)
def test_the_index_comes_from_policy_and_must_be_https(
    tmp_path: Path, index_url: str, allowed: bool, host: str
) -> None:
    decision = decide_download(models_policy(tmp_path, index_url=index_url))
    assert (decision.allowed, decision.host) == (allowed, host)
    assert INDEX_URL_KEY in decision.rule
    if not allowed:
        assert INDEX_URL_KEY in decision.reason or "https" in decision.reason


def test_an_index_url_of_the_wrong_type_is_refused_by_the_schema(tmp_path: Path) -> None:
    root = shared_policy_root(tmp_path, {"models": {"index_url": 42}})
    decision = decide_download(load_policy(root))
    assert (decision.allowed, decision.rule) == (False, "restricted-mode")


def test_credentials_in_the_index_url_are_not_audited(tmp_path: Path) -> None:
    url = "https://reader:s3cret@pypi.corp.example/simple"
    decision = decide_download(models_policy(tmp_path, index_url=url))
    assert decision.allowed and decision.pip_index_url == url
    assert "s3cret" not in json.dumps([decision.index_url, decision.host, decision.reason])


def test_default_index_when_policy_says_nothing(open_policy: EffectivePolicy) -> None:
    decision = decide_download(open_policy)
    assert (decision.allowed, decision.index_url, decision.host) == (
        True, DEFAULT_INDEX_URL, "pypi.org")


# --- the real pip -----------------------------------------------------------------------


def test_real_pip_contacts_only_the_policy_index(
    tmp_path: Path, decoy: LoopbackIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wheel = build_wheel(tmp_path, "tiny-model", "1.0", {"tiny_model/tiny.gguf": PAYLOAD})
    decoy.wheels[wheel.name] = wheel.read_bytes()  # the decoy would serve it too
    for name, value in hostile_environment(tmp_path, decoy).items():
        monkeypatch.setenv(name, value)
    _pythonpath, mark = _sitecustomize(tmp_path)
    audited: list[tuple[DownloadDecision, str]] = []
    with LoopbackIndex({wheel.name: wheel.read_bytes()}) as site_index:
        policy = models_policy(tmp_path, index_url=site_index.url)
        path = provision(entry_for(PAYLOAD), tmp_path / "models", policy=policy,
                         audit=lambda decision, spec: audited.append((decision, spec)))
    assert path.read_bytes() == PAYLOAD
    assert f"/files/{wheel.name}" in site_index.hits
    assert decoy.hits == [], "pip followed a setting the user controls"
    assert not mark.exists(), "pip's Python imported code from the user's PYTHONPATH"
    [(decision, _spec)] = audited
    assert decision.host == "127.0.0.1" and decision.index_url == site_index.url
