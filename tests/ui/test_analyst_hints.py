"""What the window tells an analyst to do never names a terminal or developer command."""

from __future__ import annotations

import pytest

from app.core.docs.errors import CollectionNotFound, EmbeddingModelMissing
from app.core.errors import EnclaveError
from app.core.models.errors import ModelNotFound
from app.ui.notices import analyst_hint


@pytest.mark.parametrize("error", [
    CollectionNotFound("This conversation answers from 'briefings', which no longer exists.",
                       "Add the documents again (enclave docs add PATH --collection briefings)"),
    EmbeddingModelMissing("The embedding model is missing.", "Run: make run"),
    ModelNotFound("No model is installed.", "Run `enclave models provision`."),
    EnclaveError("Something broke.", "Run .venv/bin/pip install -e ."),
])
def test_no_command_reaches_the_analyst(error: EnclaveError) -> None:
    hint = analyst_hint(error)
    assert hint and "enclave " not in hint and "make" not in hint and ".venv" not in hint
