"""``enclave docs``: index your own documents and ask questions about them.

``add`` indexes files and folders into a named collection (progress on stderr; Ctrl+C stops
after the current batch and keeps what was finished); ``list``, ``remove`` and ``search``
manage and query collections; ``ask`` answers a question with the local model from the
best passages and prints the numbered sources it was given.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from app.cli._common import bounded_int, print_json
from app.cli.store import _prompt, add_passphrase_option, given_passphrase
from app.core.errors import EnclaveError
from app.core.paths import AppPaths, default_paths


def _open(args: argparse.Namespace) -> tuple[AppPaths, Any, str | None]:
    """Check policy and open the index; returns the passphrase that opened it (if any)."""
    from app.core.docs import check_enabled, open_index
    from app.core.policy import load_policy
    from app.core.store import PassphraseRequired

    paths = default_paths().ensure()
    check_enabled(load_policy(paths.policy_root))
    passphrase = given_passphrase(args)
    try:
        return paths, open_index(paths, passphrase=passphrase), passphrase
    except PassphraseRequired:
        if passphrase is not None:
            raise
        first_run = not paths.database_file.exists()
        label = "Choose a passphrase for the history: " if first_run else "History passphrase: "
        passphrase = _prompt(label, confirm=first_run)
        return paths, open_index(paths, passphrase=passphrase), passphrase


def _embedder(paths: AppPaths, index: Any) -> Any:
    from app.core.docs import load_embedder

    # Two threads at most: indexing must leave cores for the model and the desktop. The
    # index's own copy of the model: questions are embedded as its documents were.
    return load_embedder(paths, threads=min(2, os.cpu_count() or 1), variant=index.embedder)


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(seconds + 0.5)
    return f"{s // 60}:{s % 60:02d}"


def _add(args: argparse.Namespace) -> int:
    from app.core.docs import IngestJob, Progress
    from app.core.docs.schema import FAST_EMBEDDER

    paths, index, _ = _open(args)
    tty = sys.stderr.isatty()

    def show(p: Progress) -> None:
        if p.current is not None:
            return
        line = (f"{p.files_done}/{p.files_total} files, {p.chunks} chunks, "
                f"{p.skipped} skipped, ETA {_eta(p.eta_s)}")
        sys.stderr.write(("\r" + line + "   ") if tty else line + "\n")
        sys.stderr.flush()

    try:
        embedder = _embedder(paths, index)
        job = IngestJob(index, embedder, [Path(p) for p in args.paths], args.collection,
                        local_only=args.local_only, on_progress=show).start()
        interrupted = False
        report = None
        while report is None:
            try:
                report = job.wait(0.2)
            except KeyboardInterrupt:
                # Stop after the current batch; files already written stay indexed.
                interrupted = True
                job.cancel()
                sys.stderr.write("\nstopping after the current batch…\n")
                report = job.wait()
    finally:
        index.close()
    if tty:
        sys.stderr.write("\n")
    counts = {k: len(report.having(k)) for k in ("indexed", "unchanged", "skipped", "removed")}
    print(f"Collection {args.collection}: " + ", ".join(f"{v} {k}" for k, v in counts.items())
          + f" ({report.embedded_chunks} chunks embedded on {embedder.provider} by the "
            f"{'int8' if embedder.variant == FAST_EMBEDDER else 'exact'} model copy, "
            f"{report.elapsed_s:.1f} s, {report.chunks_per_s:.1f} chunks/s)")
    for f in report.files:
        if f.outcome == "skipped":
            print(f"  skipped {f.path}: {f.reason}")
        elif f.warning:
            print(f"  warning {f.path}: {f.warning}")
    if report.cancelled or interrupted:
        print("Cancelled: the files listed above were finished; run the command again to "
              "continue.", file=sys.stderr)
        return 130
    return 0


def _list(args: argparse.Namespace) -> int:
    _, index, _ = _open(args)
    try:
        collections = index.collections()
        files = index.files()
    finally:
        index.close()
    report = []
    for c in collections:
        report.append({
            "name": c.name, "local_only": c.local_only, "files": c.files, "chunks": c.chunks,
            "documents": [
                {"path": f.path, "status": f.status, "chunks": f.chunks, "size": f.size,
                 "reason": f.error, "warning": f.warning}
                for f in files if f.collection == c.name
            ],
        })
    if args.json:
        print_json({"collections": report})
        return 0
    if not report:
        print("No document collections yet. Add one with: enclave docs add PATH --collection NAME")
    for c in report:
        flag = "  [local only]" if c["local_only"] else ""
        print(f"{c['name']}: {c['files']} files, {c['chunks']} chunks{flag}")
        for d in c["documents"]:
            if d["status"] == "skipped":
                print(f"  skipped  {d['path']}: {d['reason']}")
            else:
                warn = f"  (warning: {d['warning']})" if d["warning"] else ""
                print(f"  {d['chunks']:>6}   {d['path']}{warn}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    if args.path is None and args.collection is None:
        raise EnclaveError("Nothing to remove.", "Name a file, or --collection NAME.")
    _, index, _ = _open(args)
    try:
        if args.path is None:
            n = index.remove_collection(args.collection)
            print(f"Removed collection {args.collection} ({n} files).")
            return 0
        path = os.path.abspath(args.path)
        n = index.remove_file(path, args.collection)
    finally:
        index.close()
    if n == 0:
        raise EnclaveError(f"{path} is not in any document collection.",
                           "See what is indexed with: enclave docs list")
    print(f"Removed {path} from {n} collection(s).")
    return 0


def _retrieve(index: Any, paths: AppPaths, question: str, collection: str | None,
              budget: int, limit: int) -> list[Any]:
    from app.core.docs import retrieve

    collections = [index.collection(collection).name] if collection else None
    embedder = _embedder(paths, index)
    return retrieve(index, embedder.embed_one(question), question, collections=collections,
                    token_budget=budget, max_passages=limit)


def _where(file: str, page: int | None, heading: str | None) -> str:
    if page is not None:
        return f"{file} p.{page}"
    return f"{file} § {heading}" if heading else file


def _search(args: argparse.Namespace) -> int:
    paths, index, _ = _open(args)
    try:
        passages = _retrieve(index, paths, args.query, args.collection, 10**9, args.limit)
    finally:
        index.close()
    if args.json:
        print_json([
            {"rank": i, "file": p.file, "collection": p.collection, "page": p.page,
             "heading": p.heading, "char_start": p.char_start, "char_end": p.char_end,
             "score": round(p.score, 6), "flagged": p.flagged, "reason": p.reason,
             "text": p.text}
            for i, p in enumerate(passages, start=1)
        ])
        return 0
    if not passages:
        print("No matching passages.")
    for i, p in enumerate(passages, start=1):
        flag = "FLAG" if p.flagged else "    "
        print(f"{i:>3}  {p.score:.4f}  {flag}  {_where(p.file, p.page, p.heading)}")
        print("       " + " ".join(p.text.split())[:160])
        if p.reason:
            print(f"       flagged: {p.reason}")
    return 0


def _ask(args: argparse.Namespace) -> int:
    from app.core.context import open_app

    question = " ".join(args.question)
    paths, index, passphrase = _open(args)
    index.close()  # opened here only to ask for the passphrase once, with a clear error
    app = open_app(paths, save=not args.no_save, passphrase=passphrase)
    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        app.chat.load_model(args.model)
        if app.chat.documents is not None:
            app.chat.documents.token_budget = args.budget
            app.chat.documents.max_passages = args.limit

        def write(piece: str) -> None:
            sys.stdout.write(piece)
            sys.stdout.flush()

        result = app.chat.send(question, on_token=write, cancel=cancel,
                               collections=[args.collection])
    finally:
        signal.signal(signal.SIGINT, previous)
        app.close()
    print_sources(result.sources or [], result.completion.text)
    return 0 if result.completion.finish_reason != "error" else 6


def print_sources(sources: list[Any], answer: str = "") -> None:
    """The numbered sources under an answer, flagged passages and invented citations marked."""
    from app.core.docs.prompt import unknown_citations

    print("\n\nSources:")
    if not sources:
        print("  (none: nothing in the collection matched the question)")
    for s in sources:
        print(f"  [{s.n}] {_where(s.file, s.page, s.heading)}")
        if s.flagged:
            print(f"      flagged: {s.reason}")
    for n in unknown_citations(answer, sources):
        print(f"  Note: the answer cites [{n}], but there is no source [{n}]; do not rely on it.")


def register(subparsers: Any) -> None:
    """Add ``enclave docs``."""
    parser = subparsers.add_parser("docs", help="index your documents and ask about them")
    sub = parser.add_subparsers(dest="docs_command", metavar="ACTION", required=True)

    def command(name: str, help_text: str, handler: Any) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
        add_passphrase_option(p)
        p.set_defaults(handler=handler)
        return p

    p = command("add", "index files and folders into a collection", _add)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--collection", required=True, metavar="NAME")
    p.add_argument("--local-only", action="store_true",
                   help="answers from this collection never leave this machine")

    p = command("list", "collections, files, chunk counts and skipped files", _list)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = command("remove", "remove a file, or a whole collection", _remove)
    p.add_argument("path", nargs="?", metavar="PATH")
    p.add_argument("--collection", metavar="NAME",
                   help="the collection to remove (or to remove PATH from)")

    p = command("search", "ranked passages for a query", _search)
    p.add_argument("query")
    p.add_argument("--collection", metavar="NAME")
    p.add_argument("--limit", type=bounded_int(1, 1000), default=10)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = command("ask", "answer a question from a collection, with sources", _ask)
    p.add_argument("question", nargs="+")
    p.add_argument("--collection", required=True, metavar="NAME")
    p.add_argument("--model", help="model id, file name or path (default: the default model)")
    p.add_argument("--budget", type=bounded_int(50, 1_000_000), default=1200,
                   help="tokens of passages to give the model (default 1200)")
    p.add_argument("--limit", type=bounded_int(1, 1000), default=5,
                   help="most passages to use (default 5)")
    p.add_argument("--no-save", action="store_true", help="do not keep this in history")
