"""A bounded synthetic background load: one process keeping one core busy a given share.

``python bench/busy.py SHARE SECONDS``: busy-loops ``SHARE`` (0–1) of every 10 ms period for at
most ``SECONDS``, then exits by itself. ``BackgroundLoad`` starts it for a ``with`` block and
kills it at the end — the stand-in for a browser, an antivirus scan or the GUI thread.
"""

from __future__ import annotations

import subprocess
import sys
import time
from types import TracebackType

PERIOD_S = 0.010


def spin(share: float, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.perf_counter()
        while time.perf_counter() - start < PERIOD_S * share:
            pass
        rest = PERIOD_S * (1 - share)
        if rest > 0:
            time.sleep(rest)


class BackgroundLoad:
    """``with BackgroundLoad(0.5):`` — half of one core busy inside the block."""

    def __init__(self, share: float, max_seconds: float = 900) -> None:
        self.share = share
        self.max_seconds = max_seconds
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> BackgroundLoad:
        if self.share > 0:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, str(self.share), str(self.max_seconds)])
            time.sleep(0.3)  # let the scheduler see it
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


if __name__ == "__main__":
    spin(float(sys.argv[1]), float(sys.argv[2]))
