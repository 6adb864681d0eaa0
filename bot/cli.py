"""`genai-bot`: run the bot, ask it a question without Slack, or check a config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.config import Settings, load_settings
from bot.errors import ConfigError

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
        manifest = Path(__file__).resolve().parent.parent / "manifests" / "slack-app.yaml"
        print(SLACK_SETUP.format(missing=" and ".join(missing) + " not set", manifest=manifest),
              file=sys.stderr)
        return 2
    from bot.logs import configure_logging
    from bot.server import Bot

    configure_logging(settings.log_format, settings.log_level)
    Bot(settings).serve_forever()
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from bot.dispatch import parse
    from bot.logs import configure_logging
    from bot.render.text import render_text
    from bot.report import Report
    from bot.roles import Role
    from bot.runtime import Runtime

    settings = _settings(args.config)
    configure_logging("console" if sys.stderr.isatty() else "json", "warning")
    runtime = Runtime.from_settings(settings)
    try:
        # Whoever holds the config and a shell is already an operator.
        parsed = parse(" ".join(args.text), Role.ADMIN)
        if isinstance(parsed, Report):
            report = parsed
        else:
            report = runtime.execute(parsed, "cli", Role.ADMIN)
        print(render_text(report))
    finally:
        runtime.close()
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _settings(args.config)
    print(f"config ok: slack mode {settings.slack.mode}, prometheus {settings.prometheus.url}, "
          f"database {settings.database_url.split('://', 1)[0]}")
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
    args = parser.parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
