"""What a remote server receives holds none of the redacted originals; the answer gets them back."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from app.core.engines.base import ChatMessage, GenerationParams
from app.core.engines.remote import build_engine
from app.core.guard.redact import Redactor, StreamRestorer, restore
from tests.integration.connector.corpus import MESSAGE, NEAR_MISSES, ORIGINALS
from tests.integration.connector.servers import FakeAnthropicMessagesServer


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropicMessagesServer]:
    server = FakeAnthropicMessagesServer(api_key="k")
    yield server
    server.close()


def test_fake_anthropic_receives_placeholders_and_the_answer_is_restored(
    fake_anthropic: FakeAnthropicMessagesServer,
) -> None:
    redactor = Redactor(custom_terms=["operation nightjar"])
    outgoing, result = redactor.redact_messages([ChatMessage("user", MESSAGE)])
    assert result.counts == {kind: 1 for kind in ORIGINALS}
    engine = build_engine(
        {"name": "claude", "kind": "anthropic", "base_url": fake_anthropic.base_url,
         "classification": "external", "models": ["fake-claude"]}, "k")
    restorer = StreamRestorer(result.mapping)
    shown: list[str] = []
    try:
        completion = engine.stream(outgoing, GenerationParams(max_tokens=300),
                                   lambda piece: shown.append(restorer.feed(piece)))
    finally:
        engine.close()
    shown.append(restorer.flush())
    sent = str(fake_anthropic.bodies)
    for original in ORIGINALS.values():
        assert original not in sent
    for near_miss in NEAR_MISSES:
        assert near_miss in sent  # checksums failed: left readable
    # The model only ever saw placeholders.
    assert re.search(r"<EMAIL_1_[a-z0-9]{8}>", completion.text)
    assert restore(completion.text, result.mapping) == f"You said: {MESSAGE}"
    assert "".join(shown) == f"You said: {MESSAGE}"
