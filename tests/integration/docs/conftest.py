"""A private ENCLAVE_HOME whose site models hold the real chat and embedding models."""

from __future__ import annotations

from pathlib import Path

import pytest

PASSPHRASE = "integration documents passphrase"


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    """A file holding the history passphrase, for ``--passphrase-file``."""
    f = tmp_path / "passphrase.txt"
    f.write_text(PASSPHRASE + "\n")
    return f
