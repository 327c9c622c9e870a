"""A Python package index on loopback (PEP 503 "simple" pages), serving wheels rebuilt from
packages installed in this virtualenv: a machine with no PyPI can still give a sandbox's
setup real dependencies to install (pure-Python ones: the wheels are tagged py3-none-any).
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from importlib import metadata
from pathlib import Path

from tests.support.loopback_files import LoopbackFiles


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


class PythonIndex(LoopbackFiles):
    """Serves /simple/<project>/ and /files/<wheel> on 127.0.0.1 (a free port) until closed."""

    def __init__(self, distributions: list[str]) -> None:
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}/simple/"
        self._wheels = dict(wheel_of_installed(name) for name in distributions)
        self._projects = {normalized(wheel.split("-")[0]): wheel for wheel in self._wheels}

    def answer(self, path: str) -> tuple[bytes, str] | None:
        parts = [p for p in path.split("/") if p]
        if len(parts) == 2 and parts[0] == "simple":
            page = self._page(normalized(parts[1]))
            return (page, "text/html") if page is not None else None
        if len(parts) == 2 and parts[0] == "files" and parts[1] in self._wheels:
            return self._wheels[parts[1]], "application/octet-stream"
        return None

    def _page(self, project: str) -> bytes | None:
        wheel = self._projects.get(project)
        if wheel is None:
            return None
        link = f'<a href="/files/{html.escape(wheel)}">{html.escape(wheel)}</a>'
        return f"<!DOCTYPE html><html><body>{link}</body></html>".encode()
