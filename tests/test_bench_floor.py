"""The benchmark floor (bench/floor.sql) against the dbt marts it must reproduce.

The floor runs on the session's small simulated landing, and each of its tables is compared with the
pipeline's mart of the same name. Keys and column types must be the same, money equal to the cent,
ratios and scores within 1e-9, and every other value (counts included) equal.
"""

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from bench.floor import keep_event_blocks, run_floor
from cs_warehouse.errors import CswError

MART_KEYS = {
    "account_mrr_monthly": ("account_id", "month_start_date"),
    "account_engagement_weekly": ("account_id", "week_start_date"),
    "account_health_daily": ("account_id", "date_day"),
}
RATIO_TOLERANCE = 1e-9
MONEY_TOLERANCE = 0.005
# Rows of a mismatch shown in an assertion message.
EXAMPLE_ROWS = 3

# Track calls whose groupId is removed in the Parquet copy, so the floor must read context.groupId.
GROUP_ID_DROP_SQL = "type = 'track' and hash(messageId) % 4 = 0"


@pytest.fixture(scope="module")
def floor_database(small_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Not floor.duckdb: DuckDB would name that catalog "floor", like the schema, and reject floor.<table>.
    database = tmp_path_factory.mktemp("floor") / "jsonl_floor.duckdb"
    run_floor(small_landing, database, memory_limit="1GB", threads=2)
    return database


@pytest.fixture
def both(floor_database: Path, pipeline_warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection with the floor file attached as `fl` and the pipeline's warehouse as `wh`."""
    con = duckdb.connect()
    con.execute(f"attach '{floor_database}' as fl (read_only)")
    con.execute(f"attach '{pipeline_warehouse}' as wh (read_only)")
    yield con
    con.close()


def column_types(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        """
        select column_name, data_type
        from information_schema.columns
        where table_catalog = ? and table_schema = ? and table_name = ?
        order by ordinal_position
        """,
        [catalog, schema, table],
    ).fetchall()


def differs_sql(column: str, data_type: str) -> str:
    """SQL that is true when the floor's value (f) and the mart's value (m) of `column` differ."""
    left, right = f'f."{column}"', f'm."{column}"'
    if data_type.startswith("DECIMAL"):
        tolerance = MONEY_TOLERANCE
    elif data_type in ("DOUBLE", "FLOAT"):
        tolerance = RATIO_TOLERANCE
    else:
        return f"{left} is distinct from {right}"
    return (
        f"({left} is null) <> ({right} is null) "
        f"or abs(cast({left} as double) - cast({right} as double)) > {tolerance}"
    )


def key_mismatches(con: duckdb.DuckDBPyConnection, table: str, left: str, right: str) -> list[tuple]:
    """Return keys of `left` that `right` lacks (each a qualified table name)."""
    keys = ", ".join(MART_KEYS[table])
    return con.execute(
        f"select {keys} from {left} except select {keys} from {right} order by all limit {EXAMPLE_ROWS}"
    ).fetchall()


def value_mismatches(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, list[tuple]]:
    """Map each column whose values differ between the floor and the mart to example (key, floor, mart) rows."""
    keys = MART_KEYS[table]
    join = " and ".join(f"f.{key} = m.{key}" for key in keys)
    mismatches = {}
    for column, data_type in column_types(con, "wh", "marts", table):
        if column in keys:
            continue
        rows = con.execute(
            f"""
            select {", ".join(f"f.{key}" for key in keys)}, f."{column}", m."{column}"
            from fl.floor.{table} as f
            inner join wh.marts.{table} as m
                on {join}
            where {differs_sql(column, data_type)}
            order by all
            limit {EXAMPLE_ROWS}
            """
        ).fetchall()
        if rows:
            mismatches[column] = rows
    return mismatches


@pytest.mark.parametrize("table", sorted(MART_KEYS))
def test_floor_matches_mart(both: duckdb.DuckDBPyConnection, table: str) -> None:
    mart_rows = both.execute(f"select count(*) from wh.marts.{table}").fetchone()[0]
    assert mart_rows > 0, f"marts.{table} is empty, so the comparison would prove nothing"
    assert column_types(both, "fl", "floor", table) == column_types(both, "wh", "marts", table)
    assert key_mismatches(both, table, f"wh.marts.{table}", f"fl.floor.{table}") == [], "mart rows missing in the floor"
    assert key_mismatches(both, table, f"fl.floor.{table}", f"wh.marts.{table}") == [], "floor rows not in the mart"
    assert value_mismatches(both, table) == {}


def test_floor_movements_add_up(floor_database: Path) -> None:
    """Previous MRR plus the movement is the month's MRR, and the first month of an account is new."""
    with duckdb.connect(str(floor_database), read_only=True) as con:
        unbalanced = con.execute(
            "select count(*) from floor.account_mrr_monthly where previous_mrr + movement_amount <> mrr"
        ).fetchone()[0]
        first_not_new = con.execute(
            """
            select count(*) from floor.account_mrr_monthly
            where month_start_date = first_mrr_month_start_date and movement_type <> 'new'
            """
        ).fetchone()[0]
    assert unbalanced == 0
    assert first_not_new == 0


def write_parquet_landing(small_landing: Path, out_dir: Path) -> Path:
    """Copy `small_landing` with its events as Parquet: JSON objects as text, times as TIMESTAMPTZ.

    A quarter of the track calls lose their groupId, so only context.groupId names their account.
    """
    for folder in ("crm", "billing", "catalog"):
        (out_dir / folder).mkdir(parents=True)
        for path in (small_landing / folder).iterdir():
            (out_dir / folder / path.name).write_bytes(path.read_bytes())
    (out_dir / "events").mkdir()
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        for path in sorted((small_landing / "events").glob("*.jsonl.gz")):
            target = out_dir / "events" / path.name.replace(".jsonl.gz", ".parquet")
            con.execute(
                f"""
                copy (
                    select
                        messageId,
                        type,
                        event,
                        userId,
                        case when {GROUP_ID_DROP_SQL} then null else groupId end as groupId,
                        cast(properties as varchar) as properties,
                        cast(traits as varchar) as traits,
                        cast(context as varchar) as context,
                        cast("timestamp" as timestamptz) as "timestamp",
                        cast(sentAt as timestamptz) as sentAt,
                        cast(receivedAt as timestamptz) as receivedAt,
                    from read_json(
                        '{path}',
                        format = 'newline_delimited',
                        columns = {{
                            messageId: 'VARCHAR', type: 'VARCHAR', event: 'VARCHAR', userId: 'VARCHAR',
                            groupId: 'VARCHAR', properties: 'JSON', traits: 'JSON', context: 'JSON',
                            "timestamp": 'VARCHAR', sentAt: 'VARCHAR', receivedAt: 'VARCHAR',
                        }}
                    )
                ) to '{target}' (format parquet)
                """
            )
    return out_dir


def test_floor_reads_parquet_events(small_landing: Path, floor_database: Path, tmp_path: Path) -> None:
    landing = write_parquet_landing(small_landing, tmp_path / "landing")
    with duckdb.connect() as con:
        dropped = con.execute(
            f"select count(*) from read_parquet('{landing}/events/*.parquet') where groupId is null"
        ).fetchone()[0]
    assert dropped > 0, "the Parquet copy must exercise the context.groupId fallback"

    database = tmp_path / "parquet_floor.duckdb"
    result = run_floor(landing, database, memory_limit="1GB", threads=2)
    assert all(count > 0 for count in result.row_counts.values())

    with duckdb.connect() as con:
        con.execute(f"attach '{floor_database}' as jsonl_floor (read_only)")
        con.execute(f"attach '{database}' as parquet_floor (read_only)")
        for table in MART_KEYS:
            only_jsonl = con.execute(
                f"select count(*) from (from jsonl_floor.floor.{table} except all from parquet_floor.floor.{table})"
            ).fetchone()[0]
            only_parquet = con.execute(
                f"select count(*) from (from parquet_floor.floor.{table} except all from jsonl_floor.floor.{table})"
            ).fetchone()[0]
            assert (table, only_jsonl) == (table, 0)
            assert (table, only_parquet) == (table, 0)


def test_floor_rejects_empty_landing(tmp_path: Path) -> None:
    with pytest.raises(CswError, match="has no landing files"):
        run_floor(tmp_path, tmp_path / "floor.duckdb")


def test_floor_rejects_missing_landing(tmp_path: Path) -> None:
    with pytest.raises(CswError, match="not found"):
        run_floor(tmp_path / "absent", tmp_path / "floor.duckdb")


def test_floor_names_missing_export(small_landing: Path, tmp_path: Path) -> None:
    landing = write_parquet_landing(small_landing, tmp_path / "landing")
    (landing / "crm" / "tickets.csv").unlink()
    with pytest.raises(CswError, match=r"crm/tickets\*\.csv"):
        run_floor(landing, tmp_path / "floor.duckdb")


def test_event_blocks_keep_present_formats() -> None:
    script = "a\n-- @events_jsonl\nj\n-- @events_parquet\np\n-- @end\nb"
    assert keep_event_blocks(script, {"events_jsonl"}) == "a\nj\nb\n"
    assert keep_event_blocks(script, {"events_parquet"}) == "a\np\nb\n"
    assert keep_event_blocks(script, {"events_jsonl", "events_parquet"}) == "a\nj\n    union all\np\nb\n"
