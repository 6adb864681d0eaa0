"""Renderers: one Report, two sinks (Block Kit for Slack, plain text for console/CLI/demo)."""
