"""A minimal npm registry on loopback: package metadata and tarballs, as npm fetches them.

It serves the packages it is given (name → version → files) and counts the requests, so a
test can tell whether setup ran (it fetched) or a snapshot was reused (it did not).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


def package_tarball(name: str, version: str, files: dict[str, str]) -> bytes:
    """An npm package tarball: everything under `package/`, with its package.json."""
    manifest = {"name": name, "version": version, "main": "index.js"}
    contents = {"package.json": json.dumps(manifest), **files}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, text in contents.items():
            data = text.encode()
            info = tarfile.TarInfo(f"package/{path}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class NpmRegistry:
    """Serves packages on 127.0.0.1 (a free port) until closed."""

    def __init__(self, packages: dict[str, dict[str, dict[str, str]]]) -> None:
        self.requests: list[str] = []
        self._tarballs: dict[str, bytes] = {}
        self._packages = packages
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        for name, versions in packages.items():
            for version, files in versions.items():
                self._tarballs[f"/{name}/-/{name}-{version}.tgz"] = package_tarball(
                    name, version, files
                )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> NpmRegistry:
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

    def metadata(self, name: str) -> dict[str, object]:
        versions = {}
        for version in self._packages[name]:
            path = f"/{name}/-/{name}-{version}.tgz"
            tarball = self._tarballs[path]
            integrity = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
            versions[version] = {
                "name": name,
                "version": version,
                "dist": {
                    "tarball": f"{self.url.rstrip('/')}{path}",
                    "shasum": hashlib.sha1(tarball).hexdigest(),  # noqa: S324 - npm's format
                    "integrity": f"sha512-{integrity}",
                },
            }
        latest = sorted(self._packages[name])[-1]
        return {"name": name, "versions": versions, "dist-tags": {"latest": latest}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                registry.requests.append(path)
                if path in registry._tarballs:
                    self._send(registry._tarballs[path], "application/octet-stream")
                elif path.strip("/") in registry._packages:
                    body = json.dumps(registry.metadata(path.strip("/"))).encode()
                    self._send(body, "application/json")
                else:
                    self.send_error(404)

            def _send(self, body: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        return Handler
