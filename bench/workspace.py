"""Preparing /workspace from the mirror cache, next to cloning inside the sandbox's container.

Serves local bare repositories over loopback with `git daemon` (so every fetch is a real
network fetch, with partial-clone filters allowed as GitHub allows them) and prints, per
repository, medians of:

- cold: the prepare activity with an empty mirror cache, beside `git clone --depth 1` run
  inside a container of the same sandbox image;
- warm: prepare again on the filled mirror cache, beside `git clone --depth 50` inside it;
- the worker process's peak RSS during prepare (and the largest git child's).

Each prepare runs in a fresh child process, so its peak RSS is that prepare's alone.

Get bare repositories with, e.g.:

    git clone --bare https://github.com/pallets/flask /srv/bench/flask.git
    git clone --bare https://github.com/ansible/ansible /srv/bench/ansible.git
    uv run python bench/workspace.py --repo /srv/bench/flask.git#main \\
        --repo /srv/bench/ansible.git#devel [--runs 3]

Without --repo it uses the read-only snapshots at /work/.mirror/pallets+flask/repo (main)
and /work/.mirror/ansible+ansible/repo (devel) when they exist. Repositories are only read.
Needs Docker and the sandbox test image (built on first use, see tests/support/images.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from orchestration.activities.workspace_activities import WorkspaceActivities
from orchestration.models import RepositorySpec, SandboxRef, SandboxTarget, TaskInput
from orchestration.workspace.mirror import MirrorCache
from sandbox.docker_backend import DockerSandbox
from sandbox.interface import SandboxSpec
from tests.support.images import ensure_test_image

SNAPSHOTS = ("/work/.mirror/pallets+flask/repo#main", "/work/.mirror/ansible+ansible/repo#devel")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def git_daemon(repos: dict[str, Path]) -> Iterator[str]:
    """Serve repos (by name) read-only on loopback; yields the base URL."""
    with tempfile.TemporaryDirectory(prefix="fixbot-bench-serve-") as base:
        for name, path in repos.items():
            (Path(base) / name).symlink_to(path.resolve())
        port = free_port()
        daemon = subprocess.Popen(
            [
                "git",
                "-c",
                "uploadpack.allowFilter=true",
                "-c",
                "uploadpack.allowAnySHA1InWant=true",
                "daemon",
                "--export-all",
                "--reuseaddr",
                f"--base-path={base}",
                "--listen=127.0.0.1",
                f"--port={port}",
            ],
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port)
            yield f"git://127.0.0.1:{port}"
        finally:
            daemon.terminate()
            daemon.wait()


def wait_for_port(port: int) -> None:
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("git daemon did not start")


@contextmanager
def sandbox(backend: DockerSandbox, image: str, network: str = "none") -> Iterator[str]:
    task_id = f"bench-{uuid.uuid4().hex[:10]}"
    spec = SandboxSpec(task_id=task_id, workflow_id=task_id, image=image, network=network)
    info = backend.create(spec)
    try:
        yield info.sandbox_id
    finally:
        backend.destroy(info.sandbox_id)


def target(sandbox_id: str, url: str, branch: str, name: str) -> SandboxTarget:
    task = TaskInput(
        task_id="bench",
        title="bench",
        repositories=[RepositorySpec(url=url, branch=branch, name=name)],
        requester="bench",
        created_at=datetime.now(UTC),
    )
    return SandboxTarget(task=task, sandbox=SandboxRef(sandbox_id=sandbox_id, name=sandbox_id))


class DescendantRss:
    """Samples the summed RSS of this process's descendants (the gits) every 10 ms.

    ru_maxrss of children is useless here: a forked child counts the parent's pages it had
    before exec."""

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> DescendantRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.01):
            gits = [pid for pid in _descendants(me) if _command(pid).startswith("git")]
            self.peak_kb = max(self.peak_kb, sum(_rss_kb(pid) for pid in gits))


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _command(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text().strip()
    return ""


def _rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def child(url: str, branch: str, name: str, mirrors: Path, image: str) -> None:
    """One prepare in this (fresh) process; prints its time and peak memory as JSON."""
    backend = DockerSandbox()
    activities = WorkspaceActivities(
        backend, MirrorCache(mirrors), lambda _url: {}, protected_paths=[], allow_protected=False
    )
    with sandbox(backend, image) as sandbox_id:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        with DescendantRss() as gits:
            prepare = ActivityEnvironment().run(
                activities.prepare, target(sandbox_id, url, branch, name)
            )
            asyncio.run(prepare)
        seconds = time.perf_counter() - started
        worker = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        repo = f"/workspace/{name}"
        files = backend.exec(sandbox_id, ["git", "-C", repo, "ls-files"])
        commits = backend.exec(sandbox_id, ["git", "-C", repo, "rev-list", "--count", "HEAD"])
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rss_before_mb": before / 1024,
                "rss_peak_mb": worker / 1024,
                "git_peak_mb": gits.peak_kb / 1024,
                "files": len(files.stdout.splitlines()),
                "commits": int(commits.stdout or b"0"),
            }
        )
    )


def prepare_in_child(
    url: str, branch: str, name: str, mirrors: Path, image: str
) -> dict[str, float]:
    argv = [sys.executable, __file__, "--child", url, branch, name, str(mirrors), image]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def clone_in_container(
    backend: DockerSandbox, image: str, url: str, branch: str, depth: int
) -> float:
    """Seconds for `git clone --depth N` into /workspace inside a running sandbox container
    (network: host, to reach the loopback daemon)."""
    with sandbox(backend, image, network="host") as sandbox_id:
        argv = [
            "git",
            "clone",
            "--quiet",
            f"--depth={depth}",
            "--single-branch",
            "--branch",
            branch,
            url,
            "/workspace/clone",
        ]
        started = time.perf_counter()
        done = backend.exec(sandbox_id, argv)
        seconds = time.perf_counter() - started
        if done.exit_code != 0:
            raise RuntimeError(done.stderr.decode(errors="replace"))
    return seconds


def bench_repository(base: str, name: str, branch: str, runs: int, image: str) -> None:
    backend = DockerSandbox()
    url = f"{base}/{name}"
    cold, warm, cold_stats, warm_stats = [], [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="fixbot-bench-mirrors-") as mirrors:
            first = prepare_in_child(url, branch, name, Path(mirrors), image)
            second = prepare_in_child(url, branch, name, Path(mirrors), image)
        cold.append(first["seconds"])
        warm.append(second["seconds"])
        cold_stats.append(first)
        warm_stats.append(second)
    depth1 = [clone_in_container(backend, image, url, branch, 1) for _ in range(runs)]
    depth50 = [clone_in_container(backend, image, url, branch, 50) for _ in range(runs)]
    med = statistics.median
    files, commits = int(warm_stats[0]["files"]), int(warm_stats[0]["commits"])
    print(f"\n{name} ({branch}): {files:,} files, {commits} commits of history in the sandbox")
    print(
        f"  cold prepare (empty mirror cache) {med(cold):6.2f} s | clone --depth 1 in container"
        f"  {med(depth1):6.2f} s | difference {med(cold) - med(depth1):+.2f} s (target <= +1 s)"
    )
    print(
        f"  warm prepare                      {med(warm):6.2f} s | clone --depth 50 in container"
        f" {med(depth50):6.2f} s | ratio {med(warm) / med(depth50):.2f} (target <= 0.5)"
    )
    for label, stats in (("cold", cold_stats), ("warm", warm_stats)):
        print(
            f"  {label} peak RSS: worker {max(s['rss_peak_mb'] for s in stats):4.0f} MB"
            f" (before prepare {max(s['rss_before_mb'] for s in stats):.0f} MB),"
            f" gits at once {max(s['git_peak_mb'] for s in stats):4.0f} MB"
        )


def repo_name(path: Path) -> str:
    """flask for /srv/flask.git and for /work/.mirror/pallets+flask/repo."""
    if path.name == "repo":
        return path.parent.name.split("+")[-1]
    return path.name.removesuffix(".git")


def parse_repo(spec: str) -> tuple[Path, str]:
    path, _, branch = spec.partition("#")
    return Path(path), branch or "main"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        url, branch, name, mirrors, image = sys.argv[2:7]
        child(url, branch, name, Path(mirrors), image)
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repo", action="append", help="PATH#BRANCH of a bare repository")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    specs = args.repo or [s for s in SNAPSHOTS if Path(s.partition("#")[0]).is_dir()]
    if not specs:
        parser.error("no repositories: pass --repo PATH#BRANCH")
    repos = {repo_name(parse_repo(s)[0]): parse_repo(s) for s in specs}
    image = ensure_test_image()
    print(f"runs: {args.runs} (medians); image {image}; served by git daemon on loopback")
    with git_daemon({name: path for name, (path, _) in repos.items()}) as base:
        for name, (_, branch) in repos.items():
            bench_repository(base, name, branch, args.runs, image)


if __name__ == "__main__":
    main()
