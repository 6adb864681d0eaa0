"""The Slack Web API client the bot uses, and what it asks Slack at start-up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.web import SlackResponse

from bot.config import SlackSettings
from bot.metrics import SLACK_CALLS

log = structlog.get_logger(__name__)


class MeteredClient(WebClient):
    """A WebClient that counts every Web API call by method and outcome (``ok``,
    ``ratelimited``, ``connection_error`` or Slack's error code) for /metrics."""

    def api_call(self, api_method: str, *args: Any, **kwargs: Any) -> SlackResponse:
        try:
            response = super().api_call(api_method, *args, **kwargs)
        except SlackApiError as exc:
            SLACK_CALLS.labels(method=api_method, outcome=_outcome(exc)).inc()
            raise
        except OSError:  # URLError, timeouts, refused connections
            SLACK_CALLS.labels(method=api_method, outcome="connection_error").inc()
            raise
        SLACK_CALLS.labels(method=api_method, outcome="ok").inc()
        return response


def _outcome(exc: SlackApiError) -> str:
    response = exc.response
    if getattr(response, "status_code", 0) == 429:
        return "ratelimited"
    return str(response.get("error") or "unknown_error") if response is not None \
        else "unknown_error"


def build_client(settings: SlackSettings) -> WebClient:
    token = settings.bot_token.get_secret_value() if settings.bot_token else None
    client = MeteredClient(token=token, base_url=settings.api_base_url, timeout=10)
    # slack_sdk does not retry 429 by default.
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    return client


def delivery_client(client: WebClient, lease_s: float) -> WebClient:
    """``client`` itself, or a copy without retry handlers and with a timeout of at most a
    third of ``lease_s``: the outbox retries on its own (a blind re-send of a post that reached
    Slack would duplicate it), and a call must end well inside the row's claim."""
    max_timeout = max(1, int(lease_s / 3))
    handlers = list(client.retry_handlers or [])
    if not handlers and client.timeout <= max_timeout:
        return client
    copy = type(client)(
        token=client.token,
        base_url=client.base_url,
        timeout=min(client.timeout, max_timeout),
        ssl=client.ssl,
        proxy=client.proxy,
        headers=dict(client.headers),
        logger=client.logger,
        retry_handlers=[],
    )
    copy.default_params = dict(client.default_params)
    if "User-Agent" in client.headers:
        copy.headers["User-Agent"] = client.headers["User-Agent"]
    log.info("outbox.client_copied", dropped_retry_handlers=[type(h).__name__ for h in handlers],
             timeout_s=copy.timeout)
    return copy



def resolve_channel_ids(client: WebClient, names: list[str]) -> dict[str, str]:
    """Map configured channel names (#genai-critical) to ids with conversations.list.
    Ids in the config map to themselves; names Slack does not know are left out."""
    wanted = {n.lstrip("#"): n for n in names if n.startswith("#")}
    found = {n: n for n in names if not n.startswith("#")}
    cursor = None
    while wanted:
        page = client.conversations_list(types="public_channel,private_channel",
                                         exclude_archived=True, limit=1000, cursor=cursor)
        for channel in page.get("channels") or []:
            original = wanted.pop(str(channel.get("name")), None)
            if original is not None:
                found[original] = str(channel["id"])
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    return found


def usergroup_members(client: WebClient) -> Callable[[str], list[str]]:
    def members_of(group_id: str) -> list[str]:
        return list(client.usergroups_users_list(usergroup=group_id).get("users") or [])

    return members_of
