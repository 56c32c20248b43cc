"""Helpers shared by the CLI's sub-command modules."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any


def print_json(data: Any) -> None:
    """Print one JSON document to stdout."""
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def row_id_arg(text: str) -> int:
    """Argparse type for a conversation/message id: a whole number from 1 to 2^63-1."""
    from app.core.inputs import SQLITE_INT_MAX

    return bounded_int(1, SQLITE_INT_MAX)(text)


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """Argparse type: a whole number in ``low..high``, refused with the range otherwise.

    The bound check itself is the core's (:func:`app.core.inputs.in_range`), so the CLI says
    exactly what the GUI and the core would.
    """
    from app.core.inputs import InvalidInput, in_range

    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r:.40} is not a whole number") from None
        try:
            return in_range(value, "the value", low, high)
        except InvalidInput:
            raise argparse.ArgumentTypeError(
                f"{text:.40} is out of range ({low:,} to {high:,})"
            ) from None

    parse.__name__ = "whole number"  # argparse names the type in its messages
    return parse
