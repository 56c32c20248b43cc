"""How many CPU threads llama.cpp decodes with, chosen from the measured time per token.

llama.cpp's CPU threads meet at a barrier in every step of a decode, so one thread that loses its
core to another process (a GUI, a browser, an antivirus scan) stalls all of them: on a loaded
machine fewer threads than physical cores can be faster. The engine times its own tokens and
feeds them here; ``llama_set_n_threads`` applies the answer on the next decode. This module only
decides (no clocks, no llama.cpp, no I/O), so it is tested against a simulated cost model.
"""

from __future__ import annotations

import math
import os

# A settled window this much slower than its last estimate means the load changed: look again now.
_WORSE = 1.4
# ...and this much faster means load went away, so more threads may pay again: look again now.
_BETTER = 0.7
# Within 3% of the fastest, the most threads win: they do on an idle machine, and noise should
# not walk the choice down.
_TIE = 1.03


def _candidates(n: int) -> tuple[int, ...]:
    """The thread counts worth trying on ``n`` cores, most first."""
    # Integer ceilings: exact for any n, unlike float division.
    raw = {n, n - 1, n - 2, -(-3 * n // 4), -(-n // 2), -(-n // 4), 1}
    return tuple(sorted((c for c in raw if 1 <= c <= n), reverse=True))


def _median(values: list[float]) -> float:
    """The window's typical time per token: the mean without its slowest and fastest value.

    Throughput is a mean, so the estimate must see systematic stalls (a thread that loses
    its core every few tokens, which a median hides); dropping the extremes keeps one-off
    hiccups (a page fault, a garbage collection) from deciding anything.
    """
    kept = sorted(values)[1:-1] if len(values) >= 5 else values
    return math.fsum(kept) / len(kept)


_LONGEST = 600.0  # seconds; a "token" slower than this is a suspended process, not a speed
_EARLY_SAMPLES = 2  # a probe this far, on average this much slower, is over
_CLEARLY_WORSE = 1.4
MAX_BACKOFF = 8  # at 64 tokens a cycle: a probe at least every ~512 tokens


class ThreadController:
    """Chooses llama.cpp's thread count from measured time per token (explore/exploit).

    A local search over the candidate counts (sorted, most first): after a window on the settled
    count, any neighbour without an estimate from the current cycle is probed for one window
    (the lower one first), then the fastest estimate of the cycle is settled on. A new cycle,
    which makes every older estimate stale, starts after ``reprobe_every`` measurements on the
    settled count, or at once when two windows in a row of the settled count move by more
    than 40% slower or 30% faster.
    Probing costs speed (the neighbours are slower, or they would be settled on), so while
    periodic re-probes keep confirming the same count their interval doubles, up to
    ``MAX_BACKOFF`` times ``reprobe_every``; a change of speed or of count resets it.
    """

    def __init__(self, max_threads: int, *, pinned: int = 0, window: int = 6,
                 reprobe_every: int = 64) -> None:
        """Start on ``max_threads``.

        Args:
            max_threads: The machine's physical cores, at least 1.
            pinned: When above 0, this count is always used and never changed.
            window: Measurements whose median makes one estimate, at least 1.
            reprobe_every: Measurements on the settled count between re-probes, at least 1.

        Raises:
            ValueError: If an argument is out of range.
        """
        if max_threads < 1 or pinned < 0 or window < 1 or reprobe_every < 1:
            raise ValueError(f"bad thread controller settings: max_threads={max_threads}, "
                             f"pinned={pinned}, window={window}, reprobe_every={reprobe_every}")
        self._max = max_threads
        self._pinned = pinned > 0
        # A pinned count is a search with one candidate: it measures but can never move.
        self._cands = (pinned,) if self._pinned else _candidates(max_threads)
        self._window = window
        self._reprobe_every = reprobe_every
        self._interval = reprobe_every  # grows while periodic re-probes change nothing
        self._cycle_from: int | None = None  # settled index when a periodic re-probe began
        self._est: list[float | None] = [None] * len(self._cands)
        self._est_cycle = [-1] * len(self._cands)  # the cycle each estimate was taken in
        self._cycle = 0
        self._settled = 0  # indices into self._cands
        self._current = 0
        self._buf = [0.0] * window  # reused: observe() runs once per token
        self._fill = 0
        self._warming = True  # the first decode on a new count waits for llama.cpp's thread pool
        self._on_settled = 0  # measurements on the settled count since it was last left
        # The settled count's estimate when this cycle's comparison was made. Load changes are
        # judged against it, not against the last window: a window straddling the change would
        # otherwise split one big step into two small ones that each pass unnoticed.
        self._ref: float | None = None
        self._out_of_band = 0  # the previous settled window: 1 slower, -1 faster, 0 in band

    @property
    def threads(self) -> int:
        """The thread count to use for the next decode."""
        return self._cands[self._current]

    @property
    def max_threads(self) -> int:
        """The machine's physical cores, as given."""
        return self._max

    @property
    def pinned(self) -> bool:
        """Whether the count was fixed by the caller and never changes."""
        return self._pinned

    def observe(self, seconds_per_token: float) -> int:
        """Record one measurement taken with ``self.threads`` threads.

        Args:
            seconds_per_token: Time per token of the decode just run; values that are not
                a number, <= 0 or over ten minutes are ignored.

        Returns:
            The thread count for the next decode (often the same).
        """
        if not 0.0 < seconds_per_token <= _LONGEST:  # also False for nan
            return self.threads
        if self._current == self._settled:
            self._on_settled += 1
        if self._warming:
            self._warming = False
            return self.threads
        self._buf[self._fill] = seconds_per_token
        self._fill += 1
        if self._fill < self._window:
            if not self._clearly_worse():
                return self.threads
            # A probe that is plainly slower ends early: under load, each more token on the
            # wrong count costs twice its time, and a full window would not change the verdict.
            median = math.fsum(self._buf[: self._fill]) / self._fill
        else:
            median = _median(self._buf)
        self._fill = 0
        i = self._current
        if i == self._settled:
            ref = self._ref
            side = (0 if ref is None or _BETTER * ref <= median <= _WORSE * ref
                    else 1 if median > ref else -1)
            # A load change shows in two windows in a row; one noisy window re-probing
            # (and resetting the back-off) costs more than it finds.
            moved = side != 0 and side == self._out_of_band
            self._out_of_band = side
            if side != 0 and not moved:
                # The first window out of band decides nothing, not even against estimates
                # the load change may have made stale: wait for the next one.
                return self.threads
            if moved or self._on_settled >= self._interval:
                self._cycle += 1  # what the neighbours measured before may no longer hold
                self._on_settled = 0
                self._ref = median
                if moved:
                    self._interval = self._reprobe_every
                    self._cycle_from = None
                else:
                    self._cycle_from = self._settled
            elif ref is None:
                self._ref = median
        self._est[i] = median
        self._est_cycle[i] = self._cycle
        self._plan()
        return self.threads

    def _clearly_worse(self) -> bool:
        if self._current == self._settled or self._fill < _EARLY_SAMPLES:
            return False
        ref = self._est[self._settled]
        # The mean, not every sample: under load a wrong count is fast on some tokens and
        # stalls for a whole time slice on others.
        return (ref is not None and self._est_cycle[self._settled] == self._cycle
                and math.fsum(self._buf[: self._fill]) > _CLEARLY_WORSE * ref * self._fill)

    def _plan(self) -> None:
        """Settle on this cycle's fastest count, or probe a neighbour of it still unmeasured."""
        cycle = self._cycle
        fresh = [(est, i) for i, est in enumerate(self._est)
                 if est is not None and self._est_cycle[i] == cycle]
        fastest = min(est for est, _ in fresh)
        # Candidates run most-threads first, so the lowest index within the tie wins.
        best = min(i for est, i in fresh if est <= fastest * _TIE)
        if best != self._settled:
            self._settled = best
            self._ref = self._est[best]
        lower, higher = self._settled + 1, self._settled - 1
        target = self._settled
        if lower < len(self._cands) and self._est_cycle[lower] != cycle:
            target = lower
        elif higher >= 0 and self._est_cycle[higher] != cycle:
            target = higher
        if target == self._settled and self._cycle_from is not None:
            # A periodic re-probe is over: back off if it only confirmed the count.
            same = self._cycle_from == self._settled
            self._interval = (min(self._interval * 2, self._reprobe_every * MAX_BACKOFF)
                              if same else self._reprobe_every)
            self._cycle_from = None
        if target != self._current:
            self._current = target
            self._warming = True  # (the window is already empty: plans follow a full one)
            self._on_settled = 0

    def _busy(self) -> bool:
        # The settled count only drops below the maximum when fewer threads measured faster (and
        # a pinned count is the only candidate, index 0).
        return self._settled > 0

    def describe(self) -> str:
        """Short words for a status bar or ``enclave doctor``: ``1 of 2 threads (machine busy)``.

        Names the settled count, so the short probes of other counts do not flicker through.
        """
        n = self._cands[self._settled]
        unit = "thread" if n == 1 else "threads"
        if self._pinned:
            return f"{n} {unit} (pinned)"
        if self._busy():
            return f"{n} of {self._max} threads (machine busy)"
        return f"{n} {unit}"

    def snapshot(self) -> dict[str, object]:
        """The state as JSON-able data: counts, the latest median per candidate, and busyness."""
        return {
            "threads": self.threads,
            "max_threads": self._max,
            "pinned": self._pinned,
            "estimates": {str(n): est for n, est in zip(self._cands, self._est, strict=True)},
            "busy": self._busy(),
        }


def physical_cores() -> int:
    """Physical cores (llama.cpp runs best with one thread per core, not per hyperthread)."""
    try:
        import psutil

        count = psutil.cpu_count(logical=False)
    except Exception:  # noqa: BLE001 - psutil can fail in containers
        count = None
    return max(1, count or os.cpu_count() or 1)
