"""Runbooks as readable HTML pages (``GET /runbooks/<AlertName>`` and the index at
``/runbooks/``), from the same YAML the bot answers alerts with: the rules' ``runbook_url``
and the cards link here, never to raw YAML. Every piece of text is HTML-escaped."""

from __future__ import annotations

from html import escape

from bot.runbooks import Runbook, RunbookIndex, Step

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;
color:#1d1c1d}h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid
#ddd}pre{background:#f6f6f6;padding:.75rem;overflow-x:auto;border-radius:4px}code{background:
#f6f6f6;padding:0 .2rem}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:
.3rem .6rem;text-align:left;vertical-align:top}.meta{color:#616061}
"""


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body>{body}</body></html>\n")


def _steps(steps: list[Step]) -> str:
    items = []
    for step in steps:
        item = f"<p>{escape(step.text)}</p>"
        if step.command:
            item += f"<pre><code>{escape(step.command)}</code></pre>"
        if step.snippet:
            item += f"<pre><code>{escape(step.snippet)}</code></pre>"
        items.append(f"<li>{item}</li>")
    return f"<ol>{''.join(items)}</ol>"


def page(runbook: Runbook) -> str:
    """One runbook: Meaning / Impact / Diagnosis / Mitigation, the prometheus-operator
    layout, and the table of codes where the alert carries one."""
    meta = []
    if runbook.alert:
        meta.append(f"alert <code>{escape(runbook.alert)}</code>")
    if runbook.severity:
        meta.append(f"severity {escape(runbook.severity)}")
    if runbook.diag_scenario:
        meta.append(f"diagnosis: <code>/genai diag {escape(runbook.diag_scenario)}</code> "
                    "or Run diagnostics on the alert")
    elif runbook.quick_look:
        meta.append(f"Run diagnostics shows <code>/genai {escape(runbook.quick_look)}</code>")
    body = [f"<h1>{escape(runbook.title)}</h1>",
            f"<p class=\"meta\">{' · '.join(meta)}</p>" if meta else "",
            "<h2>Meaning</h2>", f"<p>{escape(runbook.meaning)}</p>",
            "<h2>Impact</h2>", f"<p>{escape(runbook.impact)}</p>",
            "<h2>Diagnosis</h2>", _steps(runbook.diagnosis),
            "<h2>Mitigation</h2>", _steps(runbook.mitigation)]
    if runbook.codes:
        rows = "".join(f"<tr><td>{code}</td><td>{escape(text)}</td></tr>"
                       for code, text in sorted(runbook.codes.items()))
        body += ["<h2>Codes</h2>", f"<table><tr><th>code</th><th>meaning and what to do</th>"
                 f"</tr>{rows}</table>"]
    if runbook.related:
        links = ", ".join(f"<a href=\"{escape(r)}\">{escape(r)}</a>" for r in runbook.related)
        body.append(f"<p class=\"meta\">Related: {links}</p>")
    body.append("<p class=\"meta\"><a href=\"./\">All runbooks</a></p>")
    return _page(f"Runbook: {runbook.title}", "".join(body))


def index_page(runbooks: RunbookIndex) -> str:
    """Every alert's runbook, then the troubleshooting scenarios and the generic one."""
    alerts = sorted((rb for rb in runbooks if rb.alert), key=lambda rb: rb.alert or "")
    others = sorted((rb for rb in runbooks if not rb.alert), key=lambda rb: rb.id)
    rows = "".join(f"<li><a href=\"{escape(rb.alert or rb.id)}\">{escape(rb.alert or '')}</a>"
                   f" — {escape(rb.title)}</li>" for rb in alerts)
    more = "".join(f"<li><a href=\"{escape(rb.id)}\">{escape(rb.id)}</a> — "
                   f"{escape(rb.title)}</li>" for rb in others)
    return _page("Runbooks", f"<h1>Runbooks</h1><h2>Alerts</h2><ul>{rows}</ul>"
                             f"<h2>Troubleshooting</h2><ul>{more}</ul>")


def find(runbooks: RunbookIndex, name: str) -> Runbook | None:
    """By alert name (what ``runbook_url`` uses) or by runbook id."""
    if runbooks.has_alert(name):
        return runbooks.for_alert(name)
    return runbooks.get(name)
