from __future__ import annotations

from app.core.docs.chunking import chunk_sections
from app.core.docs.formats.base import Section


def test_chunks_cover_the_text_with_overlap_and_exact_spans() -> None:
    sentences = [f"Sentence {i} says something about item {i}." for i in range(200)]
    text = " ".join(sentences)
    chunks = chunk_sections([Section(text, start=10, page=4)])
    assert len(chunks) > 5
    for c in chunks:
        assert len(c.text) <= 800
        assert c.page == 4
        assert text[c.char_start - 10 : c.char_end - 10] == c.text
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.char_start < a.char_end  # overlap: nothing falls between two chunks
    assert chunks[-1].text.endswith("item 199.")
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_cuts_prefer_sentence_ends() -> None:
    text = ("This is a fairly ordinary sentence that keeps going. " * 40).strip()
    chunks = chunk_sections([Section(text, start=0)])
    assert all(c.text.endswith(".") for c in chunks[:-1])


def test_headings_and_hidden_marks_follow_their_section() -> None:
    chunks = chunk_sections([
        Section("Intro text.", start=0, heading="Intro"),
        Section("Secret text.", start=12, heading="hidden text", hidden=True),
    ])
    assert [(c.heading, c.hidden) for c in chunks] == [("Intro", False), ("hidden text", True)]
