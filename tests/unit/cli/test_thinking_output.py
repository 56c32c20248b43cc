"""The terminal faces: the answer on stdout, reasoning set aside (or shown when asked)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from app.cli import main
from app.cli.ask import AnswerPrinter
from app.core.paths import default_paths
from app.core.store import open_history

PIECES = ["<thi", "nk>Weigh", "ing it.</th", "ink>\n\nPar", "is."]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return False


def printed(pieces: list[str], *, show: bool) -> tuple[str, str]:
    out, err = Terminal(), Terminal()
    printer = AnswerPrinter(show, out, err)
    for piece in pieces:
        printer(piece)
    printer.finish()
    return out.getvalue(), err.getvalue()


def test_by_default_the_terminal_says_thinking_once_and_prints_the_answer() -> None:
    out, err = printed(PIECES, show=False)
    assert out == "Paris."
    assert err.count("Thinking…") == 1 and "Weighing" not in err


def test_show_thinking_prints_the_reasoning_apart_from_the_answer() -> None:
    out, err = printed(PIECES, show=True)
    assert out == "Paris."
    assert "Weighing it." in err


def test_reasoning_opened_by_the_template_is_called_reasoning_when_it_closes() -> None:
    out, err = printed(["Working it", " out</think>Paris."], show=False)
    assert out.endswith("Paris.")
    assert "was the model's reasoning" in err


def test_an_answer_without_reasoning_is_printed_as_it_came() -> None:
    assert printed(["Par", "is", " <b>"], show=False) == ("Paris <b>", "")


ANSWER = "<think>\nRecall geography.\n</think>\n\nParis."


@pytest.fixture
def saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A history holding a reasoning answer, and the passphrase file that opens it."""
    monkeypatch.setenv("ENCLAVE_HOME", str(tmp_path / "home"))
    pw = tmp_path / "pw"
    pw.write_text("cli thinking passphrase\n")
    store = open_history(default_paths().ensure(), passphrase="cli thinking passphrase")
    with store:
        cid = store.create_conversation("Capitals")
        asked = store.add_message(cid, "user", "Capital of France?")
        store.add_message(cid, "assistant", ANSWER, parent_id=asked)
    return pw


def test_history_export_leaves_thinking_out_unless_asked(
    saved: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["history", "export", "1", "--passphrase-file", str(saved)]) == 0
    plain = capsys.readouterr().out
    assert "Paris." in plain and "Recall geography" not in plain
    assert main(["history", "export", "1", "--with-thinking", "--format", "json",
                 "--passphrase-file", str(saved)]) == 0
    message = json.loads(capsys.readouterr().out)["messages"][1]
    assert (message["text"], message["thinking"]) == ("Paris.", "Recall geography.")


def test_history_show_hides_thinking_unless_asked(
    saved: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["history", "show", "1", "--passphrase-file", str(saved)]) == 0
    shown = capsys.readouterr().out
    assert "Paris." in shown and "Recall geography" not in shown and "<think>" not in shown
    assert "--with-thinking" in shown  # it says the thinking is there
    assert main(["history", "show", "1", "--with-thinking", "--passphrase-file",
                 str(saved)]) == 0
    assert "> Recall geography." in capsys.readouterr().out
    assert main(["history", "show", "1", "--json", "--passphrase-file", str(saved)]) == 0
    answer = json.loads(capsys.readouterr().out)["messages"][1]
    assert answer["text"] == "Paris." and "thinking" not in answer


@pytest.mark.model
@pytest.mark.parametrize("flags", [[], ["--show-thinking"], ["--json", "--show-thinking"]])
def test_ask_streams_a_real_answer_through_the_printer(
    model_paths: object, capsys: pytest.CaptureFixture[str], flags: list[str],
) -> None:
    assert main(["ask", "--no-save", "--max-tokens", "6", "--seed", "1", *flags,
                 "Say hi."]) == 0
    out = capsys.readouterr().out
    if "--json" in flags:
        data = json.loads(out)
        assert data["answer"].strip() and data["thinking"] == ""  # SmolLM2 does not reason
    else:
        assert out.strip()  # the answer itself reached stdout
