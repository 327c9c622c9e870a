"""The Slack app manifest matches the code: command, shortcut, Socket Mode, the scopes used."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.slack import ids

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "bot" / "slack" / "manifest.yaml"
# The bot scope each Web API method the code calls needs (Slack's method docs).
SCOPE_FOR_METHOD = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_getPermalink": None,
    "views_open": None,
    "conversations_replies": "channels:history",
    "usergroups_users_list": "usergroups:read",
}


def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return loaded


def test_manifest_declares_the_command_and_the_shortcut_the_code_handles() -> None:
    """/fixbug and the 'Fix this bug' shortcut id are the ones the listeners register."""
    features = manifest()["features"]
    assert [c["command"] for c in features["slash_commands"]] == [ids.SLASH_COMMAND]
    assert [s["callback_id"] for s in features["shortcuts"]] == [ids.SHORTCUT_FIX_THIS]


def test_manifest_turns_on_socket_mode_interactivity_and_thread_events() -> None:
    """Socket Mode, buttons/modals, and the message events thread replies arrive as."""
    settings = manifest()["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert {"message.channels", "message.groups"} <= set(
        settings["event_subscriptions"]["bot_events"]
    )


def test_every_web_api_method_the_bot_calls_has_its_scope() -> None:
    """Scan the bot's code for client calls; each needs a scope listed in the manifest."""
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    source = "\n".join(p.read_text() for p in (ROOT / "bot" / "slack").rglob("*.py"))
    called = set(re.findall(r"client\.(\w+)\(", source)) - {"retry_handlers"}
    unknown = called - set(SCOPE_FOR_METHOD)
    assert not unknown, f"add these methods to SCOPE_FOR_METHOD with their scope: {unknown}"
    needed = {SCOPE_FOR_METHOD[m] for m in called} - {None}
    assert needed <= scopes
    assert "commands" in scopes
