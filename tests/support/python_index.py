"""A Python package index on loopback (PEP 503 "simple" pages), serving wheels rebuilt from
packages installed in this virtualenv: a machine with no PyPI can still give a sandbox's
setup real dependencies to install (pure-Python ones: the wheels are tagged py3-none-any).
"""

from __future__ import annotations

import html
import io
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from types import TracebackType


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_of_installed(name: str) -> tuple[str, bytes]:
    """A wheel (file name, bytes) of the installed distribution `name`: its files inside
    site-packages (not scripts, not byte code), dist-info included."""
    dist = metadata.distribution(name)
    root = Path(str(dist.locate_file("")))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        for file in dist.files or []:
            path = str(file)
            if path.startswith("..") or "__pycache__" in path or path.endswith(".pyc"):
                continue
            if (root / path).is_file():
                wheel.write(root / path, path)
    project = re.sub(r"[-.]+", "_", dist.metadata["Name"])
    return f"{project}-{dist.version}-py3-none-any.whl", buffer.getvalue()


class PythonIndex:
    """Serves /simple/<project>/ and /files/<wheel> on 127.0.0.1 (a free port) until closed."""

    def __init__(self, distributions: list[str]) -> None:
        self.requests: list[str] = []
        self._wheels = dict(wheel_of_installed(name) for name in distributions)
        self._projects = {
            normalized(name): wheel
            for name in distributions
            for wheel in self._wheels
            if normalized(wheel.split("-")[0]) == normalized(name)
        }
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/simple/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> PythonIndex:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _page(self, project: str) -> bytes | None:
        wheel = self._projects.get(project)
        if wheel is None:
            return None
        link = f'<a href="/files/{html.escape(wheel)}">{html.escape(wheel)}</a>'
        return f"<!DOCTYPE html><html><body>{link}</body></html>".encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        index = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                index.requests.append(path)
                parts = [p for p in path.split("/") if p]
                body: bytes | None = None
                if len(parts) == 2 and parts[0] == "simple":
                    body, kind = index._page(normalized(parts[1])), "text/html"
                elif len(parts) == 2 and parts[0] == "files":
                    body, kind = index._wheels.get(parts[1]), "application/octet-stream"
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        return Handler
