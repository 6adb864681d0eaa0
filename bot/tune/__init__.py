"""`/genai tune`: backtest an alert rule's threshold and `for` against history.

- :mod:`~bot.tune.rule`: the rule as data; its expression split into `left <op> number`;
  Prometheus durations.
- :mod:`~bot.tune.lookup`: find the rule (Prometheus' rules API, else the shipped manifest).
- :mod:`~bot.tune.replay`: Prometheus' pending -> firing semantics, replayed; pure, no I/O.
- :mod:`~bot.tune.candidates`: which thresholds and `for` durations to try.
- :mod:`~bot.tune.history`: one read of the window (chunked range queries) into compact
  per-series arrays.
- :mod:`~bot.tune.score`: firings against the incidents people handled, and the choice.
- :mod:`~bot.tune.backtest`: the whole run, from a rule to a result.
- :mod:`~bot.tune.snippet`: the change as a PrometheusRule snippet.
"""
