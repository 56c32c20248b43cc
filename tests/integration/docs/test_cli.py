"""``enclave docs`` end to end, in process, with the real embedding and chat models."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.cli import main
from app.core.paths import AppPaths
from tests.unit.core.docs._fixtures import write_corpus


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_search_remove(
    docs_paths: AppPaths, passphrase_file: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pw = ("--passphrase-file", str(passphrase_file))
    files = write_corpus(tmp_path / "docs")
    (tmp_path / "docs" / "junk.txt").write_bytes(b"\x00\x01\x02" * 100)

    code, out, err = _run(capsys, "docs", "add", str(tmp_path / "docs"), "--collection", "ops",
                          "--local-only", *pw)
    assert code == 0, err
    assert "5 indexed" in out and "1 skipped" in out
    # A new index embeds with the int8 copy, and says so with its speed.
    assert re.search(r"by the int8 model copy, [\d.]+ s, [\d.]+ chunks/s", out), out
    assert re.search(r"skipped .*junk\.txt: binary content", out)
    assert "5/6 files" in err or "6/6 files" in err  # progress went to stderr

    code, out, _ = _run(capsys, "docs", "list", "--json", *pw)
    listed = json.loads(out)["collections"]
    assert [(c["name"], c["local_only"], c["files"]) for c in listed] == [("ops", True, 6)]
    junk = [d for d in listed[0]["documents"] if d["path"].endswith("junk.txt")]
    assert junk[0]["status"] == "skipped" and "binary" in junk[0]["reason"]

    code, out, _ = _run(capsys, "docs", "search", "emergency generator test schedule",
                        "--collection", "ops", "--json", *pw)
    hits = json.loads(out)
    assert hits[0]["file"] == str(files["pdf"]) and hits[0]["page"] == 2

    code, out, _ = _run(capsys, "docs", "remove", str(files["pdf"]), *pw)
    assert code == 0
    code, out, _ = _run(capsys, "docs", "search", "emergency generator", "--json", *pw)
    assert all(h["file"] != str(files["pdf"]) for h in json.loads(out))

    code, out, _ = _run(capsys, "docs", "remove", "--collection", "ops", *pw)
    assert code == 0
    code, out, err = _run(capsys, "docs", "search", "x", "--collection", "ops", *pw)
    assert code == 1 and "no document collection named 'ops'" in err


@pytest.mark.model
def test_ask_answers_with_the_local_model_and_cites_the_right_file(
    docs_paths: AppPaths, passphrase_file: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pw = ("--passphrase-file", str(passphrase_file))
    files = write_corpus(tmp_path / "docs")
    assert _run(capsys, "docs", "add", str(tmp_path / "docs"), "--collection", "ops", *pw)[0] == 0

    code, out, err = _run(capsys, "docs", "ask", "When is the emergency generator tested?",
                          "--collection", "ops", "--no-save", *pw)
    assert code == 0, err
    answer, sources = out.split("\nSources:\n")
    assert answer.strip()  # the tiny model's wording is not asserted on
    lines = [line.strip() for line in sources.splitlines() if line.strip().startswith("[")]
    assert lines[0] == f"[1] {files['pdf']} p.2"
    assert [line.split()[0] for line in lines] == [f"[{n}]" for n in range(1, len(lines) + 1)]
    # Any citation in the answer points at a printed source, or is called out as invented
    # (a 135M model sometimes makes up numbers).
    for n in {int(n) for n in re.findall(r"\[(\d+)\]", answer)}:
        assert 1 <= n <= len(lines) or f"cites [{n}], but there is no source" in sources
