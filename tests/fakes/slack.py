"""A small Slack on 127.0.0.1 for tests: Web API, Socket Mode and response_url on one server.

Point the real clients at it: `AsyncWebClient(token="xoxb-test", base_url=fake.api_url)`. Bolt's
`AsyncSocketModeHandler` asks `apps.connections.open` for a websocket URL and gets this server's
`/socket`. Tests push envelopes with `send_envelope`, then read acks, Web API calls, the stored
messages and what `respond()` posted to a `response_url`.

Payload helpers (`slash_command`, `block_action`, ...) are plain functions. Their `response_url`
points at a placeholder host; `send_envelope` rewrites it to this server before sending.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import WSCloseCode, WSMsgType, web

Json = dict[str, Any]
_T = TypeVar("_T")

TEAM_ID = "T0FAKE"
TEAM_DOMAIN = "fake-team"
APP_ID = "A1"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
SLASH_COMMAND = "/fixbug"
PLACEHOLDER_ORIGIN = "http://fake-slack.invalid"
BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-test"
BOT_SCOPES = "chat:write,commands,users:read,usergroups:read,channels:history,groups:history"

_JSON_FIELDS = frozenset({"blocks", "attachments", "metadata", "view", "unfurls"})
_TOKEN_KINDS = {"xoxb-": "bot", "xapp-": "app", "xoxp-": "user"}
_ERROR_ALIASES = {"rate_limited": "ratelimited"}
_POLL_SECONDS = 0.02


class SlackError(Exception):
    """A Web API method answering `ok: false` with this error code."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


# --------------------------------------------------------------------------- ids and timestamps


class _TsClock:
    """Monotonic, unique message timestamps in Slack's `seconds.micros` form."""

    def __init__(self, start: int = 1_732_400_000) -> None:
        self._start = start
        self._ticks = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> str:
        """The next timestamp, 100 microseconds after the previous one."""
        with self._lock:
            micros = next(self._ticks) * 100
        return f"{self._start + micros // 1_000_000}.{micros % 1_000_000:06d}"


_CLOCK = _TsClock()


def next_ts() -> str:
    """A fresh message timestamp, unique within this process."""
    return _CLOCK.next()


def _fake_id(prefix: str, length: int = 10) -> str:
    """A Slack-looking id such as `V0A1B2C3D4`."""
    return prefix + secrets.token_hex(length).upper()[: length - len(prefix)]


def _trigger_id() -> str:
    """A trigger id shaped like Slack's `13345224609.738474920.8088930838d88f008e0`."""
    return f"{secrets.randbelow(10**11)}.{secrets.randbelow(10**9)}.{secrets.token_hex(16)}"


def _envelope_id() -> str:
    """An envelope id shaped like Slack's (a UUID)."""
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def _response_url(channel_id: str, message_ts: str | None) -> str:
    """A placeholder response_url; the id carries the channel and message it answers."""
    return f"{PLACEHOLDER_ORIGIN}/response/{channel_id}_{message_ts or ''}_{secrets.token_hex(6)}"


def _truthy(value: Any) -> bool:
    """A form or JSON flag read the way Slack reads it."""
    return value is True or str(value).lower() in {"true", "1"}


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class ApiCall:
    """One Web API request as the fake received it, with the answer it gave."""

    method: str
    params: Json
    token_kind: str | None  # "bot", "app", "user", "other"; None when no token came
    http_verb: str
    at: float  # time.monotonic()
    status: int
    response: Json

    @property
    def ok(self) -> bool:
        """Whether the answer was `ok: true`."""
        return bool(self.response.get("ok"))


@dataclass(frozen=True)
class Envelope:
    """A Socket Mode envelope the fake pushed to a client."""

    envelope_id: str
    type: str
    payload: Json
    sent_at: float  # time.monotonic()
    retry_attempt: int = 0
    retry_reason: str = ""

    def wire(self) -> Json:
        """The JSON frame Slack sends for this envelope."""
        return {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "payload": self.payload,
            "accepts_response_payload": self.type != "events_api",
            "retry_attempt": self.retry_attempt,
            "retry_reason": self.retry_reason,
        }


@dataclass(frozen=True)
class Ack:
    """A client's acknowledgement of an envelope."""

    envelope_id: str
    payload: Json | None
    at: float  # time.monotonic()


@dataclass(frozen=True)
class ResponseUrlPost:
    """A POST to a response_url (what Bolt's `respond()` sends)."""

    response_id: str
    body: Json
    at: float  # time.monotonic()


@dataclass
class _Fault:
    """A queued failure for one Web API method."""

    error: str
    status: int
    retry_after: int | None
    times: int

    def reply(self) -> tuple[int, dict[str, str], Json]:
        """The HTTP status, headers and body this failure answers with."""
        headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        error = _ERROR_ALIASES.get(self.error, self.error)
        return self.status, headers, {"ok": False, "error": error}


# --------------------------------------------------------------------------- workspace state


class Workspace:
    """Channels, messages, views, users and user groups as the fake stores them."""

    def __init__(self) -> None:
        self.channels: dict[str, list[Json]] = defaultdict(list)
        self.ephemerals: list[Json] = []
        self.views: dict[str, Json] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.users: dict[str, Json] = {}

    def post(self, channel: str, fields: Json, *, user: str = BOT_USER_ID) -> Json:
        """Store a new message (a thread reply when `thread_ts` is set) and return it."""
        message = _message(user, next_ts(), fields)
        self.channels[channel].append(message)
        thread_ts = message.get("thread_ts")
        if thread_ts:
            self._count_reply(channel, thread_ts, message)
        return message

    def _count_reply(self, channel: str, thread_ts: str, reply: Json) -> None:
        """Keep the parent's reply bookkeeping the way Slack shows it."""
        parent = self.find(channel, thread_ts)
        if parent is None or parent is reply:
            return
        reply["parent_user_id"] = parent["user"]
        parent["thread_ts"] = parent["ts"]
        parent["reply_count"] = parent.get("reply_count", 0) + 1
        users = [*parent.get("reply_users", []), reply["user"]]
        parent["reply_users"] = list(dict.fromkeys(users))
        parent["reply_users_count"] = len(parent["reply_users"])
        parent["latest_reply"] = reply["ts"]

    def find(self, channel: str, ts: str) -> Json | None:
        """The stored message with this ts, or None."""
        return next((m for m in self.channels.get(channel, []) if m["ts"] == ts), None)

    def get(self, channel: str, ts: str) -> Json:
        """The stored message with this ts, or `message_not_found`."""
        message = self.find(channel, ts)
        if message is None:
            raise SlackError("message_not_found")
        return message

    def update(self, channel: str, ts: str, fields: Json) -> Json:
        """Replace the given fields of a stored message and mark it edited."""
        message = self.get(channel, ts)
        for key in ("text", "blocks", "attachments", "metadata"):
            if fields.get(key) is not None:
                message[key] = fields[key]
        message["edited"] = {"user": BOT_USER_ID, "ts": next_ts()}
        return message

    def delete(self, channel: str, ts: str) -> None:
        """Remove a stored message."""
        self.channels[channel].remove(self.get(channel, ts))

    def thread(self, channel: str, ts: str) -> list[Json]:
        """The thread a message belongs to, parent first, in ts order."""
        root = self.get(channel, ts).get("thread_ts") or ts
        members = [m for m in self.channels[channel] if root in (m["ts"], m.get("thread_ts"))]
        return sorted(members, key=lambda m: _ts_key(m["ts"]))

    def user(self, user_id: str) -> Json:
        """A user record: what `set_user` stored, or a plain human."""
        base = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": user_id.lower(),
            "real_name": f"User {user_id}",
            "deleted": False,
            "is_bot": user_id == BOT_USER_ID,
            "tz": "Etc/UTC",
        }
        record = {**base, **self.users.get(user_id, {})}
        record.setdefault(
            "profile", {"real_name": record["real_name"], "display_name": record["name"]}
        )
        return record


def _ts_key(ts: str) -> tuple[int, int]:
    """Sort key for a `seconds.micros` timestamp."""
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)


def _message(user: str, ts: str, fields: Json) -> Json:
    """A message record as conversations.replies returns it."""
    message: Json = {"type": "message", "user": user, "text": fields.get("text") or "", "ts": ts}
    message["team"] = TEAM_ID
    if user == BOT_USER_ID:
        message.update(bot_id=BOT_ID, app_id=APP_ID)
    for key in ("blocks", "attachments", "metadata", "thread_ts"):
        if fields.get(key):
            message[key] = fields[key]
    if fields.get("thread_ts") and _truthy(fields.get("reply_broadcast")):
        message["subtype"] = "thread_broadcast"
    return message


# --------------------------------------------------------------------------- Web API methods


def _need(params: Json, name: str, error: str) -> Any:
    """A required parameter, or the Slack error for its absence."""
    value = params.get(name)
    if value in (None, ""):
        raise SlackError(error)
    return value


def _need_content(params: Json) -> None:
    """A message needs text, blocks or attachments."""
    if not any(params.get(key) for key in ("text", "blocks", "attachments")):
        raise SlackError("no_text")


class WebApi:
    """The Web API methods the fake implements, each `params -> response fields`."""

    def __init__(self, workspace: Workspace, socket_url: Callable[[], str]) -> None:
        self.ws = workspace
        self._socket_url = socket_url

    def table(self) -> dict[str, Callable[[Json], Json]]:
        """Method name to handler."""
        return {
            "auth.test": self.auth_test,
            "apps.connections.open": self.apps_connections_open,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "chat.delete": self.chat_delete,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.getPermalink": self.chat_get_permalink,
            "conversations.replies": self.conversations_replies,
            "views.open": self.views_open,
            "views.update": self.views_update,
            "views.push": self.views_push,
            "usergroups.users.list": self.usergroups_users_list,
            "users.info": self.users_info,
        }

    def auth_test(self, params: Json) -> Json:
        """Who the bot token belongs to."""
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Fake Team",
            "user": "fixbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def apps_connections_open(self, params: Json) -> Json:
        """A websocket URL on this same server."""
        return {"url": self._socket_url()}

    def chat_post_message(self, params: Json) -> Json:
        """Post a message (or a thread reply) as the bot."""
        channel = _need(params, "channel", "channel_not_found")
        _need_content(params)
        message = self.ws.post(channel, params)
        return {"channel": channel, "ts": message["ts"], "message": dict(message)}

    def chat_update(self, params: Json) -> Json:
        """Edit a stored message."""
        channel = _need(params, "channel", "channel_not_found")
        ts = _need(params, "ts", "message_not_found")
        message = self.ws.update(channel, ts, params)
        return {"channel": channel, "ts": ts, "text": message["text"], "message": dict(message)}

    def chat_delete(self, params: Json) -> Json:
        """Delete a stored message."""
        channel = _need(params, "channel", "channel_not_found")
        ts = _need(params, "ts", "message_not_found")
        self.ws.delete(channel, ts)
        return {"channel": channel, "ts": ts}

    def chat_post_ephemeral(self, params: Json) -> Json:
        """Record a message only one user would see."""
        channel = _need(params, "channel", "channel_not_found")
        user = _need(params, "user", "user_not_in_channel")
        _need_content(params)
        ts = next_ts()
        self.ws.ephemerals.append(
            {**_message(BOT_USER_ID, ts, params), "channel": channel, "to": user}
        )
        return {"message_ts": ts}

    def chat_get_permalink(self, params: Json) -> Json:
        """A permalink for a stored message."""
        channel = _need(params, "channel", "channel_not_found")
        message = self.ws.get(channel, _need(params, "message_ts", "message_not_found"))
        link = (
            f"https://{TEAM_DOMAIN}.slack.com/archives/{channel}/p{message['ts'].replace('.', '')}"
        )
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != message["ts"]:
            link += f"?thread_ts={thread_ts}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def conversations_replies(self, params: Json) -> Json:
        """A thread, parent first, paged by `limit` and `cursor`."""
        channel = _need(params, "channel", "channel_not_found")
        if channel not in self.ws.channels:
            raise SlackError("channel_not_found")
        ts = _need(params, "ts", "thread_not_found")
        if self.ws.find(channel, ts) is None:
            raise SlackError("thread_not_found")
        thread = self.ws.thread(channel, ts)
        start = int(params.get("cursor") or 0)
        end = start + int(params.get("limit") or 1000)
        next_cursor = str(end) if end < len(thread) else ""
        page = [dict(m) for m in thread[start:end]]
        return {
            "messages": page,
            "has_more": bool(next_cursor),
            "response_metadata": {"next_cursor": next_cursor},
        }

    def views_open(self, params: Json) -> Json:
        """Open a modal."""
        _need(params, "trigger_id", "invalid_trigger_id")
        view = self._store_view(_need(params, "view", "invalid_arguments"), previous=None)
        return {"view": view}

    def views_push(self, params: Json) -> Json:
        """Push a modal on top of the open one."""
        _need(params, "trigger_id", "invalid_trigger_id")
        previous = next(reversed(self.ws.views), None)
        view = self._store_view(_need(params, "view", "invalid_arguments"), previous=previous)
        return {"view": view}

    def views_update(self, params: Json) -> Json:
        """Replace a modal's content, by `view_id` or `external_id`, honouring `hash`."""
        old = self._find_view(params)
        if params.get("hash") and params["hash"] != old["hash"]:
            raise SlackError("hash_conflict")
        new = _need(params, "view", "invalid_arguments")
        keep = {k: old[k] for k in ("id", "team_id", "previous_view_id", "root_view_id", "app_id")}
        view = {**_view_record(new, old["id"], old["root_view_id"]), **keep}
        self.ws.views[old["id"]] = view
        return {"view": view}

    def _find_view(self, params: Json) -> Json:
        """The stored view named by `view_id` or `external_id`."""
        wanted_id, external = params.get("view_id"), params.get("external_id")
        for view in self.ws.views.values():
            if (wanted_id and view["id"] == wanted_id) or (
                external and view["external_id"] == external
            ):
                return view
        raise SlackError("not_found")

    def _store_view(self, view: Json, *, previous: str | None) -> Json:
        """Store a new view record and return it."""
        view_id = _fake_id("V")
        root = self.ws.views[previous]["root_view_id"] if previous else view_id
        record = _view_record(view, view_id, root)
        record["previous_view_id"] = previous
        self.ws.views[view_id] = record
        return record

    def usergroups_users_list(self, params: Json) -> Json:
        """The members of a user group set with `set_usergroup`."""
        group = _need(params, "usergroup", "invalid_arguments")
        if group not in self.ws.usergroups:
            raise SlackError("no_such_subteam")
        return {"users": list(self.ws.usergroups[group])}

    def users_info(self, params: Json) -> Json:
        """A minimal user record."""
        return {"user": self.ws.user(_need(params, "user", "user_not_found"))}


def _view_record(view: Json, view_id: str, root: str) -> Json:
    """A view as views.open returns it."""
    return {
        "id": view_id,
        "team_id": TEAM_ID,
        "type": view.get("type", "modal"),
        "title": view.get("title"),
        "submit": view.get("submit"),
        "close": view.get("close"),
        "blocks": view.get("blocks", []),
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "external_id": view.get("external_id", ""),
        "state": {"values": {}},
        "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
        "clear_on_close": bool(view.get("clear_on_close", False)),
        "notify_on_close": bool(view.get("notify_on_close", False)),
        "previous_view_id": None,
        "root_view_id": root,
        "app_id": APP_ID,
        "app_installed_team_id": TEAM_ID,
        "bot_id": BOT_ID,
    }


# --------------------------------------------------------------------------- HTTP plumbing


async def _read_params(request: web.Request) -> Json:
    """Query string plus a form or JSON body, JSON-string fields decoded."""
    params: Json = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return {k: _decode_json_field(k, v) for k, v in params.items()}


def _decode_json_field(key: str, value: Any) -> Any:
    """Blocks, metadata and views sent form-encoded arrive as JSON strings."""
    if key in _JSON_FIELDS and isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _bearer(request: web.Request) -> str | None:
    """The token from `Authorization: Bearer ...`, if any."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    return header.removeprefix("Bearer ").strip() or None


def _token_kind(token: str | None) -> str | None:
    """ "bot", "app", "user" or "other" by prefix; None without a token."""
    if token is None:
        return None
    return next(
        (kind for prefix, kind in _TOKEN_KINDS.items() if token.startswith(prefix)), "other"
    )


def _localize(value: Any, origin: str) -> Any:
    """Point placeholder URLs inside a payload at this server."""
    if isinstance(value, str) and value.startswith(PLACEHOLDER_ORIGIN):
        return origin + value[len(PLACEHOLDER_ORIGIN) :]
    if isinstance(value, dict):
        return {k: _localize(v, origin) for k, v in value.items()}
    if isinstance(value, list):
        return [_localize(v, origin) for v in value]
    return value


# --------------------------------------------------------------------------- the server


class FakeSlack:
    """Slack's Web API, Socket Mode and response_url on one local aiohttp server."""

    def __init__(
        self, *, bot_token: str | None = BOT_TOKEN, app_token: str | None = APP_TOKEN
    ) -> None:
        """Tokens must match exactly; None accepts any token with the right prefix."""
        self.bot_token = bot_token
        self.app_token = app_token
        self.workspace = Workspace()
        self.calls: list[ApiCall] = []
        self.envelopes: list[Envelope] = []
        self.acks: dict[str, Ack] = {}
        self.responses: list[ResponseUrlPost] = []
        self.socket_messages: list[Json] = []  # frames from clients that were not acks
        self._api = WebApi(self.workspace, self._issue_socket_url).table()
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._sockets: list[web.WebSocketResponse] = []
        self._tickets: set[str] = set()
        self._turn = itertools.count()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ---- lifecycle

    async def start(self) -> Self:
        """Listen on 127.0.0.1 on a free port."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._serve_api)
        app.router.add_get("/socket", self._serve_socket)
        app.router.add_post("/response/{response_id}", self._serve_response)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        """Close every websocket, then the server. Close Socket Mode clients first."""
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        """Start the server."""
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        await self.stop()

    # ---- addresses

    @property
    def origin(self) -> str:
        """`http://127.0.0.1:PORT`."""
        if self._port is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        """The Web API base URL to pass as `base_url`."""
        return f"{self.origin}/api/"

    def _issue_socket_url(self) -> str:
        """A fresh websocket URL with a ticket this server will accept."""
        ticket = secrets.token_hex(8)
        self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self._port}/socket?ticket={ticket}&app_id={APP_ID}"

    # ---- Web API

    def calls_to(self, method: str) -> list[ApiCall]:
        """Every recorded call to one method, oldest first."""
        return [c for c in self.calls if c.method == method]

    def fail_next(
        self,
        method: str,
        error: str,
        *,
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls to `method` fail with `error` (HTTP `status`)."""
        self._faults[method].append(_Fault(error, status, retry_after, times))

    async def _serve_api(self, request: web.Request) -> web.Response:
        """One Web API call: authenticate, maybe fail on purpose, run the method, record."""
        method = request.match_info["method"]
        params = await _read_params(request)
        token = _bearer(request) or params.pop("token", None)
        params.pop("token", None)
        status, headers, body = self._answer(method, params, token)
        call = ApiCall(
            method, params, _token_kind(token), request.method, time.monotonic(), status, body
        )
        self.calls.append(call)
        await self._notify()
        return web.json_response(body, status=status, headers=headers)

    def _answer(
        self, method: str, params: Json, token: str | None
    ) -> tuple[int, dict[str, str], Json]:
        """Status, headers and body for one call."""
        handler = self._api.get(method)
        if handler is None:
            return 200, {}, {"ok": False, "error": "unknown_method", "req_method": method}
        auth_error = self._auth_error(method, token)
        if auth_error is not None:
            return 200, {}, {"ok": False, "error": auth_error}
        fault = self._take_fault(method)
        if fault is not None:
            return fault.reply()
        headers = {"X-OAuth-Scopes": BOT_SCOPES} if _token_kind(token) == "bot" else {}
        try:
            return 200, headers, {"ok": True, **handler(params)}
        except SlackError as e:
            return 200, headers, {"ok": False, "error": e.error}

    def _auth_error(self, method: str, token: str | None) -> str | None:
        """Slack's error for a missing, unknown or wrong-kind token; None when fine."""
        kind = _token_kind(token)
        if token is None:
            return "not_authed"
        expected = {"bot": self.bot_token, "app": self.app_token}
        if kind not in expected or (expected[kind] is not None and token != expected[kind]):
            return "invalid_auth"
        wants_app = method == "apps.connections.open"
        return None if wants_app == (kind == "app") else "not_allowed_token_type"

    def _take_fault(self, method: str) -> _Fault | None:
        """The queued failure for this call, if any, used up one time."""
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.popleft()
        return fault

    # ---- workspace state

    def messages(self, channel: str) -> list[Json]:
        """Every message stored in a channel (thread replies too), in ts order, latest content."""
        return [
            dict(m)
            for m in sorted(
                self.workspace.channels.get(channel, []), key=lambda m: _ts_key(m["ts"])
            )
        ]

    def message(self, channel: str, ts: str) -> Json:
        """One stored message, as last updated."""
        return dict(self.workspace.get(channel, ts))

    def thread(self, channel: str, ts: str) -> list[Json]:
        """A thread, parent first."""
        return [dict(m) for m in self.workspace.thread(channel, ts)]

    def add_user_message(
        self, channel: str, text: str, user: str = "U1", thread_ts: str | None = None
    ) -> Json:
        """Store a message a human wrote (e.g. a thread reply) and return it."""
        return dict(self.workspace.post(channel, {"text": text, "thread_ts": thread_ts}, user=user))

    @property
    def ephemerals(self) -> list[Json]:
        """Ephemeral messages (chat.postEphemeral, ephemeral responses) with `channel`, `to`."""
        return list(self.workspace.ephemerals)

    @property
    def views(self) -> list[Json]:
        """Every view opened or pushed, oldest first, as last updated."""
        return list(self.workspace.views.values())

    def set_usergroup(self, usergroup: str, users: list[str]) -> None:
        """Set the members usergroups.users.list returns."""
        self.workspace.usergroups[usergroup] = list(users)

    def set_user(self, user_id: str, **fields: Any) -> None:
        """Override fields users.info returns for a user."""
        self.workspace.users[user_id] = fields

    # ---- response_url

    async def _serve_response(self, request: web.Request) -> web.Response:
        """Record a response_url POST and apply it to the channel the way Slack would."""
        response_id = request.match_info["response_id"]
        body = await request.json()
        self.responses.append(ResponseUrlPost(response_id, body, time.monotonic()))
        channel, _, rest = response_id.partition("_")
        message_ts = rest.rpartition("_")[0]
        try:
            self._apply_response(channel, message_ts, body)
        except SlackError as e:
            return web.Response(status=404, text=e.error)
        finally:
            await self._notify()
        return web.Response(text="ok")

    def _apply_response(self, channel: str, message_ts: str, body: Json) -> None:
        """delete_original, replace_original, in_channel, or else ephemeral."""
        if _truthy(body.get("delete_original")) and message_ts:
            self.workspace.delete(channel, message_ts)
        elif _truthy(body.get("replace_original")) and message_ts:
            self.workspace.update(channel, message_ts, body)
        elif body.get("response_type") == "in_channel":
            self.workspace.post(channel, body)
        else:
            self.workspace.ephemerals.append(
                {**_message(BOT_USER_ID, next_ts(), body), "channel": channel}
            )

    async def wait_for_response(self, count: int = 1, timeout: float = 5.0) -> ResponseUrlPost:
        """The `count`-th response_url POST, once it has arrived."""
        await self.wait_until(
            lambda: len(self.responses) >= count, timeout, f"{count} response_url posts"
        )
        return self.responses[count - 1]

    # ---- Socket Mode

    @property
    def connected_clients(self) -> int:
        """How many Socket Mode websockets are open."""
        return sum(1 for ws in self._sockets if not ws.closed)

    async def _serve_socket(self, request: web.Request) -> web.WebSocketResponse:
        """A Socket Mode connection: hello, then read acks until it closes."""
        if request.query.get("ticket") not in self._tickets:
            raise web.HTTPUnauthorized(text="invalid ticket")
        ws = web.WebSocketResponse(timeout=2.0)
        await ws.prepare(request)
        self._sockets.append(ws)
        try:
            await ws.send_json(self._hello())
            await self._notify()
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    self._on_frame(json.loads(frame.data))
                    await self._notify()
        finally:
            self._sockets.remove(ws)
            await self._notify()
        return ws

    def _hello(self) -> Json:
        """The first frame of every connection."""
        return {
            "type": "hello",
            "num_connections": len(self._sockets),
            "debug_info": {
                "host": "applink-fake-1",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": APP_ID},
        }

    def _on_frame(self, frame: Json) -> None:
        """Record an ack (`{"envelope_id", "payload"?}`) or keep any other frame."""
        envelope_id = frame.get("envelope_id")
        if envelope_id and envelope_id not in self.acks:
            self.acks[envelope_id] = Ack(envelope_id, frame.get("payload"), time.monotonic())
        else:
            self.socket_messages.append(frame)

    async def wait_connected(self, timeout: float = 5.0, count: int = 1) -> None:
        """Wait until at least `count` Socket Mode clients are connected."""
        await self.wait_until(
            lambda: self.connected_clients >= count, timeout, f"{count} socket clients"
        )

    async def send_envelope(
        self, type: str, payload: Json, *, retry_attempt: int = 0, retry_reason: str = ""
    ) -> str:
        """Push an envelope to one connected client (round robin); return its envelope_id."""
        sockets = [ws for ws in self._sockets if not ws.closed]
        if not sockets:
            raise RuntimeError("no Socket Mode client is connected")
        ws = sockets[next(self._turn) % len(sockets)]
        envelope = Envelope(
            _envelope_id(),
            type,
            _localize(payload, self.origin),
            time.monotonic(),
            retry_attempt,
            retry_reason,
        )
        self.envelopes.append(envelope)
        await ws.send_json(envelope.wire())
        return envelope.envelope_id

    async def send(self, payload: Json) -> str:
        """Push a payload from the helpers, choosing the envelope type from its shape."""
        return await self.send_envelope(envelope_type(payload), payload)

    async def redeliver(self, envelope_id: str, reason: str = "timeout") -> str:
        """Send an envelope's payload again under a new id, as Slack retries."""
        original = self.envelope(envelope_id)
        return await self.send_envelope(
            original.type,
            original.payload,
            retry_attempt=original.retry_attempt + 1,
            retry_reason=reason,
        )

    def envelope(self, envelope_id: str) -> Envelope:
        """A sent envelope by id."""
        found = next((e for e in self.envelopes if e.envelope_id == envelope_id), None)
        if found is None:
            raise KeyError(envelope_id)
        return found

    async def wait_for_ack(
        self, envelope_id: str, timeout: float = 5.0
    ) -> tuple[Json | None, float]:
        """The ack's payload (None when empty) and the seconds from send to ack."""
        sent = self.envelope(envelope_id)
        await self.wait_until(
            lambda: envelope_id in self.acks, timeout, f"an ack for {envelope_id}"
        )
        ack = self.acks[envelope_id]
        return ack.payload, ack.at - sent.sent_at

    async def request_reconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's `disconnect` frame; clients reconnect through apps.connections.open."""
        frame = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake-1"}}
        for ws in [ws for ws in self._sockets if not ws.closed]:
            await ws.send_json(frame)

    # ---- waiting

    async def wait_for_call(self, method: str, count: int = 1, timeout: float = 5.0) -> ApiCall:
        """The `count`-th call to `method`, once it has arrived."""
        await self.wait_until(
            lambda: len(self.calls_to(method)) >= count, timeout, f"{count} x {method}"
        )
        return self.calls_to(method)[count - 1]

    async def _notify(self) -> None:
        """Wake everyone waiting for state to change."""
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(
        self, predicate: Callable[[], bool], timeout: float = 5.0, what: str = "a condition"
    ) -> None:
        """Wait until `predicate()` holds; re-checked on every fake event and every 20 ms."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"fake Slack: waited {timeout}s for {what}")
            await self._next_change(min(remaining, _POLL_SECONDS))

    async def _next_change(self, timeout: float) -> None:
        """Return at the next state change, or after `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait()


def envelope_type(payload: Json) -> str:
    """The Socket Mode envelope type a payload travels in."""
    if payload.get("type") == "event_callback":
        return "events_api"
    if "command" in payload:
        return "slash_commands"
    return "interactive"


# --------------------------------------------------------------------------- sync variant


class ThreadedFakeSlack:
    """A FakeSlack on its own event loop in a background thread, for synchronous code."""

    def __init__(self, **kwargs: Any) -> None:
        """Same keyword arguments as FakeSlack."""
        self._kwargs = kwargs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.fake: FakeSlack | None = None

    def start(self) -> FakeSlack:
        """Start the loop thread and the server; return the FakeSlack, readable from here."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fake-slack", daemon=True
        )
        self._thread.start()
        self.fake = self.run(self._make_and_start())
        return self.fake

    async def _make_and_start(self) -> FakeSlack:
        """Build the FakeSlack on its own loop and start it."""
        return await FakeSlack(**self._kwargs).start()

    def stop(self) -> None:
        """Stop the server, the loop and the thread."""
        if self._loop is None or self._thread is None:
            return
        if self.fake is not None:
            self.run(self.fake.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
        self._loop = self._thread = self.fake = None

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float = 30.0) -> _T:
        """Run a coroutine on the fake's loop and return its result."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("ThreadedFakeSlack is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, make: Callable[[FakeSlack], Awaitable[_T]], timeout: float = 30.0) -> _T:
        """Run `make(fake)` on the fake's loop, e.g. `call(lambda f: f.send(payload))`."""
        fake = self.fake
        if fake is None:
            raise RuntimeError("ThreadedFakeSlack is not started")

        async def go() -> _T:
            """Await the caller's coroutine on this loop."""
            return await make(fake)

        return self.run(go(), timeout)

    def __enter__(self) -> Self:
        """Start; read state through `.fake`, run its coroutines through `.call`."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop."""
        self.stop()

    @property
    def api_url(self) -> str:
        """The started fake's Web API base URL."""
        if self.fake is None:
            raise RuntimeError("ThreadedFakeSlack is not started")
        return self.fake.api_url


# --------------------------------------------------------------------------- payload helpers


def _user(user_id: str) -> Json:
    """The `user` object of interactive payloads."""
    return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": TEAM_ID}


def _interactive_base(kind: str, user_id: str, trigger_id: str | None) -> Json:
    """Fields every interactive payload carries."""
    return {
        "type": kind,
        "token": "fake-verification-token",
        "api_app_id": APP_ID,
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "user": _user(user_id),
        "trigger_id": trigger_id or _trigger_id(),
    }


def slash_command(
    text: str,
    user_id: str = "U1",
    channel_id: str = "C1",
    trigger_id: str | None = None,
    *,
    command: str = SLASH_COMMAND,
) -> Json:
    """A slash command payload (the form fields Slack sends, as strings)."""
    return {
        "token": "fake-verification-token",
        "team_id": TEAM_ID,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": f"channel-{channel_id.lower()}",
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": _response_url(channel_id, None),
        "trigger_id": trigger_id or _trigger_id(),
    }


def block_action(
    action_id: str,
    value: str,
    user_id: str = "U1",
    channel_id: str = "C1",
    message_ts: str | None = None,
    trigger_id: str | None = None,
    *,
    block_id: str = "actions",
    message: Json | None = None,
) -> Json:
    """A button click in a message; pass `message=fake.message(...)` to embed the real one."""
    ts = message_ts or (message or {}).get("ts") or next_ts()
    payload = _interactive_base("block_actions", user_id, trigger_id)
    payload["container"] = {
        "type": "message",
        "message_ts": ts,
        "channel_id": channel_id,
        "is_ephemeral": False,
    }
    payload["channel"] = {"id": channel_id, "name": f"channel-{channel_id.lower()}"}
    payload["message"] = message or {
        "type": "message",
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
        "text": "",
        "ts": ts,
    }
    payload["state"] = {"values": {}}
    payload["response_url"] = _response_url(channel_id, ts)
    payload["actions"] = [_button(action_id, value, block_id)]
    return payload


def _button(action_id: str, value: str, block_id: str) -> Json:
    """One clicked button in `actions`."""
    return {
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": action_id, "emoji": True},
        "value": value,
        "type": "button",
        "action_ts": f"{time.time():.6f}",
    }


def view_submission(
    callback_id: str,
    state_values: Json,
    user_id: str = "U1",
    private_metadata: str = "",
    *,
    view_id: str | None = None,
) -> Json:
    """A modal submitted with `state_values` (`{block_id: {action_id: {type, value...}}}`)."""
    payload = _interactive_base("view_submission", user_id, None)
    view = _view_record({"callback_id": callback_id, "private_metadata": private_metadata}, "", "")
    view_id = view_id or _fake_id("V")
    view.update(id=view_id, root_view_id=view_id, state={"values": state_values})
    payload["view"] = view
    payload["response_urls"] = []
    return payload


def message_shortcut(
    callback_id: str,
    message_text: str,
    message_ts: str,
    channel_id: str = "C1",
    user_id: str = "U1",
    trigger_id: str | None = None,
    *,
    message_user: str = "U2",
) -> Json:
    """A message shortcut (type `message_action`) on a message `message_user` wrote."""
    payload = _interactive_base("message_action", user_id, trigger_id)
    payload.update(
        callback_id=callback_id,
        action_ts=f"{time.time():.6f}",
        message_ts=message_ts,
        channel={"id": channel_id, "name": f"channel-{channel_id.lower()}"},
        message={"type": "message", "user": message_user, "text": message_text, "ts": message_ts},
        response_url=_response_url(channel_id, None),
    )
    return payload


def thread_reply_event(
    channel: str, thread_ts: str, text: str, user: str = "U1", *, ts: str | None = None
) -> Json:
    """An Events API `message` event for a human reply in a thread."""
    ts = ts or next_ts()
    event = {
        "type": "message",
        "user": user,
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "parent_user_id": BOT_USER_ID,
        "channel": channel,
        "channel_type": "channel",
        "event_ts": ts,
        "team": TEAM_ID,
        "client_msg_id": _envelope_id(),
    }
    return event_callback(event)


def event_callback(event: Json) -> Json:
    """The Events API wrapper around one event."""
    return {
        "token": "fake-verification-token",
        "team_id": TEAM_ID,
        "context_team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": _fake_id("Ev", 11),
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{secrets.token_hex(20)}",
    }
