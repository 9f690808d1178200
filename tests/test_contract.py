"""The landing contract is consistent, and its documentation page is generated from it."""

from cs_warehouse import contract_doc
from cs_warehouse.contract import ENTITIES, KINDS
from cs_warehouse.raw_schema import raw_columns, raw_tables


def test_landing_contract_doc_is_current():
    page = contract_doc.DOC_PATH.read_text()
    assert page == contract_doc.render_page(page), "run `python -m cs_warehouse.contract_doc` to refresh the page"


def test_every_key_column_is_required():
    for entity in ENTITIES:
        for key in entity.key:
            assert entity.column(key).required, f"{entity.table}.{key} is a key but not required"


def test_raw_table_names_are_unique():
    names = [table.table for table in raw_tables()]
    assert len(names) == len(set(names))


def test_raw_column_names_are_unique_per_table():
    for table in raw_tables():
        names = [column.name for column in raw_columns(table)]
        assert len(names) == len(set(names)), table.table


def test_column_kinds_are_known():
    for table in raw_tables():
        for column in raw_columns(table):
            assert column.kind in KINDS
