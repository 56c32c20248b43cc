"""Every error a user can meet exits with a listed code, one meaning per code."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import app
from app.core.errors import EnclaveError, ExitCode


def _all_errors() -> list[type[EnclaveError]]:
    for info in pkgutil.walk_packages(app.__path__, "app."):
        if info.name.startswith("app.ui"):
            continue  # Qt: the window's errors are the core's (none are declared there)
        importlib.import_module(info.name)
    found: list[type[EnclaveError]] = []
    todo = [EnclaveError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


ERRORS = _all_errors()


def test_the_scan_sees_errors_from_every_layer() -> None:
    modules = {cls.__module__.split(".")[2] if cls.__module__.count(".") > 1 else cls.__module__
               for cls in ERRORS}
    assert {"store", "models", "policy", "audit", "docs", "engines", "guard"} <= modules
    assert len(ERRORS) > 40


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_each_error_names_its_code_from_the_enum(cls: type[EnclaveError]) -> None:
    declared = cls.__dict__.get("exit_code")
    if declared is not None:  # inherited codes were checked on the class that declared them
        assert isinstance(declared, ExitCode), (
            f"{cls.__qualname__}.exit_code = {declared!r}: use an ExitCode member"
        )
    assert cls.exit_code in ExitCode.__members__.values()
    assert cls.exit_code not in (ExitCode.OK, ExitCode.UNEXPECTED, ExitCode.INTERRUPTED)


def test_codes_are_distinct() -> None:
    # __members__ includes aliases, which iterating the enum would silently skip.
    values = [member.value for member in ExitCode.__members__.values()]
    assert len(values) == len(set(values))
