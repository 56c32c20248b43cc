"""The conversation list's groups: Pinned, then Today, Yesterday, … Older, as the peers show it.

A conversation belongs to the group of its last activity (``updated``), read as a calendar day
in the user's time zone: "Yesterday" is the day before today on the wall clock, however many
hours that is across a daylight-saving change. Times that cannot be read as a date (too large,
not a number) or that lie ahead of ``now`` (a clock set back) never fail the list: a future
time counts as today, an unreadable past one as older.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Generic, Protocol, TypeVar

PINNED = "Pinned"
TODAY = "Today"
YESTERDAY = "Yesterday"
WEEK = "Previous 7 days"
MONTH = "Previous 30 days"
OLDER = "Older"
LABELS = (PINNED, TODAY, YESTERDAY, WEEK, MONTH, OLDER)
"""Every group, in the order the list shows them."""


class Listed(Protocol):
    """What grouping reads of a conversation (``app.core.store.records.Conversation``)."""

    @property
    def pinned(self) -> bool: ...  # noqa: D102 - a field

    @property
    def updated(self) -> float: ...  # noqa: D102 - a field, seconds since the epoch (UTC)


C = TypeVar("C", bound=Listed)


@dataclass(frozen=True)
class Group(Generic[C]):
    """One heading of the list and the conversations under it, in the order given."""

    label: str
    items: tuple[C, ...]


def _local_day(timestamp: float, tz: tzinfo | None) -> datetime | None:
    """``timestamp`` on the wall clock of ``tz`` (``None``: the system's), or ``None``."""
    try:
        if not math.isfinite(timestamp):
            return None
        moment = datetime.fromtimestamp(timestamp, UTC)
        return moment.astimezone(tz)
    except (OverflowError, OSError, ValueError, TypeError):
        return None  # beyond what a date can hold (or what the OS converts)


def age_label(updated: float, now: datetime, tz: tzinfo | None = None) -> str:
    """The dated group (not Pinned) of a conversation last active at ``updated``.

    Args:
        updated: Seconds since the epoch (UTC).
        now: The present moment (aware; a naive one is read as the system's local time).
        tz: The user's time zone; ``None`` is the system's.
    """
    today = now.astimezone(tz).date()
    moment = _local_day(updated, tz)
    if moment is None:
        future = isinstance(updated, (int, float)) and updated > now.timestamp()
        return TODAY if future else OLDER
    days = (today - moment.date()).days
    if days <= 0:  # today, or a time ahead of the clock
        return TODAY
    if days == 1:
        return YESTERDAY
    if days <= 7:
        return WEEK
    if days <= 30:
        return MONTH
    return OLDER


def group_conversations(
    conversations: Iterable[C], now: datetime, tz: tzinfo | None = None
) -> list[Group[C]]:
    """The conversations under their headings: Pinned first, then by last activity.

    Each group keeps the order given (the store's: most recent first); groups with nothing
    in them are left out.
    """
    buckets: dict[str, list[C]] = {label: [] for label in LABELS}
    for conversation in conversations:
        label = PINNED if conversation.pinned else age_label(conversation.updated, now, tz)
        buckets[label].append(conversation)
    return [Group(label, tuple(items)) for label, items in buckets.items() if items]

