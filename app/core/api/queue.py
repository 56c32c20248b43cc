"""One engine, one request at a time: a fair queue in front of a worker thread.

A ``ChatService`` holds one loaded model and runs one turn at a time, so every chat request
becomes a :class:`Job` on a :class:`Lane`: one thread that takes jobs in turn. Jobs wait in a
:class:`FairQueue` — first come first served for one token, and round robin between tokens,
so one busy client cannot starve another. Past ``max_waiting`` a request is refused at once
with 429 and a ``Retry-After`` from the recent time per job. A job whose client went away
is dropped before it starts, or cancelled (between tokens) while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.core.api.errors import ApiError

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Job:
    """One request's work for the engine, and the way its results come back.

    Attributes:
        owner: The token's name: fairness is per token.
        work: Runs on the lane's thread; reports through :meth:`post`.
        loop: The server's event loop, where the request waits for ``events``.
        cancel: Set when the client goes away or the server stops; checked between tokens.
        events: ``(kind, value)`` pairs the request reads: ``token``, ``done``, ``error``.
    """

    owner: str
    work: Callable[[Job], None]
    loop: asyncio.AbstractEventLoop
    cancel: threading.Event = field(default_factory=threading.Event)
    events: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    enqueued: float = field(default_factory=time.perf_counter)
    started: float | None = None
    _pending: list[tuple[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, kind: str, value: Any = None) -> None:
        """Hand a result to the waiting request (from any thread).

        The engine hands over its tokens in bursts (a frame every 30 ms); a burst wakes the
        event loop once, not once per token, so the server takes little CPU from the engine.
        """
        with self._lock:
            self._pending.append((kind, value))
            if len(self._pending) > 1:
                return  # a wake-up is on its way and will take this too
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            self.loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for item in pending:
            self.events.put_nowait(item)


class FairQueue:
    """Jobs waiting for the engine: FIFO per owner, round robin between owners."""

    def __init__(self, max_waiting: int) -> None:
        self.max_waiting = max_waiting
        self._cond = threading.Condition()
        self._owners: dict[str, deque[Job]] = {}  # insertion order is the round-robin ring
        self._waiting = 0
        self._closed = False
        self.accepted = 0  # jobs queued so far: their order of arrival
        self._mean_s = 2.0  # a recent job's duration (moving average), for Retry-After

    @property
    def waiting(self) -> int:
        """Jobs not started yet."""
        return self._waiting

    def retry_after(self) -> int:
        """Seconds after which a refused request may find room (1 to 600)."""
        return max(1, min(600, math.ceil(self._mean_s * (self._waiting + 1))))

    def put(self, job: Job) -> None:
        """Queue a job behind the others.

        Raises:
            ApiError: 429 when ``max_waiting`` jobs wait already; 503 when the server stops.
        """
        with self._cond:
            if self._closed:
                raise ApiError(503, "The API is stopping.", kind="server_error")
            if self._waiting >= self.max_waiting:
                wait = self.retry_after()
                raise ApiError(
                    429, f"{self._waiting} requests are waiting for the model already; retry "
                    f"in about {wait} s.", kind="rate_limit_error", code="rate_limit_exceeded",
                    headers={"Retry-After": str(wait)})
            self._owners.setdefault(job.owner, deque()).append(job)
            self._waiting += 1
            self.accepted += 1
            self._cond.notify()

    def take(self) -> Job | None:
        """The next job (blocking); ``None`` once the queue is closed."""
        with self._cond:
            while not self._closed and not self._waiting:
                self._cond.wait()
            if self._closed:
                return None
            owner = next(iter(self._owners))
            jobs = self._owners.pop(owner)
            job = jobs.popleft()
            if jobs:
                self._owners[owner] = jobs  # back of the ring: the next owner goes first
            self._waiting -= 1
            return job

    def discard(self, job: Job) -> bool:
        """Take a job that has not started out of the queue; whether it was there."""
        with self._cond:
            jobs = self._owners.get(job.owner)
            if jobs is None or job not in jobs:
                return False
            jobs.remove(job)
            if not jobs:
                del self._owners[job.owner]
            self._waiting -= 1
            return True

    def finished(self, seconds: float) -> None:
        """Note how long a job took."""
        with self._cond:
            self._mean_s = 0.8 * self._mean_s + 0.2 * seconds

    def close(self) -> list[Job]:
        """Stop taking jobs; returns those still waiting."""
        with self._cond:
            self._closed = True
            pending = [job for jobs in self._owners.values() for job in jobs]
            self._owners.clear()
            self._waiting = 0
            self._cond.notify_all()
            return pending


class Lane:
    """A worker thread that runs one job at a time from its fair queue.

    Args:
        name: Names the thread (``enclave-api-chat``).
        max_waiting: Jobs that may wait.
    """

    def __init__(self, name: str, max_waiting: int) -> None:
        self.queue = FairQueue(max_waiting)
        self.current: Job | None = None
        self._thread = threading.Thread(target=self._run, name=f"enclave-api-{name}",
                                        daemon=True)

    def start(self) -> None:
        """Start the worker."""
        self._thread.start()

    def submit(self, job: Job) -> None:
        """Queue a job (see :meth:`FairQueue.put`)."""
        self.queue.put(job)

    def withdraw(self, job: Job) -> None:
        """The client went away: drop the job if it waits, stop it if it runs."""
        job.cancel.set()
        self.queue.discard(job)

    def stop(self, timeout: float = 10.0) -> None:
        """Refuse what waits, cancel what runs, and end the thread."""
        for job in self.queue.close():
            job.cancel.set()
            job.post("error", ApiError(503, "The API is stopping.", kind="server_error"))
        running = self.current
        if running is not None:
            running.cancel.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while (job := self.queue.take()) is not None:
            if job.cancel.is_set():
                continue  # its client left while it waited
            self.current = job
            job.started = time.perf_counter()
            try:
                job.work(job)
            except Exception as exc:  # noqa: BLE001 - the work reports its own errors; a bug
                log.exception("API job failed")
                job.post("error", exc)
            finally:
                self.current = None
                self.queue.finished(time.perf_counter() - job.started)
