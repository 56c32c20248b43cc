"""One line of a health report (``enclave doctor``), shared by every module that checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "warning", "error"]


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, how it went, what to do."""

    name: str
    status: Status
    detail: str
    hint: str = ""
    data: dict[str, Any] = field(default_factory=dict)
