"""`enclave models …` as a user runs it: list, import, default and rollback, remove."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.errors import ExitCode
from tests.e2e.conftest import Runner
from tests.unit.core.models.conftest import (
    ESCAPE_TEMPLATE,
    REAL_NAME,
    gguf_header,
    renamed_copy,
    write_small_gguf,
)

pytestmark = pytest.mark.model

DEFAULT_ID = "smollm2-135m-instruct-q4_1"


def user_models(tmp_path: Path) -> list[str]:
    d = tmp_path / "home" / "data" / "models"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_list_shows_status_location_and_metadata(enclave: Runner) -> None:
    r = enclave("models", "list", "--json")
    assert r.returncode == 0, r.stderr
    [row] = json.loads(r.stdout)
    assert (row["id"], row["location"], row["state"]) == (DEFAULT_ID, "site", "ready")
    assert row["active"] and row["family"] == "smollm2-135m-instruct"
    assert row["quantization"] == "Q4_1" and row["has_chat_template"] is True
    assert row["license"] == "apache-2.0" and row["parameter_count"] == 134515008


def test_import_default_and_previous(
    enclave: Runner, tmp_path: Path, default_model_file: Path
) -> None:
    v2 = renamed_copy(default_model_file, tmp_path / "smollm2-v2.gguf", REAL_NAME,
                      REAL_NAME[:-1] + b"3")
    r = enclave("models", "import", str(v2), "--json")
    assert r.returncode == 0, r.stderr
    imported = json.loads(r.stdout)
    assert imported["state"] == "unverified"  # not the catalog's bytes, whatever it claims
    assert imported["family"] == "smollm2-135m-instruct (unverified)"
    assert imported["llama_cpp"]["n_params"] == imported["parameter_count"]

    assert enclave("models", "default", "smollm2-v2").returncode == 0
    shown = json.loads(enclave("models", "default", "--json").stdout)
    assert shown["id"] == "smollm2-v2" and shown["sha256"] == imported["sha256"]
    r = enclave("models", "default", "--previous")
    assert r.returncode == 0, r.stderr
    assert DEFAULT_ID in r.stdout
    rows = json.loads(enclave("models", "list", "--json").stdout)
    assert {row["id"]: row["active"] for row in rows} == {DEFAULT_ID: True, "smollm2-v2": False}


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("notes.gguf", b"These are my notes. " * 200, "not a GGUF"),
        ("absurd.gguf", gguf_header(2**60, 0) + b"\0" * 4096, "tensors"),
        ("escape.gguf", None, "chat template was refused"),
    ],
)
def test_import_refuses_bad_files(
    enclave: Runner, tmp_path: Path, name: str, content: bytes | None, expected: str
) -> None:
    source = tmp_path / name
    if content is None:
        write_small_gguf(source, template=ESCAPE_TEMPLATE)
    else:
        source.write_bytes(content)
    r = enclave("models", "import", str(source))
    assert r.returncode == ExitCode.MODEL, r.stderr
    assert expected in r.stderr and "Traceback" not in r.stderr
    assert user_models(tmp_path) == []


def test_truncated_real_model_is_refused(
    enclave: Runner, tmp_path: Path, default_model_file: Path
) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(default_model_file.read_bytes()[: default_model_file.stat().st_size // 2])
    r = enclave("models", "import", str(cut))
    assert r.returncode == ExitCode.MODEL and "truncated" in r.stderr
    assert user_models(tmp_path) == []


def test_site_models_cannot_be_removed_user_ones_can(
    enclave: Runner, tmp_path: Path, default_model_file: Path
) -> None:
    r = enclave("models", "remove", DEFAULT_ID)
    assert r.returncode == ExitCode.MODEL and "machine-wide" in r.stderr
    v2 = renamed_copy(default_model_file, tmp_path / "mine.gguf", REAL_NAME, REAL_NAME[:-1] + b"5")
    assert enclave("models", "import", str(v2)).returncode == 0
    assert enclave("models", "remove", "mine").returncode == 0
    assert user_models(tmp_path) == []


def test_verify_reports_each_model(enclave: Runner) -> None:
    r = enclave("models", "verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"✓ {DEFAULT_ID}" in r.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_import_leaves_nothing(
    tmp_path: Path, site_models_dir: Path, default_model_file: Path, sig: signal.Signals
) -> None:
    source = renamed_copy(default_model_file, tmp_path / "big.gguf", REAL_NAME,
                          REAL_NAME[:-1] + b"7")
    models = tmp_path / "home" / "data" / "models"
    env = dict(os.environ, ENCLAVE_HOME=str(tmp_path / "home"),
               ENCLAVE_SITE_MODELS_DIR=str(site_models_dir))
    proc = subprocess.Popen([sys.executable, "-m", "app", "models", "import", str(source)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if models.exists() and any(p.name.startswith(".import-") for p in models.iterdir()):
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the import ended before it could be interrupted"
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert b"Traceback" not in err
    assert sorted(p.name for p in models.iterdir()) == []
