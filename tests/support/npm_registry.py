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

from tests.support.loopback_files import LoopbackFiles


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


class NpmRegistry(LoopbackFiles):
    """Serves packages on 127.0.0.1 (a free port) until closed."""

    def __init__(self, packages: dict[str, dict[str, dict[str, str]]]) -> None:
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}/"
        self._packages = packages
        self._tarballs = {
            f"/{name}/-/{name}-{version}.tgz": package_tarball(name, version, files)
            for name, versions in packages.items()
            for version, files in versions.items()
        }

    def answer(self, path: str) -> tuple[bytes, str] | None:
        if path in self._tarballs:
            return self._tarballs[path], "application/octet-stream"
        if path.strip("/") in self._packages:
            return json.dumps(self.metadata(path.strip("/"))).encode(), "application/json"
        return None

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
