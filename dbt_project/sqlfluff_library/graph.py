"""Lint-time stand-in for dbt's `graph` context: a project graph with no nodes and no sources.

Models that look nodes up in `graph` render their no-match branch under sqlfluff.
"""

from typing import Any

nodes: dict[str, Any] = {}
sources: dict[str, Any] = {}


def get(key: str, default: Any = None) -> Any:
    """Return a part of the graph like dict.get, as dbt's `graph.get('nodes', {})` does."""
    return {"nodes": nodes, "sources": sources}.get(key, default)
