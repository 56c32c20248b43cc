"""Citations the model invents are told apart from the sources it was given."""

from __future__ import annotations

from app.core.docs.prompt import Source, unknown_citations


def source(n: int) -> Source:
    return Source(n=n, file=f"/docs/f{n}.txt", page=None, heading=None, char_start=0,
                  char_end=10, text="x", flagged=False, reason=None)


def test_unknown_citations() -> None:
    sources = [source(1), source(2)]
    assert unknown_citations("As [1] and [2] say.", sources) == []
    assert unknown_citations("See [3], [1] and [7][3].", sources) == [3, 7]
    assert unknown_citations("No citations here.", []) == []
