"""One way to show a size, in the window and the terminal alike."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.units import human_size


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (512, "512 B"), (999, "999 B"), (1000, "1.0 KB"), (98_070_464, "98 MB"),
     (101_000_000, "101 MB"), (4_100_000_000, "4.1 GB"), (9_960_000, "10 MB"),
     (999_600, "1.0 MB"), (3 * 10**15, "3000 TB")],
)
def test_sizes_read_as_people_expect(size: int, text: str) -> None:
    assert human_size(size) == text


@given(st.integers(min_value=0, max_value=10**16))
def test_at_most_three_significant_figures_and_a_known_unit(size: int) -> None:
    number, unit = human_size(size).split()
    assert unit in ("B", "KB", "MB", "GB", "TB")
    assert len(number.replace(".", "")) <= 3 or unit in ("B", "TB")
