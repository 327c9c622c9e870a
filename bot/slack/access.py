"""Who may start tasks and who may approve them in Slack (users, user groups, channels).

User groups are resolved through the Slack API and cached; the rules themselves are pure.
"""

from __future__ import annotations

import time

from slack_sdk.web.async_client import AsyncWebClient

from orchestration.runtime.settings import SlackSettings


def start_refusal(
    *, user_id: str, channel_id: str, settings: SlackSettings, group_members: set[str]
) -> str | None:
    """Why this person may not start a task here, or None."""
    if settings.start_channels and channel_id not in settings.start_channels:
        return "fixbot does not take tasks in this channel"
    if not settings.start_users and not settings.start_usergroups:
        return None
    if user_id in settings.start_users or user_id in group_members:
        return None
    return "you are not allowed to start fixbot tasks"


class SlackAccess:
    """The configured rules, with user groups resolved (and cached) through the API."""

    def __init__(self, client: AsyncWebClient, settings: SlackSettings) -> None:
        self._client = client
        self._settings = settings
        self._cache: dict[str, tuple[float, set[str]]] = {}

    async def start_refusal(self, user_id: str, channel_id: str) -> str | None:
        members = await self._members(self._settings.start_usergroups)
        return start_refusal(
            user_id=user_id, channel_id=channel_id, settings=self._settings, group_members=members
        )

    async def approvers(self) -> list[str]:
        """Everyone who may approve, as Slack user ids; empty means anyone."""
        members = await self._members(self._settings.approver_usergroups)
        return sorted(set(self._settings.approver_users) | members)

    async def may_answer(self, user_id: str, channel_id: str, requester: str | None) -> bool:
        """Thread replies count as answers from the requester, approvers, or starters."""
        if user_id == requester or user_id in await self.approvers():
            return True
        return await self.start_refusal(user_id, channel_id) is None

    async def _members(self, groups: list[str]) -> set[str]:
        members: set[str] = set()
        for group in groups:
            members |= await self._group(group)
        return members

    async def _group(self, group: str) -> set[str]:
        now = time.monotonic()
        cached = self._cache.get(group)
        if cached is not None and now - cached[0] < self._settings.usergroup_cache_seconds:
            return cached[1]
        answer = await self._client.usergroups_users_list(usergroup=group)
        users = {str(u) for u in answer.get("users") or []}
        self._cache[group] = (now, users)
        return users
