"""Which code host a repository URL goes to, with the credentials the worker holds for it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from orchestration.activities.publish_activities import ForgeRoute
from orchestration.forge.git_push import GitAuth, git_environment
from orchestration.forge.github_forge import GitHubForge, parse_github_repository
from orchestration.forge.local_forge import LocalForge, local_repository_path
from orchestration.policy.validation import is_local_repository, repository_name_from_url
from orchestration.runtime.secrets import secret_value
from orchestration.runtime.settings import Settings


def forge_router(settings: Settings) -> Callable[[str], ForgeRoute]:
    def route(url: str) -> ForgeRoute:
        if is_local_repository(url):
            if not settings.git.allow_local_repositories:
                raise ValueError(f"{url}: local repositories are disabled")
            path = str(local_repository_path(url))
            return ForgeRoute(
                LocalForge(settings.patch_dir), path, "local", repository_name_from_url(url), None
            )
        token = secret_value(settings.github_token)
        if not token:
            raise ValueError(
                f"GITHUB_TOKEN is not set, so fixbot cannot open a pull request on {url}"
            )
        owner, repo = parse_github_repository(url, settings.github_web_host)
        forge = _github_forge(settings, token)
        return ForgeRoute(forge, url, owner, repo, GitAuth(username="x-access-token", token=token))

    return route


def _github_forge(settings: Settings, token: str) -> GitHubForge:
    pacing: dict[str, float | None] = (
        {}
        if settings.github_throttle
        else {"seconds_between_requests": None, "seconds_between_writes": None}
    )
    retries = settings.github_request_retries
    return GitHubForge(
        settings.github_api_url,
        token,
        settings.github_web_host,
        retry="production" if retries > 0 else None,
        **pacing,  # type: ignore[arg-type]
    )


def _github_auth(settings: Settings, url: str) -> GitAuth | None:
    token = secret_value(settings.github_token)
    if token and not is_local_repository(url) and urlsplit(url).netloc == settings.github_web_host:
        return GitAuth(username="x-access-token", token=token)
    return None


def git_env_for(settings: Settings, url: str) -> Mapping[str, str]:
    auth = _github_auth(settings, url)
    return git_environment(auth) if auth else {}
