"""Render the landing contract as the Markdown reference in docs/landing_contract.md.

The reference part of that page is generated, so it cannot drift from cs_warehouse/contract.py:
`python -m cs_warehouse.contract_doc` rewrites it, and a test fails when the page is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cs_warehouse.config import PROJECT_ROOT
from cs_warehouse.contract import ENTITIES, EVENT_DERIVED_COLUMNS, EVENTS, ChildTable, Column, Entity

DOC_PATH = PROJECT_ROOT / "docs" / "landing_contract.md"
BEGIN_MARKER = "<!-- BEGIN GENERATED REFERENCE: python -m cs_warehouse.contract_doc -->"
END_MARKER = "<!-- END GENERATED REFERENCE -->"

SYSTEM_TITLES = {
    "crm": "CRM (CSV)",
    "billing": "Billing (Stripe-shaped JSON Lines)",
    "events": "Product events (Segment spec, JSON Lines or Parquet)",
    "catalog": "Feature catalog (CSV)",
}


def _constraints(column: Column) -> str:
    parts = []
    if column.allowed:
        parts.append("one of " + ", ".join(f"`{value}`" for value in column.allowed))
    if column.minimum is not None and column.maximum is not None:
        parts.append(f"{column.minimum:g} to {column.maximum:g}")
    elif column.minimum is not None:
        parts.append(f">= {column.minimum:g}")
    elif column.maximum is not None:
        parts.append(f"<= {column.maximum:g}")
    return "; ".join(parts)


def _column_table(columns: tuple[Column, ...], show_source: bool) -> list[str]:
    header = "| raw column | landing field | kind | required | constraints | meaning |"
    if not show_source:
        header = "| raw column | kind | required | constraints | meaning |"
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for column in columns:
        cells = [f"`{column.name}`"]
        if show_source:
            cells.append(f"`{column.source_path}`")
        cells += [column.kind, "yes" if column.required else "", _constraints(column), column.description]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _child_section(child: ChildTable) -> list[str]:
    lines = [
        f"#### raw.{child.table}",
        "",
        f"{child.description} Unnested from `{child.array_path}`; `{child.parent_key}` joins it to its parent. "
        f"Key: {', '.join(f'`{k}`' for k in child.key)}.",
        "",
    ]
    return lines + _column_table(child.columns, show_source=True) + [""]


def _entity_section(entity: Entity) -> list[str]:
    patterns = ", ".join(f"`{p}`" for p in entity.patterns)
    lines = [
        f"### raw.{entity.table}",
        "",
        f"{entity.description}",
        "",
        f"Files: {patterns} (gzipped variants ending in `.gz` too). Key: {', '.join(f'`{k}`' for k in entity.key)}.",
        "",
    ]
    lines += _column_table(entity.columns, show_source=entity.file_format != "csv")
    if entity is EVENTS:
        lines += ["", "Columns ingestion derives (no landing field):", ""]
        lines += _column_table(EVENT_DERIVED_COLUMNS, show_source=False)
    lines.append("")
    for child in entity.children:
        lines += _child_section(child)
    return lines


def render_reference() -> str:
    """Return the generated Markdown reference of every landing entity, grouped by source system."""
    lines: list[str] = []
    for system, title in SYSTEM_TITLES.items():
        lines += [f"## {title}", ""]
        for entity in ENTITIES:
            if entity.system == system:
                lines += _entity_section(entity)
    return "\n".join(lines).rstrip() + "\n"


def render_page(current: str) -> str:
    """Return the page with the text between the markers replaced by a fresh reference."""
    try:
        head, rest = current.split(BEGIN_MARKER, 1)
        _, tail = rest.split(END_MARKER, 1)
    except ValueError:
        raise ValueError(f"{DOC_PATH} lacks the markers {BEGIN_MARKER!r} and {END_MARKER!r}") from None
    return f"{head}{BEGIN_MARKER}\n\n{render_reference()}\n{END_MARKER}{tail}"


def main() -> int:
    DOC_PATH.write_text(render_page(DOC_PATH.read_text()))
    print(f"wrote {DOC_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
