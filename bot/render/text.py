"""Report -> plain text, for the console, the CLI and the demo."""

from __future__ import annotations

from bot.report import Report


def render_text(report: Report) -> str:
    out = [report.title + (f" — {report.summary}" if report.summary else "")]
    for section in report.sections:
        if section.title:
            out.append(f"\n{section.title}")
        if section.rows:
            width = max(len(r.check) for r in section.rows)
            vwidth = max(len(r.value) for r in section.rows)
            for r in section.rows:
                line = f"  {r.status.value:<7} {r.check:<{width}}  {r.value:<{vwidth}}"
                if r.threshold:
                    line += f"  (threshold {r.threshold})"
                out.append(line.rstrip())
                if r.detail:
                    out.append(f"  {'':<7} {r.detail}")
        out.extend(f"  {line}" for line in section.lines)
        if section.code:
            out.extend(f"    {line}" for line in section.code.splitlines())
        if section.actions:
            out.append("  " + "  ".join(f"[{a.label}]" for a in section.actions))
    if report.actions:
        out.append("  " + "  ".join(f"[{a.label}]" for a in report.actions))
    if report.footer:
        out.append(report.footer)
    return "\n".join(out)
