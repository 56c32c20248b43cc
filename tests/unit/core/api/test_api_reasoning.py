"""The local API keeps a reasoning model's thinking out of ``content``: ``reasoning_content``.

The responses are driven with the events a real job posts (``token`` pieces, then ``done``
with the turn's result); the pieces cut the markers where a tokenizer might.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from app.core.api.limits import Limits
from app.core.api.queue import Job
from app.core.api.responses import CompletionResponse, StreamResponse
from app.core.engines.base import Completion, EngineInfo
from app.core.turn import TurnResult

PIECES = ["<thi", "nk>The capital", " of France.</th", "ink>\n\nPar", "is."]


def result(text: str) -> TurnResult:
    completion = Completion(text, "stop", 5, 5, 0.1, 0.2, 25.0)
    return TurnResult(1, 1, 2, completion, EngineInfo("smol", "0" * 64))


def respond(kind: type[Any], pieces: list[str], **extra: Any) -> list[dict[str, Any]]:
    """Run a response over a job that already posted ``pieces`` and its result."""

    async def go() -> list[dict[str, Any]]:
        job = Job("tester", lambda _: None, asyncio.get_running_loop())
        for piece in pieces:
            job.events.put_nowait(("token", piece))
        job.events.put_nowait(("done", result("".join(pieces))))
        sent: list[dict[str, Any]] = []

        async def send(message: Any) -> None:
            sent.append(message)

        response = kind(job, None, Limits(), "smol", **extra)
        await response.answer(send, asyncio.get_running_loop().create_future())
        return sent

    return asyncio.run(go())


def test_a_whole_answer_puts_thinking_in_reasoning_content() -> None:
    sent = respond(CompletionResponse, PIECES)
    message = json.loads(sent[-1]["body"])["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "Paris.",
                       "reasoning_content": "The capital of France."}


def test_an_answer_without_thinking_has_no_reasoning_content() -> None:
    sent = respond(CompletionResponse, ["Par", "is."])
    message = json.loads(sent[-1]["body"])["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "Paris."}


def test_a_stream_sends_thinking_as_reasoning_content_deltas() -> None:
    sent = respond(StreamResponse, PIECES, usage=False)
    body = b"".join(m.get("body", b"") for m in sent).decode()
    events = [json.loads(line[6:]) for line in body.splitlines()
              if line.startswith("data: {")]
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
    content = "".join(d.get("content", "") for d in deltas)
    reasoning = "".join(d.get("reasoning_content", "") for d in deltas)
    assert content == "Paris."
    assert reasoning == "The capital of France."
    assert "<think>" not in body and "</think>" not in body
    assert body.rstrip().endswith("data: [DONE]")
