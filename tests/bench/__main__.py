"""`make bench`: run every benchmark and print one table each."""

from __future__ import annotations

import sys
import time

from tests.bench import ack, fleet, intake, kube_lists, socket_mode, storm, tune
from tests.bench.table import print_table

BENCHMARKS = {
    "Fleet scale: /genai gpu and /genai status on 100 / 1,000 / 4,000 backfilled GPU nodes":
        fleet,
    "Kubernetes lists: the client's models vs raw JSON into our pydantic models": kube_lists,
    "Webhook intake: durable incident + event + outbox per post, vs a bare insert": intake,
    "Ack latency: 50 concurrent /genai status, backends 5 s each (Slack wants an ack in 3 s)": ack,
    "Storm: 1,000 new groups in a burst, three channels at Slack's pace, digest on and off":
        storm,
    "Socket Mode clients: quiet acks, 10 refreshes under 50-command bursts, drop and half-open":
        socket_mode,
    "/genai tune: backtest a rule, 7 days at a 1-minute step over 1,000 series, 30 days over 100":
        tune,
}


def main(argv: list[str]) -> int:
    wanted = set(argv)
    for title, module in BENCHMARKS.items():
        if wanted and module.__name__.rsplit(".", 1)[-1] not in wanted:
            continue
        started = time.perf_counter()
        header, rows = module.run()
        print_table(f"{title} ({time.perf_counter() - started:.0f} s)", header, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
