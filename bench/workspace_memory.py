"""The worker's memory while it prepares a workspace, beside the size of the repository.

Builds local bare repositories (a small baseline; a "bomb" of highly compressible files that
unpacks to --unpacked-mb; --files small files; --random-mb of incompressible files, whose
pack is as big as their tree) and runs one task on each, each in a fresh worker process (real
Temporal dev server, Docker sandbox, `claude`, git; a scripted model that answers "no fix" at
once), on an empty mirror cache:

    uv run python bench/workspace_memory.py [--unpacked-mb 1024] [--files 20000] [--random-mb 256]

Counted, per task: the worker process's RSS before the task and its peak during the task
(VmHWM, reset as the task starts; the process also holds the Temporal client and the
scripted model server), and the git processes under it, sampled from /proc every 10 ms (the
largest one, and all at once; the file:// fetch's serving side is among them). Not counted:
the Temporal dev server (a process of its own), dockerd, and the sandbox's container, where
the checkout runs. ru_maxrss of the waited-for children is shown but cannot tell a git's
size: a child counts from the pages of the process it was forked from, the worker's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from orchestration.client.task_factory import make_task
from orchestration.models import RepositorySpec, TaskStatus
from orchestration.runtime.backend import docker_backend, running_backend
from orchestration.runtime.settings import ApprovalSettings, GitSettings, SandboxSettings, Settings
from orchestration.testing.scripted_model import ModelScript, ScriptedModelServer, ScriptStep
from tests.support.images import TEST_IMAGE, ensure_test_image

MB = 1024 * 1024
TARGET_MB = 200
# room for a 1 GB tree: by default a tree past 1024 MB is refused, and the workspace (a tmpfs
# holding the tree and its .git) is charged to the container's memory limit
SANDBOX = SandboxSettings(
    image=TEST_IMAGE, max_unpacked_mb=2048, workspace_size_mb=3072, memory_mb=6144
)
NO_FIX = ModelScript(
    steps=[ScriptStep(tool="StructuredOutput", input={"outcome": "no_fix", "summary": "bench"})]
)
HEADER = (
    "repository", "files", "pack MB", "unpacked MB", "worker before MB", "worker peak MB",
    "largest git MB", "gits at once MB", "children ru_maxrss MB", "workspace s", "status",
)  # fmt: skip
File = tuple[str, int, bytes | None]  # path, size, a pattern repeated to size (None: random)


def chunks(size: int, pattern: bytes | None) -> Iterator[bytes]:
    block = (pattern * (MB // len(pattern) + 1))[:MB] if pattern else b""
    for start in range(0, size, MB):
        yield block[: size - start] if pattern else os.urandom(min(MB, size - start))


def build(bare: Path, files: list[File]) -> list[str]:
    """One commit of files on main, streamed into `git fast-import` (files past 1 MB go into
    the pack whole, not deltified); returns its files, pack MB and unpacked MB."""
    subprocess.run(["git", "init", "--bare", "-q", "-b", "main", str(bare)], check=True)
    argv = ["git", "--git-dir", str(bare), "fast-import", "--quiet", "--big-file-threshold=1m"]
    importer = subprocess.Popen(argv, stdin=subprocess.PIPE)
    assert importer.stdin is not None
    importer.stdin.write(b"commit refs/heads/main\ncommitter b <b@b.invalid> 0 +0000\ndata 0\n")
    for path, size, pattern in files:
        importer.stdin.write(f"M 100644 inline {path}\ndata {size}\n".encode())
        for chunk in chunks(size, pattern):
            importer.stdin.write(chunk)
        importer.stdin.write(b"\n")
    importer.stdin.close()
    if importer.wait() != 0:
        raise RuntimeError(f"git fast-import failed for {bare}")
    # the serving side (the upload-pack under the worker's fetch) sends big files as they are
    config = ["git", "--git-dir", str(bare), "config", "core.bigFileThreshold", "1m"]
    subprocess.run(config, check=True)
    pack = sum(p.stat().st_size for p in (bare / "objects").rglob("*") if p.is_file())
    unpacked = sum(size for _, size, _ in files)
    return [f"{len(files):,}", f"{pack / MB:.2f}", f"{unpacked / MB:,.2f}"]


def repositories(args: argparse.Namespace) -> dict[str, list[File]]:
    whole, rest = divmod(args.unpacked_mb, 64)
    sizes = [64 * MB] * whole + ([rest * MB] if rest else [])
    built: dict[str, list[File]] = {
        "baseline": [(f"src/m{i}.py", 1000, f"# module {i}\n".encode()) for i in range(5)],
        "bomb": [(f"blob{i:03}.bin", s, f"{i} ".encode()) for i, s in enumerate(sizes)],
        "many-files": [
            (f"d{i // 500:03}/f{i:06}.txt", 1024, f"file {i}\n".encode()) for i in range(args.files)
        ],
        "random": [(f"r{i:03}.bin", 32 * MB, None) for i in range(args.random_mb // 32)],
    }
    return {name: files for name, files in built.items() if files}


def proc_kb(pid: int | str, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class GitPeak(threading.Thread):
    """Every 10 ms, the RSS of each git process below this one: the largest, and all at once."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.largest_kb, self.at_once_kb, self.command = 0, 0, ""
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.01):
            total = 0
            for pid in descendants(os.getpid()):
                with contextlib.suppress(OSError, ValueError):
                    if not Path(f"/proc/{pid}/comm").read_text().startswith("git"):
                        continue
                    rss = proc_kb(pid, "VmRSS")
                    total += rss
                    if rss > self.largest_kb:
                        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
                        self.largest_kb, self.command = rss, subcommand(argv)
            self.at_once_kb = max(self.at_once_kb, total)


def descendants(root: int) -> list[int]:
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")")[-1].split()[1])
    found: list[int] = []
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parent.items() if ppid in frontier}
        found += frontier
    return found


def subcommand(argv: list[str]) -> str:
    """`pack-objects` for `git --git-dir X -c k=v pack-objects ...`."""
    words = iter(argv[1:])
    for word in words if Path(argv[0]).name == "git" else ():
        if word in ("--git-dir", "-c", "-C"):
            next(words, None)
        elif not word.startswith("-"):
            return word
    return Path(argv[0]).name


def start_measuring() -> int:
    """This process's RSS now, in kB; VmHWM is reset to it, so its peak is what follows."""
    before = proc_kb("self", "VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    return before


async def one_task(workdir: Path, url: str) -> dict[str, Any]:
    """In the worker's (fresh) process: start the stack, run one task, return the figures."""
    with ScriptedModelServer(NO_FIX) as model:
        settings = Settings(
            _env_file=None,
            data_dir=workdir,
            anthropic_base_url=model.url,
            anthropic_api_key=SecretStr("scripted"),
            sandbox=SANDBOX,
            git=GitSettings(allow_local_repositories=True),
            approval=ApprovalSettings(allow_skip=True),
        )
        async with running_backend(settings, docker_backend(), fixed_ports=False) as runtime:
            repo = RepositorySpec(url=url, branch="main", name="repo")
            task = make_task(
                settings, title="memory", requester="bench", require_approval=False,
                repositories=[repo],
            )  # fmt: skip
            gits, before = GitPeak(), start_measuring()
            gits.start()
            try:
                await runtime.gateway.start(task)
                result = await runtime.gateway.result(task.task_id)
            finally:
                gits.done.set()
                gits.join()
            # read before the Temporal dev server (a child too) is stopped and waited for
            children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    failed = result.status is not TaskStatus.NO_CHANGE
    return {
        "error": (result.error or "no error given") if failed else None,
        "row": [
            f"{before / 1024:.0f}",
            f"{proc_kb('self', 'VmHWM') / 1024:.0f}",
            f"{gits.largest_kb / 1024:.0f} ({gits.command})",
            f"{gits.at_once_kb / 1024:.0f}",
            f"{children / 1024:.0f}",
            f"{result.step_seconds.get('workspace', float('nan')):.2f}",
            result.status.value,
        ],
    }


def in_child(workdir: Path, url: str) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", str(workdir), url]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the worker process failed:\n{done.stderr[-4000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(asyncio.run(one_task(Path(sys.argv[2]), sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--unpacked-mb", type=int, default=1024, help="the bomb's size")
    parser.add_argument("--files", type=int, default=20000, help="0: no many-files repository")
    parser.add_argument("--random-mb", type=int, default=256, help="0: no random repository")
    args = parser.parse_args()
    ensure_test_image()
    limits = SANDBOX.model_dump(include={"max_unpacked_mb", "workspace_size_mb", "memory_mb"})
    print(f"sandbox settings {limits} (defaults 1024, 2048, 4096); an empty mirror cache each")
    rows, failures = [HEADER], []
    with tempfile.TemporaryDirectory(prefix="fixbot-bench-memory-") as tmp:
        for name, files in repositories(args).items():
            bare = Path(tmp) / f"{name}.git"
            sizes = build(bare, files)
            print(
                f"built {name}: {sizes[0]} files, pack {sizes[1]} MB, unpacked {sizes[2]} MB",
                flush=True,
            )
            run = in_child(Path(tmp) / f"state-{name}", bare.as_uri())
            rows.append((name, *sizes, *run["row"]))
            if run["error"]:
                failures.append(f"{name} failed: {run['error']}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    for row in rows:
        cells = [cell.rjust(width) for cell, width in zip(row, widths, strict=True)]
        print("  ".join([row[0].ljust(widths[0]), *cells[1:]]))
    print("\n".join([*failures, f"target: worker peak RSS under {TARGET_MB} MB whatever the size"]))


if __name__ == "__main__":
    main()
