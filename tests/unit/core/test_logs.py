"""llama.cpp's log lines: errors reach the log file, the model dump does not."""

from __future__ import annotations

import logging

import pytest

from app.core.logs import LlamaLogLevels


@pytest.mark.parametrize(("sequence", "expected"), [
    ([4], [logging.ERROR]),                        # errors were once dropped as "debug"
    ([3], [logging.WARNING]),
    ([2], [None]),                                 # info: the model dump, not kept
    ([1], [None]),
    ([4, 5, 5], [logging.ERROR] * 3),              # a continued error stays an error
    ([2, 5, 3, 5], [None, None, logging.WARNING, logging.WARNING]),
    ([0, 9, -1], [None, None, None]),              # unknown levels count as info
])
def test_levels_map_and_filter(sequence: list[int], expected: list[int | None]) -> None:
    logger = logging.getLogger("test.llama.levels")
    logger.setLevel(logging.INFO)
    levels = LlamaLogLevels(logger)
    assert [levels.accept(n) for n in sequence] == expected


def test_debug_logging_keeps_everything() -> None:
    logger = logging.getLogger("test.llama.debug")
    logger.setLevel(logging.DEBUG)
    levels = LlamaLogLevels(logger)
    assert [levels.accept(n) for n in (1, 2, 5)] == [logging.DEBUG, logging.INFO, logging.INFO]
