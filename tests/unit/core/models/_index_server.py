"""A package index on loopback that counts every request it gets and stops by itself.

It speaks the "simple" repository API (PEP 503 HTML) that pip reads, serving the wheels it is
given; with none it answers 404 to everything and only counts. It is a real HTTP server, not a
fake: pip talks to it exactly as to a site's own index.
"""

from __future__ import annotations

import hashlib
import html
import re
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import TracebackType


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class LoopbackIndex:
    """Serve ``wheels`` (file name -> bytes) on 127.0.0.1 and record each request path.

    Args:
        wheels: The wheels to list and serve.
        lifetime_s: The server stops on its own after this long, whatever happens.
        max_requests: ...or after this many requests.
    """

    def __init__(
        self, wheels: dict[str, bytes] | None = None, *, lifetime_s: float = 60.0,
        max_requests: int = 200,
    ) -> None:
        self.wheels = dict(wheels or {})
        self.hits: list[str] = []
        self._deadline = time.monotonic() + lifetime_s
        self._max = max_requests
        self._stop = threading.Event()
        index = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                index.hits.append(self.path)
                body, kind = index._answer(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self._server = HTTPServer(("127.0.0.1", 0), Handler)
        self._server.timeout = 0.1
        self._thread = threading.Thread(target=self._serve, name="loopback-index", daemon=True)

    @property
    def url(self) -> str:
        """The index URL to give pip (``http://127.0.0.1:PORT/simple``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/simple"

    def _answer(self, path: str) -> tuple[bytes | None, str]:
        path = path.split("?", 1)[0]
        if path.startswith("/files/"):
            return self.wheels.get(path.removeprefix("/files/")), "application/octet-stream"
        match = re.fullmatch(r"/simple/([^/]+)/?", path)
        if match is None:
            return None, ""
        project = _normalize(match.group(1))
        links = [
            f'<a href="/files/{html.escape(name)}#sha256={hashlib.sha256(data).hexdigest()}">'
            f"{html.escape(name)}</a>"
            for name, data in self.wheels.items()
            if _normalize(name.split("-", 1)[0]) == project
        ]
        if not links:
            return None, ""
        page = "<!DOCTYPE html><html><body>" + "<br>".join(links) + "</body></html>"
        return page.encode(), "text/html"

    def _serve(self) -> None:
        while (
            not self._stop.is_set()
            and time.monotonic() < self._deadline
            and len(self.hits) < self._max
        ):
            self._server.handle_request()

    def __enter__(self) -> LoopbackIndex:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.server_close()


def build_wheel(directory: Path, package: str, version: str, members: dict[str, bytes]) -> Path:
    """A minimal but well-formed wheel (pip reads its METADATA before accepting it)."""
    dist = package.replace("-", "_")
    wheel = directory / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    files = {
        **members,
        f"{info}/METADATA": (f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n"
                             ).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         b"Tag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr(f"{info}/RECORD", record)
    return wheel
