"""Wording shared by log lines and summaries."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """Return the count with its noun in the right number: "1 row", "0 rows", "3 entries"."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
