"""Counted nouns and articles, so reports say "1 line" and "an admin", not "1 lines".

Plain helpers with no dependencies: any module (commands, renderers, the Slack side) may
use them. English only; irregular plurals are passed explicitly rather than guessed.
"""

from __future__ import annotations

_VOWELS = frozenset("aeiouAEIOU")


def noun(n: int, singular: str, plural_form: str | None = None) -> str:
    """The noun alone, agreeing with `n`: noun(1, "line") -> "line", noun(0, "line") ->
    "lines". `plural_form` for irregulars: noun(2, "replica", "replicas")."""
    if n == 1:
        return singular
    return plural_form if plural_form is not None else singular + "s"


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """`n` and its noun: plural(1, "line") -> "1 line", plural(3, "line") -> "3 lines",
    plural(2, "NodeClaim") -> "2 NodeClaims"."""
    return f"{n} {noun(n, singular, plural_form)}"


def article(word: str) -> str:
    """`word` with "a" or "an" by its first letter: article("admin") -> "an admin".

    Spelling, not sound, decides (so "an hour" or "a user" need writing out by hand); the
    words this bot uses (role names) follow their spelling."""
    return f"{'an' if word[:1] in _VOWELS else 'a'} {word}"


__all__ = ["article", "noun", "plural"]
