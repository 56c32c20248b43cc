from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.core.docs.embed import Embedder
from app.core.docs.index import DocumentIndex
from app.core.docs.ingest import IngestJob, Progress, ingest
from tests.unit.core.docs._fixtures import write_corpus


class CountingEmbedder:
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.batch_size = 4
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.texts += len(texts)
        return self.inner.embed(texts)


def test_a_folder_of_five_formats_is_indexed(
    index: DocumentIndex, embedder: Embedder, tmp_path: Path
) -> None:
    write_corpus(tmp_path / "docs")
    seen: list[Progress] = []
    report = ingest(index, embedder, [tmp_path / "docs"], "work", on_progress=seen.append)
    assert len(report.having("indexed")) == 5, report
    assert seen[-1].files_done == seen[-1].files_total == 5
    assert seen[-1].chunks == report.embedded_chunks > 0
    counts = index.counts()
    assert counts["doc_chunks"] == counts["doc_vectors"] == counts["doc_chunks_fts"]
    pages = index.query("SELECT DISTINCT page FROM doc_chunks WHERE page IS NOT NULL")
    assert sorted(r[0] for r in pages) == [1, 2]


def test_adding_an_unchanged_folder_again_embeds_nothing(
    index: DocumentIndex, embedder: Embedder, tmp_path: Path
) -> None:
    files = write_corpus(tmp_path / "docs")
    counting = CountingEmbedder(embedder)
    ingest(index, counting, [tmp_path / "docs"], "work")
    first = counting.texts
    assert first > 0

    again = ingest(index, counting, [tmp_path / "docs"], "work")
    assert counting.texts == first
    assert len(again.having("unchanged")) == 5

    files["txt"].write_text("The cafeteria now closes at three.\n")
    changed = ingest(index, counting, [tmp_path / "docs"], "work")
    assert [Path(f.path).name for f in changed.having("indexed")] == ["cafeteria.txt"]
    assert counting.texts == first + 1
    assert index.query("SELECT count(*) FROM doc_chunks WHERE text LIKE '%noon%'")[0][0] == 0

    files["md"].unlink()
    pruned = ingest(index, counting, [tmp_path / "docs"], "work")
    assert [Path(f.path).name for f in pruned.having("removed")] == ["onboarding.md"]
    assert index.query("SELECT count(*) FROM doc_chunks WHERE text LIKE '%laptop%'")[0][0] == 0


def test_bad_files_are_skipped_with_reasons_and_the_rest_is_indexed(
    index: DocumentIndex, embedder: Embedder, tmp_path: Path
) -> None:
    import io
    import zipfile

    from pypdf import PdfReader, PdfWriter

    from tests.unit.core.docs._fixtures import pdf_bytes

    folder = tmp_path / "mixed"
    write_corpus(folder)
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(pdf_bytes(["locked"]))))
    writer.encrypt(user_password="pw", owner_password="owner", algorithm="RC4-128")
    with (folder / "locked.pdf").open("wb") as fh:
        writer.write(fh)
    (folder / "corrupt.docx").write_bytes(b"PK\x03\x04garbage")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b"<a>" + b"A" * (80 * 1024 * 1024) + b"</a>")
    (folder / "bomb.docx").write_bytes(bomb.getvalue())
    subprocess.run(["truncate", "-s", "1G", str(folder / "huge.txt")], check=True)
    (folder / "junk.txt").write_bytes(os.urandom(4096))
    (folder / "dangling.md").symlink_to(folder / "nowhere.md")
    os.mkfifo(folder / "pipe.txt")

    report = ingest(index, embedder, [folder], "work")
    skipped = {Path(f.path).name: f.reason or "" for f in report.having("skipped")}
    assert set(skipped) == {"locked.pdf", "corrupt.docx", "bomb.docx", "huge.txt", "junk.txt",
                            "dangling.md", "pipe.txt"}
    assert "encrypted PDF" in skipped["locked.pdf"]
    assert "corrupt DOCX" in skipped["corrupt.docx"]
    assert "zip bomb" in skipped["bomb.docx"]
    assert "too large" in skipped["huge.txt"]
    assert "binary" in skipped["junk.txt"]
    assert "broken link" in skipped["dangling.md"]
    assert "not a regular file" in skipped["pipe.txt"]
    assert len(report.having("indexed")) == 5
    listed = {Path(f.path).name: f for f in index.files("work")}
    assert listed["bomb.docx"].status == "skipped"
    assert "zip bomb" in (listed["bomb.docx"].error or "")


def test_cancel_stops_between_batches_and_leaves_nothing_half_indexed(
    index: DocumentIndex, embedder: Embedder, tmp_path: Path
) -> None:
    folder = tmp_path / "long"
    folder.mkdir()
    for i in range(3):
        (folder / f"doc{i}.txt").write_text(f"Paragraph {i} of a long document. " * 400)
    cancel = threading.Event()
    counting = CountingEmbedder(embedder)

    def stop_after_first_batch(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = CountingEmbedder.embed(counting, texts)
        cancel.set()
        return out

    counting.embed = stop_after_first_batch  # type: ignore[method-assign]
    report = ingest(index, counting, [folder], "work", cancel=cancel)
    assert report.cancelled
    assert report.files == []
    assert index.counts()["doc_chunks"] == 0
    assert index.counts()["doc_vectors"] == 0


def test_a_background_job_reports_progress_and_finishes(
    index: DocumentIndex, embedder: Embedder, tmp_path: Path
) -> None:
    write_corpus(tmp_path / "docs")
    seen: list[Progress] = []
    job = IngestJob(index, embedder, [tmp_path / "docs"], "work", local_only=True,
                    on_progress=seen.append).start()
    report = job.wait(60)
    assert report is not None and len(report.having("indexed")) == 5
    assert seen and seen[-1].files_done == 5
    assert index.collection("work").local_only
