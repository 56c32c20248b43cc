"""The CLI's shared argument types and its error-to-exit-code mapping."""

from __future__ import annotations

import argparse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.cli import build_parser, main
from app.cli._common import bounded_int, row_id_arg
from app.core.errors import EnclaveError, ExitCode
from app.core.inputs import SQLITE_INT_MAX


@given(st.integers())
def test_row_ids_parse_exactly_the_ids_a_row_can_have(value: int) -> None:
    if 1 <= value <= SQLITE_INT_MAX:
        assert row_id_arg(str(value)) == value
    else:
        with pytest.raises(argparse.ArgumentTypeError, match="out of range"):
            row_id_arg(str(value))


@pytest.mark.parametrize("text", ["1e20", "ten", "", "0x10", "1.5", "1_0_"])
def test_what_is_not_a_decimal_whole_number_is_named_as_such(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        bounded_int(0, 10)(text)


def test_every_command_builds_and_bounds_appear_in_usage_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit) as stopped:
        parser.parse_args(["history", "list", "--limit", "-5"])
    assert stopped.value.code == ExitCode.USAGE
    assert "out of range (1 to 1,000,000)" in capsys.readouterr().err


class _Boom(EnclaveError):
    exit_code = ExitCode.MODEL


def test_a_typed_error_becomes_two_lines_and_its_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    import app.cli.doctor as doctor

    def fail(_args: argparse.Namespace) -> int:
        raise _Boom("The model is gone.", "Provision it again.")

    monkeypatch.setattr(doctor, "run", fail)
    assert main(["doctor"]) == ExitCode.MODEL
    err = capsys.readouterr().err
    assert "enclave: The model is gone." in err and "→ Provision it again." in err


def test_an_unexpected_error_is_a_sentence_and_exit_70(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    import app.cli.doctor as doctor

    def fail(_args: argparse.Namespace) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(doctor, "run", fail)
    assert main(["doctor"]) == ExitCode.UNEXPECTED
    err = capsys.readouterr().err
    assert "unexpected error" in err and "Traceback" not in err and "a bug" not in err
