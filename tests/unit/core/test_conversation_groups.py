"""The sidebar's core: which heading a conversation goes under, and what a title may be.

Grouping reads last activity as a calendar day in the user's zone, so the tables pin the
edges: midnight, daylight-saving changes, clocks set back, and times no date can hold.
Titles are cleaned once, in the core, for the GUI and the CLI alike.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.conversation_groups import (
    LABELS,
    MONTH,
    OLDER,
    PINNED,
    TODAY,
    WEEK,
    YESTERDAY,
    age_label,
    group_conversations,
)
from app.core.history_actions import MAX_TITLE_CHARS, clean_title, rename_conversation
from app.core.inputs import InvalidInput

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # a half-hour daylight-saving shift


@dataclass(frozen=True)
class Conv:
    id: int
    updated: float
    pinned: bool = False


def at(tz: tzinfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz)  # type: ignore[misc]


def ts(tz: tzinfo, *args: int) -> float:
    return at(tz, *args).timestamp()


# (zone, now, last activity, heading)
DAYS = [
    # Midnight: one second either side is a different day.
    (BERLIN, at(BERLIN, 2026, 5, 10, 0, 0, 1), ts(BERLIN, 2026, 5, 10, 0, 0, 0), TODAY),
    (BERLIN, at(BERLIN, 2026, 5, 10, 0, 0, 1), ts(BERLIN, 2026, 5, 9, 23, 59, 59), YESTERDAY),
    (BERLIN, at(BERLIN, 2026, 5, 10, 23, 59, 59), ts(BERLIN, 2026, 5, 10, 0, 0, 0), TODAY),
    # Local days, not UTC days: 00:30 in Berlin is still the previous day in UTC.
    (BERLIN, at(BERLIN, 2026, 5, 10, 0, 30), ts(BERLIN, 2026, 5, 10, 0, 10), TODAY),
    (UTC, at(UTC, 2026, 5, 9, 22, 40), ts(BERLIN, 2026, 5, 10, 0, 10), TODAY),
    # Group edges: 2..7 days back is the week, 8..30 the month, 31 is older.
    (UTC, at(UTC, 2026, 5, 10, 12), ts(UTC, 2026, 5, 8, 23, 59), WEEK),
    (UTC, at(UTC, 2026, 5, 10, 12), ts(UTC, 2026, 5, 3, 0, 0), WEEK),
    (UTC, at(UTC, 2026, 5, 10, 12), ts(UTC, 2026, 5, 2, 23, 59), MONTH),
    (UTC, at(UTC, 2026, 5, 10, 12), ts(UTC, 2026, 4, 10, 0, 0), MONTH),
    (UTC, at(UTC, 2026, 5, 10, 12), ts(UTC, 2026, 4, 9, 23, 59), OLDER),
    # Spring forward (Berlin, 29 March 2026: 02:00 -> 03:00): the day is 23 hours long, and
    # 23.5 hours back is still yesterday, never two days ago.
    (BERLIN, at(BERLIN, 2026, 3, 30, 0, 30), ts(BERLIN, 2026, 3, 29, 0, 0), YESTERDAY),
    (BERLIN, at(BERLIN, 2026, 3, 29, 23, 59), ts(BERLIN, 2026, 3, 29, 0, 1), TODAY),
    # Fall back (New York, 1 November 2026: 02:00 -> 01:00): a 25-hour day.
    (NEW_YORK, at(NEW_YORK, 2026, 11, 1, 23, 59), ts(NEW_YORK, 2026, 11, 1, 0, 1), TODAY),
    (NEW_YORK, at(NEW_YORK, 2026, 11, 2, 0, 1), ts(NEW_YORK, 2026, 11, 1, 0, 1), YESTERDAY),
    (LORD_HOWE, at(LORD_HOWE, 2026, 4, 5, 23, 50), ts(LORD_HOWE, 2026, 4, 5, 0, 5), TODAY),
    # A clock set back: what seems to lie ahead is today, however far.
    (UTC, at(UTC, 2026, 5, 10, 12), ts(UTC, 2026, 5, 11, 9), TODAY),
    (UTC, at(UTC, 2026, 5, 10, 12), ts(UTC, 2090, 1, 1), TODAY),
    # The epoch, before it, and times no date can hold: never a failure.
    (UTC, at(UTC, 2026, 5, 10, 12), 0.0, OLDER),
    (BERLIN, at(BERLIN, 2026, 5, 10, 12), -1.0, OLDER),
    (UTC, at(UTC, 2026, 5, 10, 12), -1e18, OLDER),
    (UTC, at(UTC, 2026, 5, 10, 12), 1e18, TODAY),
    (UTC, at(UTC, 2026, 5, 10, 12), float("inf"), TODAY),
    (UTC, at(UTC, 2026, 5, 10, 12), float("-inf"), OLDER),
    (UTC, at(UTC, 2026, 5, 10, 12), float("nan"), OLDER),
]


@pytest.mark.parametrize(("tz", "now", "updated", "label"), DAYS)
def test_last_activity_goes_under_its_local_day(
    tz: tzinfo, now: datetime, updated: float, label: str
) -> None:
    assert age_label(updated, now, tz) == label


def test_pinned_come_first_empty_groups_are_left_out_and_order_is_kept() -> None:
    now = at(BERLIN, 2026, 5, 10, 12)
    conversations = [
        Conv(1, ts(BERLIN, 2020, 1, 1), pinned=True),  # pinned: its age does not matter
        Conv(2, ts(BERLIN, 2026, 5, 10, 11)),
        Conv(3, ts(BERLIN, 2026, 5, 10, 9)),
        Conv(4, ts(BERLIN, 2026, 5, 9, 9), pinned=True),
        Conv(5, ts(BERLIN, 2026, 4, 1)),
        Conv(6, ts(BERLIN, 2026, 5, 5)),
    ]
    groups = group_conversations(conversations, now, BERLIN)
    assert [(g.label, [c.id for c in g.items]) for g in groups] == [
        (PINNED, [1, 4]), (TODAY, [2, 3]), (WEEK, [6]), (OLDER, [5])]
    assert group_conversations([], now, BERLIN) == []


@given(st.lists(st.tuples(st.floats(allow_nan=True), st.booleans()), max_size=30),
       st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
                    timezones=st.sampled_from([UTC, BERLIN, NEW_YORK, LORD_HOWE])))
def test_any_times_are_grouped_without_failing_each_exactly_once(
    rows: list[tuple[float, bool]], now: datetime
) -> None:
    conversations = [Conv(i, updated, pinned) for i, (updated, pinned) in enumerate(rows)]
    groups = group_conversations(conversations, now, now.tzinfo)
    labels = [g.label for g in groups]
    assert labels == [label for label in LABELS if label in labels]  # in the list's order
    assert all(g.items for g in groups)
    assert sorted(c.id for g in groups for c in g.items) == list(range(len(rows)))
    assert all(c.pinned == (g.label == PINNED) for g in groups for c in g.items)


def test_system_zone_is_used_when_none_is_given() -> None:
    now = datetime.now(UTC)
    assert age_label(now.timestamp(), now) == TODAY
    assert age_label((now - timedelta(days=400)).timestamp(), now) == OLDER


# --- titles ----------------------------------------------------------------------------------

TITLES = [
    ("Trip plans", "Trip plans"),
    ("  padded  ", "padded"),
    ("two\nlines\tand\r\ntabs", "two lines and tabs"),
    ("many     spaces", "many spaces"),
    ("zero\u200bwidth\u200c\u200d\ufeffgone", "zerowidthgone"),
    ("bidi \u202eevil\u202c text", "bidi evil text"),
    ("bell\x07 and escape\x1b[31m", "bell and escape[31m"),
    ("ｆｕｌｌｗｉｄｔｈ", "fullwidth"),  # NFKC
    ("e\u200b\u0301", "\u00e9"),  # what a zero-width character split composes
    ("nul\x00byte", "nulbyte"),  # a control like the others (a prompt name's rule too)
    ("lone \udcff surrogate", "lone \ufffd surrogate"),
    ("x" * MAX_TITLE_CHARS, "x" * MAX_TITLE_CHARS),
    ("  " + "y" * MAX_TITLE_CHARS + "\u200b  ", "y" * MAX_TITLE_CHARS),
]


@pytest.mark.parametrize(("typed", "stored"), TITLES)
def test_titles_are_cleaned_once_at_the_core(typed: str, stored: str) -> None:
    assert clean_title(typed) == stored


@pytest.mark.parametrize("typed", [
    "", " ", "\t\n", "\u200b\u200b", "\ufeff", " \u2028 ", "\x01\x02\x03", "\u3000",
])
def test_empty_titles_are_refused_with_a_reason(typed: str) -> None:
    with pytest.raises(InvalidInput, match="needs a title") as refused:
        clean_title(typed)
    assert refused.value.hint


def test_long_titles_are_refused_saying_the_limit() -> None:
    with pytest.raises(InvalidInput, match=f"limit is {MAX_TITLE_CHARS}"):
        clean_title("z" * (MAX_TITLE_CHARS + 1))


@given(st.text())
def test_any_title_is_clean_or_refused_and_cleaning_twice_changes_nothing(typed: str) -> None:
    try:
        title = clean_title(typed)
    except InvalidInput:
        return
    assert title == title.strip() and title and len(title) <= MAX_TITLE_CHARS
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in title)
    assert "  " not in title and unicodedata.is_normalized("NFKC", title)
    assert clean_title(title) == title


class Renames:
    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []

    def rename(self, conversation_id: int, title: str) -> None:
        self.calls.append((conversation_id, title))


def test_rename_stores_the_cleaned_title_and_nothing_when_refused() -> None:
    history = Renames()
    assert rename_conversation(history, 7, " New\u200b  name\n") == "New name"
    with pytest.raises(InvalidInput):
        rename_conversation(history, 7, "\u200b ")
    assert history.calls == [(7, "New name")]
