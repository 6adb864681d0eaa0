"""The shape of the house, checked from the code itself: only ``bot/slack/`` knows Slack,
layers import downwards only, every typed outbox message has a renderer, and no production
module grows past 400 lines."""

from __future__ import annotations

import ast
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = [ROOT / "bot", ROOT / "commands"]
BLOCK_KIT_TYPES = {"section", "header", "actions", "context", "divider", "input", "button",
                   "static_select", "plain_text", "mrkdwn", "modal", "home", "image",
                   "plain_text_input", "rich_text"}
MAX_LINES = 400

# What each layer may import from the project (a prefix allows its sub-packages).
ALLOWED: dict[str, tuple[str, ...]] = {
    "bot.store": ("bot.store", "bot.messages", "bot.report", "bot.times", "bot.errors",
                  "bot.words"),
    "bot.sources": ("bot.sources", "bot.errors", "bot.config", "bot.words"),
    "bot.messages": ("bot.report",),
    # The postmortem Markdown a drill and a real incident share: below both of them.
    "bot.postmortem": ("bot.report", "bot.times"),
    "bot.alerts": ("bot.alerts", "bot.store", "bot.messages", "bot.report", "bot.times",
                   "bot.errors", "bot.roles", "bot.runbooks", "bot.sources", "bot.channels",
                   "bot.config", "bot.words", "bot.postmortem"),
    "bot.gameday": ("bot.gameday", "bot.store", "bot.messages", "bot.report", "bot.times",
                    "bot.errors", "bot.roles", "bot.sources", "bot.channels", "bot.config",
                    "bot.buttons", "bot.words", "bot.postmortem"),
    # The threshold backtest: pure replay and scoring over what sources and the store read.
    "bot.tune": ("bot.tune", "bot.sources", "bot.store", "bot.errors", "bot.words"),
    "commands": ("commands", "bot.report", "bot.errors", "bot.roles", "bot.sources",
                 "bot.store", "bot.times", "bot.words", "bot.config", "bot.alerts",
                 "bot.gameday", "bot.runbooks", "bot.postmortem", "bot.buttons", "bot.tune"),
}


def modules() -> Iterator[tuple[str, Path, ast.Module]]:
    for top in PRODUCTION:
        for path in sorted(top.rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            name = ".".join(rel.parts).removesuffix(".__init__")
            yield name, path, ast.parse(path.read_text(), str(path))


def imported(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Every module imported anywhere in the file, type-checking blocks included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_only_the_slack_layer_imports_slack() -> None:
    breaches = [f"{path.relative_to(ROOT)}:{line} imports {mod}"
                for name, path, tree in modules() if not _within(name, "bot.slack")
                for line, mod in imported(tree)
                if _within(mod, "slack_sdk") or _within(mod, "slack_bolt")]
    assert breaches == []


def test_only_the_slack_layer_builds_block_kit() -> None:
    """A dict literal with a Block Kit "type" is Slack's business (the terminal renderer
    and every domain module build Reports or typed messages instead)."""
    breaches = []
    for name, path, tree in modules():
        if _within(name, "bot.slack"):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Dict):
                continue
            for key, value in zip(node.keys, node.values, strict=True):
                if (isinstance(key, ast.Constant) and key.value == "type"
                        and isinstance(value, ast.Constant)
                        and value.value in BLOCK_KIT_TYPES):
                    breaches.append(f"{path.relative_to(ROOT)}:{node.lineno} {value.value!r}")
    assert breaches == []


def test_layers_import_downwards_only() -> None:
    breaches = []
    for name, path, tree in modules():
        layer = next((p for p in ALLOWED if _within(name, p)), None)
        if layer is None:
            continue
        for line, mod in imported(tree):
            ours = _within(mod, "bot") or _within(mod, "commands")
            if ours and not any(_within(mod, ok) for ok in ALLOWED[layer]):
                breaches.append(f"{path.relative_to(ROOT)}:{line} ({layer}) imports {mod}")
    assert breaches == []


def test_the_check_catches_a_breach(tmp_path: Path) -> None:
    """The walk sees imports inside functions and TYPE_CHECKING blocks too."""
    tree = ast.parse("if TYPE_CHECKING:\n    from slack_sdk import WebClient\n"
                     "def f():\n    import slack_bolt.app\n")
    assert [m for _, m in imported(tree)] == ["slack_sdk", "slack_bolt.app"]


def test_no_production_module_over_400_lines() -> None:
    long = {str(path.relative_to(ROOT)): n for _, path, _ in modules()
            if "migrations" not in path.parts
            and (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_every_outbox_message_has_a_renderer() -> None:
    from bot.messages import OutboxMessage
    from bot.slack.render.table import _TABLE

    union = typing.get_args(typing.get_args(OutboxMessage)[0])
    assert set(union) == set(_TABLE)


@pytest.mark.parametrize("kind", ["post", "update", "thread_reply"])
def test_every_delivery_kind_has_a_message(kind: str) -> None:
    from bot.messages import OutboxMessage

    union = typing.get_args(typing.get_args(OutboxMessage)[0])
    assert kind in {m.delivery.value for m in union}
