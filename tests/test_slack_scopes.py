"""The Slack app manifest asks for exactly the bot scopes the code needs: no fewer (a call
would fail with `missing_scope`), no more (least privilege: a workspace admin approving the
app sees only what it uses).

What the code needs is collected from the source, not listed by hand:
- Web API calls: every attribute call in bot/ and commands/ whose name is a
  `slack_sdk.WebClient` method (`client.chat_postMessage(...)`,
  `self.client.conversations_history(...)`), mapped to its API method (`chat.postMessage`)
  by reading which method the slack_sdk wrapper calls;
- what Bolt does for the listeners: `@app.command` needs `commands`; `@app.event("message")`
  needs the manifest's `message.*` subscriptions, each with its history scope; `say()` is a
  `chat.postMessage`; `respond()` posts to the response_url and needs no scope;
- Socket Mode (`SocketModeHandler`) opens its WebSocket with `apps.connections.open` on the
  app-level token (xapp-, scope `connections:write`), which is no bot scope.

Each API method maps to its scopes in METHOD_SCOPES (from https://api.slack.com/methods).
A method the code calls that is not in the table fails the test until someone adds it.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient
from slack_sdk.web.base_client import BaseClient

ROOT = Path(__file__).resolve().parents[1]
SOURCES = (ROOT / "bot", ROOT / "commands")
SLACK_APP = ROOT / "manifests" / "slack-app.yaml"

# The conversations the bot reads and writes: alert and Game Day channels, public or private
# (conversations.list asks for "public_channel,private_channel"). No DMs, no group DMs, so
# no im:* / mpim:* scopes.
CHANNELS = ("channels", "groups")


def _per_channel_type(action: str) -> frozenset[str]:
    return frozenset(f"{kind}:{action}" for kind in CHANNELS)


# Bot-token scopes each Web API method needs. An empty set: the method needs no scope.
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "auth.test": frozenset(),
    "chat.postMessage": frozenset({"chat:write"}),
    "chat.update": frozenset({"chat:write"}),
    "chat.delete": frozenset({"chat:write"}),
    "chat.postEphemeral": frozenset({"chat:write"}),
    "chat.scheduleMessage": frozenset({"chat:write"}),
    "chat.getPermalink": frozenset(),
    "conversations.history": _per_channel_type("history"),
    "conversations.replies": _per_channel_type("history"),
    "conversations.list": _per_channel_type("read"),
    "conversations.info": _per_channel_type("read"),
    "conversations.members": _per_channel_type("read"),
    "conversations.join": frozenset({"channels:join"}),
    "usergroups.list": frozenset({"usergroups:read"}),
    "usergroups.users.list": frozenset({"usergroups:read"}),
    "users.info": frozenset({"users:read"}),
    "users.list": frozenset({"users:read"}),
    "users.lookupByEmail": frozenset({"users:read.email"}),
    "views.open": frozenset(),
    "views.push": frozenset(),
    "views.update": frozenset(),
    "views.publish": frozenset(),
    "reactions.add": frozenset({"reactions:write"}),
    "reactions.remove": frozenset({"reactions:write"}),
    "reactions.get": frozenset({"reactions:read"}),
    "files.upload": frozenset({"files:write"}),
    "files.getUploadURLExternal": frozenset({"files:write"}),
    "files.completeUploadExternal": frozenset({"files:write"}),
    "files.info": frozenset({"files:read"}),
    "pins.add": frozenset({"pins:write"}),
    "bookmarks.add": frozenset({"bookmarks:write"}),
    "team.info": frozenset({"team:read"}),
}

# Socket Mode's connection call: made with the app-level token, whose scope
# (connections:write) is granted when the token is generated, not in the manifest.
APP_TOKEN_METHODS = {"apps.connections.open": "connections:write"}

# Bot events and the scope each subscription needs.
EVENT_SCOPES = {
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "message.mpim": "mpim:history",
    "app_mention": "app_mentions:read",
    "reaction_added": "reactions:read",
    "reaction_removed": "reactions:read",
    "member_joined_channel": "channels:read",
}

# Bolt listener kinds that need no scope but must be switched on in the manifest.
INTERACTIVE_LISTENERS = {"action", "view", "shortcut", "options"}
# Bolt's listener utilities: the API method each calls (None: the response_url, no scope).
BOLT_UTILITIES: dict[str, str | None] = {"say": "chat.postMessage", "respond": None}


# --------------------------------------------------------------------------- slack_sdk


@cache
def _webclient_methods() -> frozenset[str]:
    """The Web API wrappers of slack_sdk's WebClient (``chat_postMessage``, ...)."""
    base = set(dir(BaseClient))
    return frozenset(n for n in dir(WebClient) if not n.startswith("_") and n not in base)


@cache
def api_methods(wrapper: str) -> frozenset[str]:
    """The API methods a WebClient wrapper calls: ``chat_postMessage`` -> chat.postMessage;
    a helper such as ``files_upload_v2`` -> the methods its body calls."""
    source = inspect.getsource(getattr(WebClient, wrapper))
    direct = set(re.findall(r"""api_call\(\s*["']([\w.]+)["']""", source))
    if direct:
        return frozenset(direct)
    nested = {m for m in re.findall(r"self\.(\w+)\(", source) if m in _webclient_methods()}
    found = {api for m in nested - {wrapper} for api in api_methods(m)}
    # Last resort, the naming rule slack_sdk follows: underscores are the dots.
    return frozenset(found or {wrapper.replace("_", ".")})


# --------------------------------------------------------------------------- the code


@dataclass(frozen=True)
class Use:
    what: str  # an API method ("chat.postMessage") or a listener ("command:/genai")
    where: str  # file:line

    def __str__(self) -> str:
        return f"{self.what} ({self.where})"


def _python_files() -> Iterator[Path]:
    for source in SOURCES:
        yield from sorted(source.rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _const_str(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def collect(tree: ast.AST, filename: str) -> list[Use]:
    """Web API calls, Bolt listeners and Socket Mode in one module's syntax tree."""
    methods = _webclient_methods()
    uses: list[Use] = []
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call):
            func = node.func
            # client.chat_postMessage(...), self.client.views_open(...)
            if isinstance(func, ast.Attribute) and func.attr in methods:
                uses += [Use(api, where) for api in sorted(api_methods(func.attr))]
            # client.api_call("chat.postMessage", ...)
            if isinstance(func, ast.Attribute) and func.attr == "api_call" and node.args:
                name = _const_str(node.args[0])
                uses.append(Use(name or "api_call:<dynamic>", where))
            # @app.command("/genai"), app.action(value)(handler), @app.event("message")
            if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                    and func.value.id == "app"):
                if func.attr in {"command", "event"} and node.args:
                    arg = _const_str(node.args[0])
                    uses.append(Use(f"{func.attr}:{arg or '<dynamic>'}", where))
                elif func.attr in INTERACTIVE_LISTENERS:
                    uses.append(Use(f"interactive:{func.attr}", where))
            # say(...) / respond(...) inside a listener
            if isinstance(func, ast.Name) and func.id in BOLT_UTILITIES:
                api = BOLT_UTILITIES[func.id]
                if api is not None:
                    uses.append(Use(api, where))
            if isinstance(func, ast.Name) and func.id == "SocketModeHandler":
                uses.append(Use("apps.connections.open", where))
    return uses


@cache
def code_uses() -> tuple[Use, ...]:
    uses: list[Use] = []
    for path in _python_files():
        uses += collect(ast.parse(path.read_text(), filename=str(path)), _rel(path))
    return tuple(uses)


def _by_what(uses: Iterable[Use]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for use in uses:
        out[use.what].append(use.where)
    return dict(out)


def _api_uses() -> dict[str, list[str]]:
    return {k: v for k, v in _by_what(code_uses()).items() if ":" not in k}


def _listeners(kind: str) -> dict[str, list[str]]:
    prefix = f"{kind}:"
    return {k.removeprefix(prefix): v for k, v in _by_what(code_uses()).items()
            if k.startswith(prefix)}


# --------------------------------------------------------------------------- the manifest


def _app() -> dict[str, Any]:
    return dict(yaml.safe_load(SLACK_APP.read_text()))


def _manifest_scopes() -> set[str]:
    return set(_app()["oauth_config"]["scopes"]["bot"])


def _manifest_events() -> set[str]:
    return set(_app()["settings"].get("event_subscriptions", {}).get("bot_events") or [])


def required_scopes() -> dict[str, list[str]]:
    """scope -> why (the calls and subscriptions that need it)."""
    why: dict[str, list[str]] = defaultdict(list)
    for method, wheres in sorted(_api_uses().items()):
        if method in APP_TOKEN_METHODS:
            continue
        for scope in sorted(METHOD_SCOPES.get(method, ())):
            why[scope].append(f"{method} at {', '.join(wheres)}")
    for command, wheres in sorted(_listeners("command").items()):
        why["commands"].append(f"slash command {command} at {', '.join(wheres)}")
    for event in sorted(_manifest_events()):
        if event in EVENT_SCOPES:
            why[EVENT_SCOPES[event]].append(f"event subscription {event}")
    return dict(why)


def scope_problems(required: Iterable[str], granted: Iterable[str]) -> list[str]:
    required, granted = set(required), set(granted)
    problems = [f"missing scope {s}" for s in sorted(required - granted)]
    problems += [f"unused scope {s}: nothing in the code needs it"
                 for s in sorted(granted - required)]
    return problems


# --------------------------------------------------------------------------- the tests


def test_snake_case_wrappers_map_to_api_methods() -> None:
    assert api_methods("chat_postMessage") == {"chat.postMessage"}
    assert api_methods("chat_update") == {"chat.update"}
    assert api_methods("usergroups_users_list") == {"usergroups.users.list"}
    assert api_methods("conversations_history") == {"conversations.history"}
    assert api_methods("apps_connections_open") == {"apps.connections.open"}
    assert api_methods("auth_test") == {"auth.test"}
    # A helper made of several calls maps to each of them.
    assert {"files.getUploadURLExternal", "files.completeUploadExternal"} <= api_methods(
        "files_upload_v2")


def test_collector_finds_calls_listeners_and_socket_mode() -> None:
    tree = ast.parse(
        "client.chat_postMessage(channel='C1', text='x')\n"
        "self.client.conversations_history(channel='C1')\n"
        "web.views_open(trigger_id='t', view={})\n"
        "client.api_call('reactions.add', json={})\n"
        "client.chat_postMessage\n"  # not a call
        "other.not_a_slack_method()\n"
        "@app.command('/genai')\n"
        "def on_genai(ack, say):\n"
        "    say('hi')\n"
        "    respond(text='private')\n"
        "app.action('btn')(handler)\n"
        "app.event('message')(handler)\n"
        "SocketModeHandler(app, 'xapp-')\n"
    )
    found = {u.what for u in collect(tree, "snippet.py")}
    assert found == {
        "chat.postMessage", "conversations.history", "views.open", "reactions.add",
        "command:/genai", "interactive:action", "event:message", "apps.connections.open",
    }


def test_the_code_is_found() -> None:
    """The collector sees the calls this test was written against (guards against a walk
    that silently finds nothing after a move)."""
    apis = _api_uses()
    assert {"chat.postMessage", "chat.update", "auth.test", "conversations.list"} <= set(apis)
    assert "/genai" in _listeners("command")


def test_every_called_method_has_known_scopes() -> None:
    unknown = {m: w for m, w in _api_uses().items()
               if m not in METHOD_SCOPES and m not in APP_TOKEN_METHODS}
    assert not unknown, (
        "Slack methods without an entry in METHOD_SCOPES (look the scopes up at "
        f"https://api.slack.com/methods/<method> and add them): {unknown}")


def test_bot_scopes_are_exactly_the_ones_the_code_needs() -> None:
    required = required_scopes()
    granted = _manifest_scopes()
    problems = scope_problems(required, granted)
    detail = "\n".join(f"  {s}: {'; '.join(w)}" for s, w in sorted(required.items()))
    assert not problems, "\n".join(problems) + f"\nneeded, and why:\n{detail}"


def test_scope_comparison_reports_both_directions() -> None:
    assert scope_problems({"chat:write"}, {"chat:write"}) == []
    assert scope_problems({"chat:write", "commands"}, {"chat:write", "users:read"}) == [
        "missing scope commands",
        "unused scope users:read: nothing in the code needs it",
    ]


def test_app_token_scope_is_not_a_bot_scope() -> None:
    # connections:write belongs to the app-level token (xapp-) Socket Mode connects with.
    assert "apps.connections.open" in _api_uses(), "SocketModeHandler not found in the code"
    assert _app()["settings"]["socket_mode_enabled"] is True
    assert not set(APP_TOKEN_METHODS.values()) & _manifest_scopes()
    assert "connections:write" in SLACK_APP.read_text()  # the setup comment names it


def test_slash_commands_match_the_listeners() -> None:
    declared = {c["command"] for c in _app()["features"].get("slash_commands") or []}
    assert "<dynamic>" not in _listeners("command")
    assert declared == set(_listeners("command"))


def test_event_subscriptions_match_the_listeners() -> None:
    listened = set(_listeners("event"))
    assert "<dynamic>" not in listened
    subscribed = _manifest_events()
    for event in subscribed:
        assert event in EVENT_SCOPES, f"{event}: add its scope to EVENT_SCOPES"
        assert event.split(".", 1)[0] in listened, f"subscribed to {event}, nothing listens"
    for event in listened:
        assert any(s.split(".", 1)[0] == event for s in subscribed), (
            f"a listener for {event} events, but the manifest subscribes to none")


def test_interactivity_matches_the_listeners() -> None:
    interactive = bool(_listeners("interactive"))
    assert interactive, "no button or view listener found"
    assert _app()["settings"]["interactivity"]["is_enabled"] is interactive


@pytest.mark.parametrize("scope", sorted(_manifest_scopes()))
def test_manifest_scope_is_well_formed(scope: str) -> None:
    assert re.fullmatch(r"[a-z_]+(:[a-z_.]+)?", scope), scope
