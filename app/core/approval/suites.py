"""Evaluation suites: versioned data files, built in (``models/suites``) or a site's own.

A suite is a folder with ``suite.toml`` (see ``models/suites/README.md``) and, for grounded
items, a ``documents/`` folder. Its digest is the SHA-256 of everything that decides its
scores — the items, the sampling parameters, the pass score and the documents' bytes — so a
report names exactly what it measured, and a changed suite makes earlier reports due again.
A site adds suites by naming folders in policy (``models.suite_dirs``): a folder that holds a
``suite.toml`` is one suite, any other folder is searched one level down.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.core.approval.scorers import ScorerArgsError, check_args
from app.core.errors import ConfigurationError, EnclaveError, ExitCode

SUITE_FILE = "suite.toml"
SUITE_DIRS_KEY = "models.suite_dirs"
CATEGORIES = ("capability", "grounded", "red-team", "performance")
MEASURES = ("load", "memory")
DOCUMENT_SUFFIXES = (".md", ".txt")
MAX_SUITE_BYTES = 1 << 20
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class SuiteError(ConfigurationError):
    """A suite file cannot be used as it is (the message names the file and the problem)."""


class UnknownSuite(EnclaveError):
    """A suite was asked for by a name no suite has."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class SuiteParams:
    """The fixed sampling of a suite, so a rerun gives the same answers."""

    max_tokens: int = 48
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 40
    seed: int = 1234
    repeat_penalty: float = 1.1


@dataclass(frozen=True)
class SuiteItem:
    """One probe: what it sends, what passes, and the scorer that decides.

    Attributes:
        id: Unique within the suite.
        probe: What the item tests (``embedded instruction``, ``arithmetic``…).
        prompt: The user's text ("" for a measurement with nothing to send).
        expected: The behaviour that passes, for people.
        scorer: A name from ``scorers.SCORERS``.
        args: The scorer's arguments.
        system: The item's own system prompt, if any.
        grounded: Asked over the suite's documents, as a turn with a collection attached.
        measure: ``load`` or ``memory`` for an item that scores a measurement, not an answer.
        fill: For a long-prompt item, the share of the engine's context filled before it.
    """

    id: str
    probe: str
    prompt: str
    expected: str
    scorer: str
    args: dict[str, Any] = field(default_factory=dict)
    system: str | None = None
    grounded: bool = False
    measure: str | None = None
    fill: float = 0.0

    def definition(self) -> dict[str, Any]:
        """Everything that decides the item's score, as JSON-ready data (for the digest)."""
        return {"id": self.id, "probe": self.probe, "prompt": self.prompt,
                "expected": self.expected, "scorer": self.scorer, "args": self.args,
                "system": self.system, "grounded": self.grounded, "measure": self.measure,
                "fill": self.fill}


@dataclass(frozen=True)
class Suite:
    """A versioned set of items, with its digest.

    Attributes:
        name: Unique among the suites a run sees.
        version: Bumped by whoever changes the suite.
        category: ``capability``, ``grounded``, ``red-team`` or ``performance``.
        description: One line for people.
        pass_score: The share of items that must pass (policy's minimum wins when set).
        default: Run by ``enclave models evaluate`` when no suite is named.
        params: The sampling every item runs with.
        items: The probes, in run order.
        documents: The files indexed for grounded items (name order).
        path: The suite file.
        origin: ``built-in`` or ``site``.
    """

    name: str
    version: str
    category: str
    description: str
    pass_score: float
    default: bool
    params: SuiteParams
    items: tuple[SuiteItem, ...]
    documents: tuple[Path, ...] = ()
    path: Path | None = None
    origin: str = "built-in"

    @property
    def digest(self) -> str:
        """SHA-256 of the items, parameters, pass score and documents' bytes."""
        docs = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in self.documents}
        body = {"name": self.name, "version": self.version, "category": self.category,
                "pass_score": self.pass_score, "params": self.params.__dict__,
                "items": [i.definition() for i in self.items], "documents": docs}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def subset(self, *, probes: Iterable[str] = (), ids: Iterable[str] = ()) -> Suite:
        """The same suite holding only some items; its digest differs from the whole one's."""
        wanted_probes, wanted_ids = set(probes), set(ids)
        kept = tuple(i for i in self.items if i.probe in wanted_probes or i.id in wanted_ids)
        return replace(self, items=kept)


def builtin_dir() -> Path:
    """Locate ``models/suites``: frozen bundle, source tree, or an installed wheel."""
    base = getattr(sys, "_MEIPASS", None)
    if base:
        return Path(base) / "models" / "suites"
    in_tree = Path(__file__).resolve().parents[3] / "models" / "suites"
    if in_tree.is_dir():
        return in_tree
    return Path(sys.prefix) / "share" / "enclave" / "models" / "suites"


def _table(raw: Any, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValueError(f"{what} must be a table")
    return raw


def _text(raw: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError(f"{key!r} must be non-empty text")
    return value


def _item(raw: Any, n: int) -> SuiteItem:
    raw = _table(raw, f"item {n}")
    unknown = set(raw) - {"id", "probe", "prompt", "expected", "scorer", "args", "system",
                          "grounded", "measure", "fill"}
    if unknown:
        raise ValueError(f"item {n} has unknown keys: {', '.join(sorted(unknown))}")
    measure = raw.get("measure")
    if measure is not None and measure not in MEASURES:
        raise ValueError(f"item {n}: measure must be one of {', '.join(MEASURES)}")
    fill = raw.get("fill", 0.0)
    if isinstance(fill, bool) or not isinstance(fill, int | float) or not 0 <= fill <= 0.9:
        raise ValueError(f"item {n}: fill must be a number from 0 to 0.9")
    item = SuiteItem(
        id=_text(raw, "id"), probe=_text(raw, "probe"),
        prompt=_text(raw, "prompt", required=measure is None),
        expected=_text(raw, "expected"), scorer=_text(raw, "scorer"),
        args=_table(raw.get("args", {}), f"item {n} args"),
        system=_text(raw, "system") if "system" in raw else None,
        grounded=bool(raw.get("grounded", False)), measure=measure, fill=float(fill),
    )
    if not _NAME.match(item.id.lower()):
        raise ValueError(f"item {n}: id {item.id!r} must be letters, digits and dashes")
    try:
        check_args(item.scorer, item.args)
    except ScorerArgsError as exc:
        raise ValueError(f"item {item.id}: {exc}") from None
    return item


def _params(raw: Any) -> SuiteParams:
    raw = _table(raw, "[suite.params]")
    allowed = set(SuiteParams.__dataclass_fields__)
    if set(raw) - allowed:
        unknown = ", ".join(sorted(set(raw) - allowed))
        raise ValueError(f"[suite.params] has unknown keys: {unknown}")
    params = SuiteParams(**raw)
    if not 1 <= params.max_tokens <= 4096 or not 0 <= params.seed < 2**32:
        raise ValueError("[suite.params]: max_tokens must be 1-4096 and seed 0 to 2^32-1")
    if not 0.0 <= params.temperature <= 2.0:
        raise ValueError("[suite.params]: temperature must be from 0 to 2")
    return params


def _documents(folder: Path, raw: dict[str, Any]) -> tuple[Path, ...]:
    name = raw.get("documents")
    if name is None:
        return ()
    directory = (folder / str(name)).resolve()
    if folder.resolve() not in directory.parents or not directory.is_dir():
        raise ValueError(f"documents {name!r} must be a folder inside the suite's folder")
    return tuple(sorted(p for p in directory.iterdir()
                        if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES))


def load_suite(path: Path, origin: str = "built-in") -> Suite:
    """Read and check one ``suite.toml``.

    Raises:
        SuiteError: unreadable, not TOML, or not a valid suite (the message says where).
    """
    try:
        if path.stat().st_size > MAX_SUITE_BYTES:
            raise ValueError(f"larger than {MAX_SUITE_BYTES} bytes")
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        head = _table(raw.get("suite"), "[suite]")
        items = tuple(_item(r, n) for n, r in enumerate(raw.get("item", []), start=1))
        if not items:
            raise ValueError("a suite needs at least one [[item]]")
        ids = [i.id for i in items]
        if len(set(ids)) != len(ids):
            raise ValueError("two items share an id")
        pass_score = head.get("pass_score", 0.5)
        if isinstance(pass_score, bool) or not isinstance(pass_score, int | float) \
                or not 0 <= pass_score <= 1:
            raise ValueError("pass_score must be a number from 0 to 1")
        suite = Suite(
            name=_text(head, "name"), version=_text(head, "version"),
            category=_text(head, "category"), description=_text(head, "description"),
            pass_score=float(pass_score), default=bool(head.get("default", False)),
            params=_params(head.get("params", {})), items=items,
            documents=_documents(path.parent, head), path=path, origin=origin,
        )
        if not _NAME.match(suite.name) or suite.category not in CATEGORIES:
            raise ValueError(f"name must be [a-z0-9-] and category one of {', '.join(CATEGORIES)}")
        if any(i.grounded for i in items) and not suite.documents:
            raise ValueError("grounded items need a documents folder with .md or .txt files")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, TypeError, ValueError) as exc:
        raise SuiteError(f"The evaluation suite {path} cannot be used: {exc}.",
                         "Fix the file (see models/suites/README.md) or remove it.") from None
    return suite


def _suite_files(folder: Path) -> list[Path]:
    try:
        if (folder / SUITE_FILE).is_file():
            return [folder / SUITE_FILE]
        return sorted(p / SUITE_FILE for p in folder.iterdir() if (p / SUITE_FILE).is_file())
    except OSError as exc:
        raise SuiteError(f"The evaluation suite folder {folder} cannot be read "
                         f"({exc.strerror or exc}).", "Check its permissions.") from None


def site_dirs(policy: Any) -> list[Path]:
    """The suite folders the policy names (``models.suite_dirs``); none without a policy."""
    if policy is None:
        return []
    return [Path(d) for d in (policy.get(SUITE_DIRS_KEY) or [])]


def all_suites(extra_dirs: Sequence[Path] = ()) -> list[Suite]:
    """Every built-in suite, then every suite in ``extra_dirs`` (a site's), by name.

    Raises:
        SuiteError: a suite cannot be read, a named folder is missing, or two share a name.
    """
    if not builtin_dir().is_dir():
        raise SuiteError(f"The built-in evaluation suites are not installed ({builtin_dir()} "
                         "is missing).", "Reinstall Enclave.")
    found: list[Suite] = [load_suite(p) for p in _suite_files(builtin_dir())]
    for folder in extra_dirs:
        if not folder.is_dir():
            raise SuiteError(f"The evaluation suite folder {folder} named in policy "
                             f"({SUITE_DIRS_KEY}) does not exist.",
                             "Ask your administrator to install it or fix the policy.")
        found += [load_suite(p, origin="site") for p in _suite_files(folder)]
    names = [s.name for s in found]
    for name in names:
        if names.count(name) > 1:
            raise SuiteError(f"Two evaluation suites are named {name!r}.",
                             "Give the site's suite a name of its own.")
    return found


def default_suites(extra_dirs: Sequence[Path] = ()) -> list[Suite]:
    """What ``enclave models evaluate`` runs without ``--suite``.

    The built-in default suites and every site suite: a site names a suite in policy so that
    it is run.
    """
    return [s for s in all_suites(extra_dirs) if s.default or s.origin == "site"]


def select(names: Sequence[str], extra_dirs: Sequence[Path] = ()) -> list[Suite]:
    """The suites with these names, in the order given; all defaults for no names.

    Raises:
        UnknownSuite: a name no suite has.
        SuiteError: as :func:`all_suites`.
    """
    if not names:
        return default_suites(extra_dirs)
    by_name = {s.name: s for s in all_suites(extra_dirs)}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise UnknownSuite(f"There is no evaluation suite named {missing[0]!r}.",
                           f"Known suites: {', '.join(sorted(by_name))}.")
    return [by_name[n] for n in dict.fromkeys(names)]
