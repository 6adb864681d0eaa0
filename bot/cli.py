"""`genai-bot`: run the bot, ask it a question without Slack, or check a config."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from bot.config import Settings, load_settings
from bot.errors import ConfigError, StartupError
from bot.logs import configure_logging, hold_early_records
from bot.roles import Caller
from commands.base import Context

SLACK_SETUP = """\
genai-bot cannot start: {missing}.

Create the Slack app from the manifest in this repository:
  1. Open https://api.slack.com/apps?new_app=1, choose "From an app manifest" and your workspace.
  2. Paste {manifest} and press Create.
  3. Basic Information > App-Level Tokens > Generate Token and Scopes, scope connections:write.
     That is GENAI_SLACK__APP_TOKEN (xapp-...).
  4. Install App > Install to Workspace. The Bot User OAuth Token is
     GENAI_SLACK__BOT_TOKEN (xoxb-...).
  5. HTTP mode only (GENAI_SLACK__MODE=http): Basic Information > Signing Secret is
     GENAI_SLACK__SIGNING_SECRET, and the request URL is https://<your-host>/slack/events.
  6. Invite the bot to the alert channels: /invite @genai-ops-bot in #genai-critical,
     #genai-warnings, #genai-alerts and the Game Day channel #genai-gameday.
Then:
  export GENAI_SLACK__BOT_TOKEN=xoxb-... GENAI_SLACK__APP_TOKEN=xapp-...
  make run
"""


def _settings(path: str | None) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as exc:
        print("Invalid configuration:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def missing_slack_credentials(settings: Settings) -> list[str]:
    slack = settings.slack
    missing = [] if slack.bot_token else ["GENAI_SLACK__BOT_TOKEN"]
    if slack.mode == "socket" and not slack.app_token:
        missing.append("GENAI_SLACK__APP_TOKEN")
    if slack.mode == "http" and not slack.signing_secret:
        missing.append("GENAI_SLACK__SIGNING_SECRET")
    return missing


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args.config)
    missing = missing_slack_credentials(settings)
    if missing:
        found = Path(__file__).resolve().parent.parent / "manifests" / "slack-app.yaml"
        # Installed from a wheel or an image, the manifest is not beside the code.
        manifest = (str(found) if found.is_file()
                    else "manifests/slack-app.yaml from the genai-ops-bot repository")
        print(SLACK_SETUP.format(missing=" and ".join(missing) + " not set", manifest=manifest),
              file=sys.stderr)
        return 2
    from bot.server import Bot

    as_json = configure_logging(settings.log_format, settings.log_level)
    try:
        Bot(settings).serve_forever()
    except StartupError as exc:
        return _cannot("genai-bot cannot start", exc, as_json)
    return 0


def _cannot(what: str, exc: StartupError, as_json: bool) -> int:
    """One line on stderr and exit 2; a JSON line when the logs are JSON, so that Fluent
    Bit keeps it too."""
    if as_json:
        logging.getLogger("bot.cli").critical("%s: %s", what, exc)
    else:
        print(f"{what}: {exc}", file=sys.stderr)
    return 2


def _database_file_missing(url: str) -> bool:
    """A SQLite database that does not exist yet: a report from the shell must not create it
    in whatever directory it was run from."""
    from sqlalchemy import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return False
    return not Path(str(parsed.database)).exists()


@contextmanager
def _ask_context(settings: Settings, caller: Caller) -> Iterator[Context]:
    """The full runtime when the bot's database exists; otherwise only the sources, so the
    commands that read incidents or drills say plainly that there is no database."""
    if not _database_file_missing(settings.database_url):
        from bot.runtime import Runtime

        runtime = Runtime.from_settings(settings)
        try:
            yield runtime.context(caller)
        finally:
            runtime.close()
        return
    from bot.sources.aws import AwsClients
    from bot.sources.kubernetes import KubernetesSource
    from bot.sources.prometheus import PrometheusSource

    fanout = ThreadPoolExecutor(settings.jobs.fanout_threads, thread_name_prefix="fanout")
    try:
        yield Context(settings=settings,
                      prometheus=PrometheusSource(settings.prometheus.url,
                                                  settings.prometheus.timeout_s),
                      kubernetes=KubernetesSource(settings.kubernetes), user_id=caller.user_id,
                      role=caller.role, fanout=fanout, aws=AwsClients(settings.aws))
    finally:
        fanout.shutdown(wait=False, cancel_futures=True)


def cmd_ask(args: argparse.Namespace) -> int:
    """Exit 0 with the report, 2 for a usage error, 1 when the command itself failed."""
    from bot.dispatch import execute, parse
    from bot.render.text import render_text
    from bot.report import Report
    from bot.roles import Role

    settings = _settings(args.config)
    configure_logging("console" if sys.stderr.isatty() else "json", "error")
    # Whoever holds the config and a shell is already an operator.
    caller = Caller("cli", Role.ADMIN)
    parsed = parse(" ".join(args.text), caller)
    if isinstance(parsed, Report):
        print(render_text(parsed), file=sys.stderr)
        return 2
    try:
        with _ask_context(settings, caller) as ctx:
            done = execute(parsed, ctx)
    except StartupError as exc:
        print(f"genai-bot ask: {exc}", file=sys.stderr)
        return 2
    print(render_text(done.report), file=sys.stderr if done.outcome == "usage" else sys.stdout)
    return {"ok": 0, "usage": 2}.get(done.outcome, 1)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Migrate the database to head and exit (a Kubernetes Job before a rollout); replicas
    starting together would do the same, once, under a lock."""
    from bot.store import open_store

    settings = _settings(args.config)
    as_json = configure_logging(settings.log_format, settings.log_level)
    try:
        store = open_store(settings.database_url)
    except StartupError as exc:
        return _cannot("genai-bot migrate", exc, as_json)
    try:
        print(f"database at revision {store.db.current_revision()} (head)")
    finally:
        store.db.dispose()
    return 0


def _bundled() -> str:
    """What the bot loads from its own package at start-up (runbooks, drill scenarios,
    migrations), validated the same way: an installed wheel that lacks one fails here."""
    from alembic.script import ScriptDirectory

    from bot.gameday.catalog import load_catalog
    from bot.runbooks import load_runbooks
    from bot.store import alembic_config

    runbooks = load_runbooks()
    catalog = load_catalog(alert_names=set(runbooks.alerts()),
                           runbook_ids={rb.id for rb in runbooks})
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if not heads:
        raise ValueError("no database migrations found")
    return (f"{len(runbooks)} runbooks, {len(catalog.scenarios)} drill scenarios, "
            f"migrations up to {', '.join(heads)}")


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _settings(args.config)
    print(f"config ok: slack mode {settings.slack.mode}, prometheus {settings.prometheus.url}, "
          f"database {settings.database_url.split('://', 1)[0]}")
    try:
        print(f"bundled ok: {_bundled()}")
    except Exception as exc:  # a broken or missing package file: say which, exit 2
        print(f"genai-bot check-config: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    missing = missing_slack_credentials(settings)
    if missing:
        print("note: " + ", ".join(missing) + " not set (needed by `genai-bot run`)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="genai-bot", description=__doc__)
    parser.add_argument("--config", help="YAML config file (environment GENAI_* wins over it)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("run", help="connect to Slack and serve").set_defaults(fn=cmd_run)
    ask = sub.add_parser("ask", help='run a command without Slack, e.g. genai-bot ask "status"')
    ask.add_argument("text", nargs="+")
    ask.set_defaults(fn=cmd_ask)
    sub.add_parser("check-config", help="validate the config").set_defaults(fn=cmd_check_config)
    sub.add_parser("migrate", help="migrate the database and exit").set_defaults(fn=cmd_migrate)
    args = parser.parse_args(argv)
    hold_early_records()
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
