"""The engine's queue: first come first served per token, round robin between tokens, a
clear refusal when full, and a client that leaves never costs the engine a turn."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from app.core.api.errors import ApiError
from app.core.api.queue import FairQueue, Job, Lane


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def job(owner: str, loop, ran: list[str] | None = None, label: str = "") -> Job:
    def work(_job: Job) -> None:
        if ran is not None:
            ran.append(label or owner)

    return Job(owner, work, loop)


def test_tokens_take_turns_and_each_keeps_its_own_order(loop) -> None:
    queue = FairQueue(max_waiting=10)
    labels = {}
    for label in ("a1", "a2", "a3", "b1", "b2"):  # token a came first, with three requests
        queued = job(label[0], loop)
        labels[id(queued)] = label
        queue.put(queued)
    order = [labels[id(queue.take())] for _ in range(5)]
    assert order == ["a1", "b1", "a2", "b2", "a3"]


def test_a_full_queue_refuses_with_a_time_to_retry(loop) -> None:
    queue = FairQueue(max_waiting=2)
    queue.put(job("a", loop))
    queue.put(job("b", loop))
    with pytest.raises(ApiError) as full:
        queue.put(job("c", loop))
    assert full.value.status == 429
    assert int(full.value.headers["Retry-After"]) >= 1
    queue.take()
    queue.put(job("c", loop))  # room again


def test_a_job_withdrawn_before_its_turn_never_runs(loop) -> None:
    lane = Lane("test", max_waiting=4)
    ran: list[str] = []
    gate = threading.Event()
    lane.submit(Job("a", lambda _j: gate.wait(5), loop))
    left = job("b", loop, ran)
    stays = job("c", loop, ran)
    lane.submit(left)
    lane.submit(stays)
    lane.start()
    lane.withdraw(left)
    gate.set()
    deadline = time.monotonic() + 5
    while ran != ["c"] and time.monotonic() < deadline:
        time.sleep(0.01)
    lane.stop()
    assert ran == ["c"]


def test_stopping_refuses_what_waits_and_cancels_what_runs(loop) -> None:
    lane = Lane("test", max_waiting=4)
    started = threading.Event()

    def long(j: Job) -> None:
        started.set()
        j.cancel.wait(5)

    running = Job("a", long, loop)
    waiting = job("b", loop)
    lane.submit(running)
    lane.submit(waiting)
    lane.start()
    assert started.wait(5)
    lane.stop()
    assert running.cancel.is_set() and waiting.cancel.is_set()
    loop.run_until_complete(asyncio.sleep(0))
    kind, error = waiting.events.get_nowait()
    assert (kind, error.status) == ("error", 503)
    with pytest.raises(ApiError):
        lane.submit(job("c", loop))
