"""Fixtures shared by the whole suite.

Every test runs with ENCLAVE_HOME in a temporary directory, so no test reads or writes the
developer's real data. The real default model (provisioned by `make`) is made visible through
a site-models directory that links to it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.docs.embed import EmbeddingFiles
from app.core.models.catalog import CatalogEntry, default_entry
from app.core.paths import AppPaths, default_paths

_REAL_ENV = {k: os.environ.get(k) for k in ("ENCLAVE_HOME", "ENCLAVE_SITE_MODELS_DIR")}


def _find_provisioned_model(entry: CatalogEntry) -> Path | None:
    saved = {k: os.environ.pop(k, None) for k in _REAL_ENV}
    try:
        paths = default_paths()
    finally:
        for k, v in saved.items():
            if v is not None:
                os.environ[k] = v
    for directory in (paths.user_models_dir, paths.site_models_dir):
        candidate = directory / entry.file
        if candidate.is_file() and candidate.stat().st_size == entry.size:
            return candidate
    return None


@pytest.fixture(scope="session")
def default_model_file() -> Path:
    """The real default model file; fails (never skips) when it was not provisioned."""
    entry = default_entry()
    path = _find_provisioned_model(entry)
    if path is None:
        pytest.fail(
            f"The default model {entry.file} is not provisioned; run `make test` "
            "(or `.venv/bin/enclave models provision`)."
        )
    return path


@pytest.fixture(scope="session")
def site_models_dir(tmp_path_factory: pytest.TempPathFactory, default_model_file: Path) -> Path:
    """A read-only 'machine-wide' models directory holding a link to the real model."""
    d = tmp_path_factory.mktemp("site-models")
    (d / default_model_file.name).symlink_to(default_model_file)
    return d


@pytest.fixture(scope="session")
def embedding_files() -> EmbeddingFiles:
    """The provisioned all-MiniLM-L6-v2 files; fails (never skips) when they are missing."""
    from tests.unit.core.docs._fixtures import find_embedding_files

    return find_embedding_files()


@pytest.fixture
def passphrase_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppPaths]:
    """A private ENCLAVE_HOME with no keyring, so the passphrase path runs."""
    from app.core import secrets

    monkeypatch.setenv("ENCLAVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/enclave-test-bus")
    secrets.reset_backend_cache()
    yield default_paths().ensure()
    secrets.reset_backend_cache()


@pytest.fixture
def docs_paths(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    default_model_file: Path,
    embedding_files: EmbeddingFiles,
) -> Iterator[AppPaths]:
    """ENCLAVE_HOME in tmp, no keyring, the chat and embedding models in a site folder."""
    from app.core import secrets

    site = tmp_path / "site-models"
    site.mkdir()
    for f in (default_model_file, embedding_files.model, embedding_files.tokenizer):
        (site / f.name).symlink_to(f)
    monkeypatch.setenv("ENCLAVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ENCLAVE_SITE_MODELS_DIR", str(site))
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/enclave-test-bus")
    secrets.reset_backend_cache()
    yield default_paths().ensure()
    secrets.reset_backend_cache()


@pytest.fixture
def app_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppPaths:
    """Per-test user directories, with no models installed anywhere."""
    home = tmp_path / "home"
    empty_site = tmp_path / "no-site-models"
    empty_site.mkdir()
    monkeypatch.setenv("ENCLAVE_HOME", str(home))
    monkeypatch.setenv("ENCLAVE_SITE_MODELS_DIR", str(empty_site))
    return default_paths().ensure()


@pytest.fixture
def model_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site_models_dir: Path
) -> AppPaths:
    """Per-test user directories with the real default model available (site directory)."""
    monkeypatch.setenv("ENCLAVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ENCLAVE_SITE_MODELS_DIR", str(site_models_dir))
    return default_paths().ensure()


@pytest.fixture(scope="session", autouse=True)
def _quiet_llama_cpp() -> None:
    """Send llama.cpp's own log to logging (as the app does), not to the test output."""
    from app.core.logs import route_llama_log

    route_llama_log()


@pytest.fixture(autouse=True)
def _egress_guard() -> None:
    """The app's egress guard is on in tests too: loopback only, unless a test opens more."""
    from app.core.guard.egress import install_egress_guard

    install_egress_guard(set, lambda _host, _port: None)


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Fail any test that leaves a Python thread running."""
    before = set(threading.enumerate())
    yield
    deadline = 5.0
    leaked: list[threading.Thread] = []
    for t in set(threading.enumerate()) - before:
        if isinstance(t, threading._DummyThread):  # a QThread that ran Python: Qt owns it
            continue
        t.join(timeout=deadline)
        if t.is_alive() and not t.daemon:
            leaked.append(t)
    assert not leaked, f"threads left running: {[t.name for t in leaked]}"
