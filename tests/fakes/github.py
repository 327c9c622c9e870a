"""A small GitHub on 127.0.0.1 for tests: git smart HTTP plus the API calls PyGithub makes.

The layout is GitHub Enterprise's: git at `/{owner}/{repo}.git`, REST under `/api/v3`, GraphQL at
`/api/graphql`. Git is served by the real `git http-backend` (CGI). Everything runs on a background
thread, so synchronous PyGithub calls in the test and asyncio tests can both talk to it.
"""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import parse_qs, urlencode, urlsplit

_DOCS = "https://docs.github.com/rest"
_CHUNK = 64 * 1024
_GIT_PATH = re.compile(r"^/(?P<owner>[^/]+)/(?P<repo>[^/]+)\.git(?P<rest>/.*)$")
_REPO_API = re.compile(r"^/api/v3/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)(?P<rest>/.*)?$")
_PULL_NUMBER = re.compile(r"^/pulls/(?P<number>[0-9]+)$")
_IDENTITY = {
    "GIT_AUTHOR_NAME": "Fake GitHub",
    "GIT_AUTHOR_EMAIL": "fake@github.invalid",
    "GIT_COMMITTER_NAME": "Fake GitHub",
    "GIT_COMMITTER_EMAIL": "fake@github.invalid",
}

Json = dict[str, Any]


@dataclass
class PullRecord:
    """A pull request as the fake stores it."""

    owner: str
    repo: str
    number: int
    node_id: str
    head: str
    base: str
    head_sha: str
    title: str
    body: str | None
    draft: bool
    created_at: datetime
    state: str = "open"
    auto_merge: Json | None = None
    closed_at: datetime | None = None


@dataclass
class _Repo:
    """A bare repository the fake serves."""

    owner: str
    name: str
    path: Path
    default_branch: str
    private: bool
    repo_id: int


@dataclass
class _Fault:
    """A canned answer for the next matching requests."""

    method: str
    pattern: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: bytes
    times: int


@dataclass
class _State:
    """Everything the fake knows, behind one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    repos: dict[tuple[str, str], _Repo] = field(default_factory=dict)
    pulls: list[PullRecord] = field(default_factory=list)
    faults: list[_Fault] = field(default_factory=list)
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    children: set[subprocess.Popen[bytes]] = field(default_factory=set)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))


def _git(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run git for the fake's own bookkeeping and return stdout."""
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env or _git_env(), capture_output=True, check=True, timeout=60
    )
    return result.stdout.decode("utf-8", "replace")


def _git_env(home: Path | None = None) -> dict[str, str]:
    """An environment for git that ignores the developer's own configuration."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1"}
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["HOME"] = str(home) if home is not None else os.devnull
    return {**env, **_IDENTITY}


def _error(message: str, status: int, **extra: Any) -> Json:
    """GitHub's error JSON."""
    return {"message": message, "documentation_url": _DOCS, "status": str(status), **extra}


def _validation_failed(*errors: Json) -> Json:
    """GitHub's 422 body."""
    return _error("Validation Failed", 422, errors=list(errors))


def _encode_body(body: str | bytes | Json | list[Any]) -> bytes:
    """A canned body as bytes: JSON for objects and lists, UTF-8 for text."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def _iso(moment: datetime | None) -> str | None:
    """A timestamp the way GitHub writes it."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGitHub:
    """The fake: start it, create repositories, point PyGithub and git at it, then inspect it."""

    def __init__(self, token: str | None = None, login: str = "fixbot") -> None:
        """Configure the fake; nothing runs until `start()`."""
        self.token = token if token is not None else f"ghp_fake{secrets.token_hex(16)}"
        self.login = login
        self._state = _State()
        self._root: Path | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        """Listen on 127.0.0.1 (a free port) and serve on a background thread."""
        self._root = Path(tempfile.mkdtemp(prefix="fake-github-"))
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-github"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, kill CGI children, close connections, remove the temp root."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            self._kill_children()
            server.close_open_connections()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> FakeGitHub:
        """Start on entry."""
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop on exit."""
        self.stop()

    def _kill_children(self) -> None:
        """Kill any `git http-backend` still running."""
        with self._state.lock:
            children = list(self._state.children)
        for child in children:
            with contextlib.suppress(OSError):
                child.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)

    # addresses ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the fake listens on."""
        if self._server is None:
            raise RuntimeError("the fake GitHub is not running")
        return int(self._server.server_address[1])

    @property
    def web_host(self) -> str:
        """`127.0.0.1:PORT`, the host part of web and clone URLs."""
        return f"127.0.0.1:{self.port}"

    @property
    def web_url(self) -> str:
        """The web root, like `https://github.example.com`."""
        return f"http://{self.web_host}"

    @property
    def api_url(self) -> str:
        """The REST base URL to give PyGithub."""
        return f"{self.web_url}/api/v3"

    @property
    def root(self) -> Path:
        """Where the bare repositories live."""
        if self._root is None:
            raise RuntimeError("the fake GitHub is not running")
        return self._root

    # repositories ------------------------------------------------------------------------------

    def create_repo(
        self,
        owner: str,
        name: str,
        files: dict[str, str],
        branch: str = "main",
        private: bool = False,
    ) -> str:
        """Create a bare repository with one commit holding `files`; return its clone URL."""
        path = self.root / owner / f"{name}.git"
        _git(["init", "--quiet", "--bare", f"--initial-branch={branch}", str(path)])
        _git(["config", "uploadpack.allowReachableSHA1InWant", "true"], cwd=path)
        if files:
            self._seed(path, files, branch)
        with self._state.lock:
            repo_id = next(self._state.ids)
            self._state.repos[(owner, name)] = _Repo(owner, name, path, branch, private, repo_id)
        return self.clone_url(owner, name)

    def _seed(self, bare: Path, files: dict[str, str], branch: str) -> None:
        """Commit `files` on `branch` of the bare repository."""
        with tempfile.TemporaryDirectory(prefix="seed-", dir=self.root) as work:
            tree = Path(work)
            _git(["init", "--quiet", f"--initial-branch={branch}"], cwd=tree)
            for relative, text in files.items():
                target = tree / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            _git(["add", "--all"], cwd=tree)
            _git(["commit", "--quiet", "--no-gpg-sign", "-m", "Initial commit"], cwd=tree)
            _git(["push", "--quiet", str(bare), f"HEAD:refs/heads/{branch}"], cwd=tree)

    def clone_url(self, owner: str, name: str) -> str:
        """`http://127.0.0.1:PORT/owner/name.git`."""
        return f"{self.web_url}/{owner}/{name}.git"

    def repo_path(self, owner: str, name: str) -> Path:
        """The bare repository's directory."""
        return self._repo(owner, name).path

    def branch_sha(self, owner: str, name: str, branch: str) -> str | None:
        """The branch's commit, or None when it does not exist."""
        return _rev_parse(self.repo_path(owner, name), f"refs/heads/{branch}")

    def read_file(self, owner: str, name: str, ref: str, path: str) -> str:
        """A file's text at `ref`."""
        return _git(["show", f"{ref}:{path}"], cwd=self.repo_path(owner, name))

    def diff(self, owner: str, name: str, base: str, head: str) -> str:
        """`git diff --binary base head` in the bare repository."""
        return _git(["diff", "--binary", base, head, "--"], cwd=self.repo_path(owner, name))

    def _repo(self, owner: str, name: str) -> _Repo:
        """The repository record, or KeyError."""
        with self._state.lock:
            return self._state.repos[(owner, name)]

    def _find_repo(self, owner: str, name: str) -> _Repo | None:
        """The repository record, or None."""
        with self._state.lock:
            return self._state.repos.get((owner, name))

    # faults and records ------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        body: str | bytes | Json | list[Any] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests matching method and path (re.search) with `status`."""
        if body is None:
            body = _error(HTTPStatus(status).phrase, status) if status >= 400 else {}
        raw = _encode_body(body)
        fault = _Fault(method.upper(), re.compile(path_regex), status, headers or {}, raw, times)
        with self._state.lock:
            self._state.faults.append(fault)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        """The first armed fault matching this request, consuming one use of it."""
        with self._state.lock:
            for fault in self._state.faults:
                if fault.method == method and fault.pattern.search(path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._state.faults.remove(fault)
                    return fault
        return None

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        """Every request so far as (method, path without query, status)."""
        with self._state.lock:
            return list(self._state.requests)

    def _record(self, method: str, path: str, status: int) -> None:
        """Remember one answered request."""
        with self._state.lock:
            self._state.requests.append((method, path, status))

    def pulls(self, owner: str, repo: str) -> list[PullRecord]:
        """Copies of the repository's pull requests, oldest first."""
        with self._state.lock:
            return [replace(p) for p in self._state.pulls if (p.owner, p.repo) == (owner, repo)]

    # API behaviour (called from handler threads) -------------------------------------------------

    def _authorized_api(self, header: str | None) -> bool:
        """`token X` or `Bearer X` with the fake's token."""
        if header is None:
            return False
        kind, _, value = header.partition(" ")
        return kind.lower() in {"token", "bearer"} and secrets.compare_digest(value, self.token)

    def _basic_credentials(self, header: str | None) -> tuple[str, str] | None:
        """The (user, password) of a Basic header, or None."""
        if header is None or not header.lower().startswith("basic "):
            return None
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except ValueError:
            return None
        user, sep, password = decoded.partition(":")
        return (user, password) if sep else None

    def _user_json(self, login: str) -> Json:
        """A minimal GitHub user object."""
        return {
            "login": login,
            "id": sum(map(ord, login)),
            "node_id": f"U_{login}",
            "type": "User",
            "url": f"{self.api_url}/users/{login}",
            "html_url": f"{self.web_url}/{login}",
        }

    def _repo_json(self, repo: _Repo) -> Json:
        """The repository object PyGithub expects from GET /repos/{o}/{r}."""
        full = f"{repo.owner}/{repo.name}"
        return {
            "id": repo.repo_id,
            "node_id": f"R_{repo.repo_id}",
            "name": repo.name,
            "full_name": full,
            "owner": self._user_json(repo.owner),
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "html_url": f"{self.web_url}/{full}",
            "url": f"{self.api_url}/repos/{full}",
            "pulls_url": f"{self.api_url}/repos/{full}/pulls{{/number}}",
            "clone_url": self.clone_url(repo.owner, repo.name),
            "default_branch": repo.default_branch,
            "allow_auto_merge": True,
            "archived": False,
        }

    def _branch_json(self, repo: _Repo, ref: str, sha: str) -> Json:
        """The `head` / `base` object of a pull request."""
        return {
            "label": f"{repo.owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self._user_json(repo.owner),
            "repo": self._repo_json(repo),
        }

    def _pull_json(self, pull: PullRecord) -> Json:
        """A pull request object as GitHub renders it."""
        repo = self._repo(pull.owner, pull.repo)
        full = f"{pull.owner}/{pull.repo}"
        head_sha = _rev_parse(repo.path, f"refs/heads/{pull.head}") or pull.head_sha
        base_sha = _rev_parse(repo.path, f"refs/heads/{pull.base}") or ""
        return {
            "url": f"{self.api_url}/repos/{full}/pulls/{pull.number}",
            "id": pull.number + repo.repo_id * 100000,
            "node_id": pull.node_id,
            "html_url": f"{self.web_url}/{full}/pull/{pull.number}",
            "diff_url": f"{self.web_url}/{full}/pull/{pull.number}.diff",
            "patch_url": f"{self.web_url}/{full}/pull/{pull.number}.patch",
            "issue_url": f"{self.api_url}/repos/{full}/issues/{pull.number}",
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "body": pull.body,
            "user": self._user_json(self.login),
            "created_at": _iso(pull.created_at),
            "updated_at": _iso(pull.created_at),
            "closed_at": _iso(pull.closed_at),
            "merged_at": None,
            "merged": False,
            "draft": pull.draft,
            "auto_merge": pull.auto_merge,
            "head": self._branch_json(repo, pull.head, head_sha),
            "base": self._branch_json(repo, pull.base, base_sha),
        }

    def _list_pulls(self, repo: _Repo, query: dict[str, str]) -> list[PullRecord]:
        """Pull requests filtered by state, head (`owner:branch`) and base, newest first."""
        state = query.get("state", "open")
        head = query.get("head")
        base = query.get("base")
        found = [
            p
            for p in self.pulls(repo.owner, repo.name)
            if state in {"all", p.state}
            and (head is None or head in {f"{p.owner}:{p.head}", p.head})
            and (base is None or base == p.base)
        ]
        return sorted(found, key=lambda p: p.number, reverse=True)

    def _create_pull(self, repo: _Repo, data: Json) -> tuple[int, Json]:
        """POST /repos/{o}/{r}/pulls."""
        missing = [k for k in ("head", "base", "title") if not isinstance(data.get(k), str)]
        if missing:
            return 422, _validation_failed(
                *({"resource": "PullRequest", "field": k, "code": "missing_field"} for k in missing)
            )
        owner, _, head = str(data["head"]).rpartition(":")
        base = str(data["base"])
        head_sha = _rev_parse(repo.path, f"refs/heads/{head}")
        if owner not in {"", repo.owner} or head_sha is None:
            return 422, _validation_failed(
                {"resource": "PullRequest", "field": "head", "code": "invalid"}
            )
        base_sha = _rev_parse(repo.path, f"refs/heads/{base}")
        if base_sha is None:
            return 422, _validation_failed(
                {"resource": "PullRequest", "field": "base", "code": "invalid"}
            )
        with self._state.lock:
            return self._insert_pull(repo, data, head, base, head_sha, base_sha)

    def _insert_pull(
        self, repo: _Repo, data: Json, head: str, base: str, head_sha: str, base_sha: str
    ) -> tuple[int, Json]:
        """Store a new pull request unless an open one has the same head and base (lock held)."""
        key = (repo.owner, repo.name, head, base)
        for pull in self._state.pulls:
            if (pull.owner, pull.repo, pull.head, pull.base) == key and pull.state == "open":
                message = f"A pull request already exists for {repo.owner}:{head}."
                return 422, _validation_failed(
                    {"resource": "PullRequest", "code": "custom", "message": message}
                )
        if _is_ancestor(repo.path, head_sha, base_sha):
            message = f"No commits between {base} and {head}"
            return 422, _validation_failed(
                {"resource": "PullRequest", "code": "custom", "message": message}
            )
        number = 1 + sum(1 for p in self._state.pulls if (p.owner, p.repo) == key[:2])
        node_id = "PR_" + base64.urlsafe_b64encode(f"{key[0]}/{key[1]}#{number}".encode()).decode()
        pull = PullRecord(
            owner=repo.owner,
            repo=repo.name,
            number=number,
            node_id=node_id,
            head=head,
            base=base,
            head_sha=head_sha,
            title=str(data["title"]),
            body=data.get("body"),
            draft=bool(data.get("draft", False)),
            created_at=datetime.now(UTC),
        )
        self._state.pulls.append(pull)
        return 201, {"_number": number}

    def _find_pull(self, repo: _Repo, number: int) -> PullRecord | None:
        """The live record of pull request `number` (lock held by the caller)."""
        for pull in self._state.pulls:
            if (pull.owner, pull.repo, pull.number) == (repo.owner, repo.name, number):
                return pull
        return None

    def _edit_pull(self, repo: _Repo, number: int, data: Json) -> bool:
        """PATCH title, body, state; False when there is no such pull request."""
        with self._state.lock:
            pull = self._find_pull(repo, number)
            if pull is None:
                return False
            if isinstance(data.get("title"), str):
                pull.title = data["title"]
            if "body" in data:
                pull.body = data["body"]
            if data.get("state") in {"open", "closed"}:
                pull.state = data["state"]
                pull.closed_at = datetime.now(UTC) if pull.state == "closed" else None
            return True

    def _set_auto_merge(self, node_id: str, variables: Json, enable: bool) -> PullRecord | None:
        """Turn auto-merge on or off for the pull request with this node id."""
        with self._state.lock:
            for pull in self._state.pulls:
                if pull.node_id == node_id:
                    pull.auto_merge = self._auto_merge_json(variables) if enable else None
                    return pull
        return None

    def _auto_merge_json(self, variables: Json) -> Json:
        """The REST `auto_merge` object for an enablePullRequestAutoMerge input."""
        return {
            "enabled_by": self._user_json(self.login),
            "merge_method": str(variables.get("mergeMethod", "MERGE")).lower(),
            "commit_title": variables.get("commitHeadline"),
            "commit_message": variables.get("commitBody"),
        }

    def _graphql(self, data: Json) -> Json:
        """The two auto-merge mutations PyGithub sends; anything else is an error."""
        query = str(data.get("query", ""))
        variables = data.get("variables") or {}
        mutation_input = variables.get("input") or {}
        for name, enable in (
            ("enablePullRequestAutoMerge", True),
            ("disablePullRequestAutoMerge", False),
        ):
            if f"{name}(" in query:
                return self._auto_merge_mutation(name, enable, mutation_input)
        return {"errors": [{"message": "the fake GitHub does not support this query"}]}

    def _auto_merge_mutation(self, name: str, enable: bool, mutation_input: Json) -> Json:
        """Run one auto-merge mutation."""
        node_id = str(mutation_input.get("pullRequestId", ""))
        pull = self._set_auto_merge(node_id, mutation_input, enable)
        if pull is None:
            message = f"Could not resolve to a node with the global id of '{node_id}'"
            return {
                "data": {name: None},
                "errors": [{"type": "NOT_FOUND", "path": [name], "message": message}],
            }
        actor = {"avatarUrl": "", "login": self.login, "resourcePath": f"/{self.login}", "url": ""}
        return {
            "data": {
                name: {"actor": actor, "clientMutationId": mutation_input.get("clientMutationId")}
            }
        }

    # git behaviour -----------------------------------------------------------------------------

    def _git_env_for(
        self, handler: _Handler, path: str, query: str, user: str | None
    ) -> dict[str, str]:
        """The CGI environment for one `git http-backend` run."""
        env = _git_env(self.root)
        env.update(
            GIT_PROJECT_ROOT=str(self.root),
            GIT_HTTP_EXPORT_ALL="1",
            PATH_INFO=path,
            QUERY_STRING=query,
            REQUEST_METHOD=handler.command,
            CONTENT_TYPE=handler.headers.get("Content-Type", ""),
            REMOTE_ADDR=handler.client_address[0],
            SERVER_PROTOCOL="HTTP/1.1",
            GATEWAY_INTERFACE="CGI/1.1",
        )
        length = handler.headers.get("Content-Length")
        if length is not None and "chunked" not in handler.headers.get("Transfer-Encoding", ""):
            env["CONTENT_LENGTH"] = length
        for header in ("Content-Encoding", "Git-Protocol"):
            value = handler.headers.get(header)
            if value is not None:
                env["HTTP_" + header.upper().replace("-", "_")] = value
        if user is not None:
            env["REMOTE_USER"] = user
        return env

    def _spawn_backend(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start `git http-backend`, tracked so `stop()` can kill it."""
        log = (self.root / "http-backend.log").open("ab")
        try:
            child = subprocess.Popen(
                ["git", "http-backend"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                cwd=self.root,
            )
        finally:
            log.close()
        with self._state.lock:
            self._state.children.add(child)
        return child

    def _reap(self, child: subprocess.Popen[bytes]) -> None:
        """Wait for a CGI child and forget it."""
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        with self._state.lock:
            self._state.children.discard(child)


def _rev_parse(repo: Path, ref: str) -> str | None:
    """The commit `ref` names in `repo`, or None."""
    result = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        cwd=repo,
        env=_git_env(),
        capture_output=True,
        check=False,
        timeout=30,
    )
    return result.stdout.decode().strip() if result.returncode == 0 else None


def _is_ancestor(repo: Path, ancestor: str, descendant: str) -> bool:
    """Whether `ancestor` is reachable from `descendant`."""
    result = subprocess.run(
        ["git", "merge-base", "--is-ancestor", ancestor, descendant],
        cwd=repo,
        env=_git_env(),
        capture_output=True,
        check=False,
        timeout=30,
    )
    return result.returncode == 0


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that can close its keep-alive connections on stop."""

    daemon_threads = False
    block_on_close = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], fake: FakeGitHub
    ) -> None:
        """Bind and remember the fake."""
        self.fake = fake
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept and track a connection."""
        sock, address = super().get_request()
        with self._open_lock:
            self._open.add(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        """Forget and close a connection."""
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """Shut down every tracked connection so handler threads end."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Routes one HTTP request to faults, the REST API, GraphQL or git."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeGitHub/1.0"
    timeout = 30
    server: _Server

    def do_GET(self) -> None:
        """Dispatch GET."""
        self._dispatch()

    def do_POST(self) -> None:
        """Dispatch POST."""
        self._dispatch()

    def do_PATCH(self) -> None:
        """Dispatch PATCH."""
        self._dispatch()

    def do_PUT(self) -> None:
        """Dispatch PUT."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Dispatch DELETE."""
        self._dispatch()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Record the answer instead of printing it."""
        self.fake._record(self.command, self._path, int(code) if isinstance(code, int) else 0)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    @property
    def fake(self) -> FakeGitHub:
        """The fake this server belongs to."""
        return self.server.fake

    @property
    def _path(self) -> str:
        """The request path without its query."""
        return urlsplit(self.path).path

    @property
    def _query(self) -> str:
        """The raw query string."""
        return urlsplit(self.path).query

    def _dispatch(self) -> None:
        """Send the request to whatever serves its path."""
        path = self._path
        fault = self.fake._take_fault(self.command, path)
        if fault is not None:
            self._discard_body()
            self._send(fault.status, fault.body, fault.headers)
            return
        git = _GIT_PATH.match(path)
        if git is not None:
            _GitRoute(self, git["owner"], git["repo"]).serve()
        elif path == "/api/graphql":
            self._serve_graphql()
        elif path.startswith("/api/v3/"):
            _ApiRoute(self).serve()
        else:
            self._discard_body()
            self._send_json(404, _error("Not Found", 404))

    def _serve_graphql(self) -> None:
        """POST /api/graphql."""
        data = self._read_json()
        if not self.fake._authorized_api(self.headers.get("Authorization")):
            self._send_json(401, _error("Bad credentials", 401))
        elif self.command != "POST":
            self._send_json(404, _error("Not Found", 404))
        else:
            self._send_json(200, self.fake._graphql(data))

    # bodies ------------------------------------------------------------------------------------

    def iter_body(self) -> Iterator[bytes]:
        """The request body in pieces, decoding chunked transfer encoding."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            yield from self._iter_chunked()
            return
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            piece = self.rfile.read(min(_CHUNK, remaining))
            if not piece:
                return
            remaining -= len(piece)
            yield piece

    def _iter_chunked(self) -> Iterator[bytes]:
        """Decode a chunked request body."""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in {b"\r\n", b"\n", b""}:
                    pass
                return
            yield self.rfile.read(size)
            self.rfile.readline()

    def _discard_body(self) -> None:
        """Read and drop the request body so the connection stays usable."""
        for _ in self.iter_body():
            pass

    def _read_json(self) -> Json:
        """The request body as a JSON object ({} when empty or not an object)."""
        raw = b"".join(self.iter_body())
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    # answers -----------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        """Send a complete answer with a Content-Length."""
        self.send_response(status)
        extra = headers or {}
        if not any(k.lower() == "content-type" for k in extra):
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        """Send JSON."""
        self._send(status, json.dumps(data).encode(), headers)

    def send_chunk(self, piece: bytes) -> None:
        """Write one chunk of a chunked answer (an empty piece ends it)."""
        self.wfile.write(f"{len(piece):X}\r\n".encode() + piece + b"\r\n")


class _ApiRoute:
    """One REST request under /api/v3."""

    def __init__(self, handler: _Handler) -> None:
        """Remember the handler."""
        self.handler = handler
        self.fake = handler.fake

    def serve(self) -> None:
        """Authenticate, then route."""
        data = self.handler._read_json() if self.handler.command in {"POST", "PATCH"} else {}
        if self.handler.command not in {"POST", "PATCH"}:
            self.handler._discard_body()
        if not self.fake._authorized_api(self.handler.headers.get("Authorization")):
            self.handler._send_json(401, _error("Bad credentials", 401))
            return
        match = _REPO_API.match(self.handler._path)
        repo = None if match is None else self.fake._find_repo(match["owner"], match["repo"])
        if match is None or repo is None:
            self.handler._send_json(404, _error("Not Found", 404))
            return
        self._route(repo, match["rest"] or "", data)

    def _route(self, repo: _Repo, rest: str, data: Json) -> None:
        """Pick the endpoint."""
        method = self.handler.command
        number = _PULL_NUMBER.match(rest)
        if rest == "" and method == "GET":
            self.handler._send_json(200, self.fake._repo_json(repo))
        elif rest == "/pulls" and method == "GET":
            self._list(repo)
        elif rest == "/pulls" and method == "POST":
            self._create(repo, data)
        elif number is not None and method in {"GET", "PATCH"}:
            self._one(repo, int(number["number"]), data if method == "PATCH" else None)
        else:
            self.handler._send_json(404, _error("Not Found", 404))

    def _list(self, repo: _Repo) -> None:
        """GET pulls with filters and Link-header pagination."""
        query = {k: v[-1] for k, v in parse_qs(self.handler._query).items()}
        pulls = self.fake._list_pulls(repo, query)
        per_page = max(1, min(100, int(query.get("per_page", "30"))))
        page = max(1, int(query.get("page", "1")))
        chosen = pulls[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(pulls):
            url = f"{self.fake.api_url}/repos/{repo.owner}/{repo.name}/pulls"
            params = urlencode({**query, "page": str(page + 1)})
            headers["Link"] = f'<{url}?{params}>; rel="next"'
        self.handler._send_json(200, [self.fake._pull_json(p) for p in chosen], headers)

    def _create(self, repo: _Repo, data: Json) -> None:
        """POST pulls."""
        status, answer = self.fake._create_pull(repo, data)
        if status == 201:
            answer = self._render(repo, int(answer["_number"])) or {}
        self.handler._send_json(status, answer)

    def _one(self, repo: _Repo, number: int, patch: Json | None) -> None:
        """GET or PATCH one pull request."""
        if patch is not None and not self.fake._edit_pull(repo, number, patch):
            self.handler._send_json(404, _error("Not Found", 404))
            return
        rendered = self._render(repo, number)
        status = 404 if rendered is None else 200
        self.handler._send_json(status, rendered or _error("Not Found", 404))

    def _render(self, repo: _Repo, number: int) -> Json | None:
        """The JSON of pull request `number`, or None."""
        with self.fake._state.lock:
            pull = self.fake._find_pull(repo, number)
            snapshot = None if pull is None else replace(pull)
        return None if snapshot is None else self.fake._pull_json(snapshot)


class _GitRoute:
    """One git smart-HTTP request, served by `git http-backend`."""

    def __init__(self, handler: _Handler, owner: str, repo: str) -> None:
        """Remember the request."""
        self.handler = handler
        self.fake = handler.fake
        self.owner = owner
        self.repo = repo

    def serve(self) -> None:
        """Check access, then run the CGI."""
        record = self.fake._find_repo(self.owner, self.repo)
        if record is None:
            self.handler._discard_body()
            self.handler._send(404, b"Repository not found.\n", {"Content-Type": "text/plain"})
            return
        allowed, user = self._authenticate(needs_auth=self._is_push() or record.private)
        if allowed:
            self._run_backend(user)

    def _is_push(self) -> bool:
        """Whether this request belongs to a push (receive-pack)."""
        path = self.handler._path
        service = parse_qs(self.handler._query).get("service", [""])[-1]
        return path.endswith("/git-receive-pack") or service == "git-receive-pack"

    def _authenticate(self, *, needs_auth: bool) -> tuple[bool, str | None]:
        """(allowed, user name); answers 401 itself when not allowed."""
        header = self.handler.headers.get("Authorization")
        credentials = self.fake._basic_credentials(header)
        if credentials is not None and secrets.compare_digest(credentials[1], self.fake.token):
            return True, credentials[0] or "x-access-token"
        if header is None and not needs_auth:
            return True, None
        self.handler._discard_body()
        self.handler._send(
            401,
            b"Invalid username or token.\n",
            {"Content-Type": "text/plain", "WWW-Authenticate": 'Basic realm="FakeGitHub"'},
        )
        return False, None

    def _run_backend(self, user: str | None) -> None:
        """Stream the request into `git http-backend` and its answer back."""
        env = self.fake._git_env_for(self.handler, self.handler._path, self.handler._query, user)
        child = self.fake._spawn_backend(env)
        feeder = threading.Thread(target=self._feed, args=(child,), daemon=True)
        feeder.start()
        try:
            self._relay(child)
        finally:
            feeder.join(timeout=30)
            self.fake._reap(child)

    def _feed(self, child: subprocess.Popen[bytes]) -> None:
        """Copy the request body to the CGI's stdin, then close it."""
        assert child.stdin is not None
        with contextlib.suppress(OSError, ValueError):
            for piece in self.handler.iter_body():
                child.stdin.write(piece)
        with contextlib.suppress(OSError):
            child.stdin.close()

    def _relay(self, child: subprocess.Popen[bytes]) -> None:
        """Turn the CGI output into a chunked HTTP answer."""
        assert isinstance(child.stdout, io.BufferedReader)
        status, headers = _cgi_headers(child.stdout)
        self.handler.send_response(status)
        for name, value in headers:
            self.handler.send_header(name, value)
        self.handler.send_header("Transfer-Encoding", "chunked")
        self.handler.end_headers()
        while piece := child.stdout.read1(_CHUNK):
            self.handler.send_chunk(piece)
        self.handler.send_chunk(b"")


def _cgi_headers(stream: IO[bytes]) -> tuple[int, list[tuple[str, str]]]:
    """Read CGI headers up to the blank line; return the status and the other headers."""
    status = 200
    headers: list[tuple[str, str]] = []
    while True:
        line = stream.readline().decode("latin-1").rstrip("\r\n")
        if not line:
            return status, headers
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name.lower() not in {"content-length", "transfer-encoding", "connection"}:
            headers.append((name, value.strip()))
