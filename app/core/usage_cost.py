"""What remote calls cost, and the per-user monthly budget that is checked before sending.

Prices come from the endpoint's policy entry (``prices[model]``: per million input and output
tokens). Spending is kept in a small per-user ledger (``usage.json``: amounts and counts by
month, never text), so the budget check costs one small file read, not a scan of the audit log.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from app.core.errors import EnclaveError, ExitCode

_lock = threading.Lock()


class BudgetExceeded(EnclaveError):
    """This month's budget for paid endpoints is spent."""

    exit_code = ExitCode.REFUSED


def call_cost(endpoint: dict[str, Any] | None, model: str, tokens_in: int, tokens_out: int
              ) -> float:
    """The cost of one call, from the endpoint's price table (0 when it has none)."""
    if not endpoint:
        return 0.0
    price = (endpoint.get("prices") or {}).get(model)
    if not price:
        return 0.0
    return (tokens_in * float(price.get("input_per_mtok", 0))
            + tokens_out * float(price.get("output_per_mtok", 0))) / 1_000_000


def month_key(ts: float | None = None) -> str:
    """``YYYY-MM`` in UTC."""
    return time.strftime("%Y-%m", time.gmtime(ts if ts is not None else time.time()))


class UsageLedger:
    """Per-user spending by month and endpoint."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def spent(self, month: str | None = None) -> float:
        """Total spent in a month (default: this one)."""
        entry = self._read().get(month or month_key(), {})
        return float(entry.get("cost", 0.0)) if isinstance(entry, dict) else 0.0

    def add(self, endpoint: str, cost: float, *, month: str | None = None) -> None:
        """Add one call's cost (atomically replaces the file)."""
        with _lock:
            data = self._read()
            key = month or month_key()
            entry = data.setdefault(key, {"cost": 0.0, "calls": 0, "by_endpoint": {}})
            entry["cost"] = float(entry.get("cost", 0.0)) + cost
            entry["calls"] = int(entry.get("calls", 0)) + 1
            by = entry.setdefault("by_endpoint", {})
            by[endpoint] = float(by.get(endpoint, 0.0)) + cost
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".usage-")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(tmp, self.path)

    def check_budget(self, budget: float) -> None:
        """Refuse when this month's spending has reached the budget (0: no limit).

        Raises:
            BudgetExceeded: with what was spent and when the budget renews.
        """
        if budget <= 0:
            return
        spent = self.spent()
        if spent >= budget:
            raise BudgetExceeded(
                f"This month's budget for paid models is spent ({spent:.2f} of {budget:.2f}).",
                "Ask on this machine (local model), or ask your administrator; it renews "
                "on the 1st.",
            )

    def report(self) -> dict[str, Any]:
        """Every month's figures."""
        return self._read()
