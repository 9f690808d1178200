"""Loading Segment events: JSON Lines and Parquet, clock-skew correction, first-received-wins dedup, late files."""

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from cs_warehouse.contract import EVENTS
from cs_warehouse.errors import LandingError
from cs_warehouse.ingest import load_entity

LOADED_AT = datetime(2025, 1, 1, 12, 0, 0)
RAW_EVENT_TABLES = ("raw.events", "raw_rejects.events", "raw_meta.file_loads")


def event(message_id: str, **fields) -> dict:
    record = {
        "messageId": message_id,
        "type": "track",
        "event": "report_created",
        "userId": "u1",
        "groupId": "a1",
        "timestamp": "2024-03-01T10:00:00Z",
        "receivedAt": "2024-03-01T10:00:01Z",
    }
    record.update(fields)
    return {k: v for k, v in record.items() if v is not None}


def write_events(path: Path, lines: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {table: con.execute(f"select * from {table} order by all").fetchall() for table in RAW_EVENT_TABLES}


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


def test_json_lines_rejects_duplicates_and_extra(con, tmp_path):
    write_events(
        tmp_path / "events" / "2024-03-01.jsonl",
        [
            event("m1", channel="server", context={"library": {"name": "analytics.js"}}),
            '{"messageId": "m2", "type": "track"',
            event("m3", type="shout"),
            event("m1", receivedAt="2024-03-01T10:00:09Z"),
            event("m4", receivedAt=None),
            event("m5", timestamp="not a time"),
            event("m6"),
        ],
    )

    report = load_entity(con, EVENTS, tmp_path, loaded_at=LOADED_AT)

    (file_report,) = report.files
    assert (file_report.rows_read, file_report.rows_loaded) == (7, 2)
    assert (file_report.rows_rejected, file_report.duplicates_dropped) == (4, 1)
    rejects = con.execute("select _source_line, reason from raw_rejects.events order by 1").fetchall()
    assert rejects == [
        (2, "malformed line: invalid JSON"),
        (3, "event_type (type): value 'shout' is not one of track, identify, group, page, screen, alias"),
        (5, "received_at (receivedAt): missing required value"),
        (6, "timestamp: invalid timestamp (expected ISO-8601 text) 'not a time'"),
    ]
    extra = dict(con.execute("select message_id, _extra from raw.events").fetchall())
    assert json.loads(extra["m1"]) == {"channel": "server"}
    assert extra["m6"] is None
    assert report.unknown_fields == {"channel": 1}


def test_unknown_fields_repeated_key(con, tmp_path):
    """Unknown fields come from a MAP of the record's keys. A record that repeats a key has no MAP, so its
    fields are read key by key. Both ways give the first value of a key and skip JSON nulls."""
    repeated = json.dumps(event("m1"))[:-1] + ', "channel": "server", "channel": "web", "locale": null}'
    write_events(
        tmp_path / "events" / "2024-03-01.jsonl",
        [repeated, event("m2", channel="server", plan={"tier": "pro"}), event("m3")],
    )

    report = load_entity(con, EVENTS, tmp_path, loaded_at=LOADED_AT)

    extra = dict(con.execute("select message_id, _extra from raw.events").fetchall())
    assert json.loads(extra["m1"]) == {"channel": "server"}
    assert json.loads(extra["m2"]) == {"channel": "server", "plan": {"tier": "pro"}}
    assert extra["m3"] is None
    assert report.unknown_fields == {"channel": 2, "plan": 1}


def test_json_lines_missing_field_fails(con, tmp_path):
    write_events(tmp_path / "events" / "2024-03-01.jsonl", [event("m1")])
    load_entity(con, EVENTS, tmp_path, loaded_at=LOADED_AT)
    before = snapshot(con)

    write_events(tmp_path / "events" / "2024-03-02.jsonl", [event("m2", receivedAt=None), event("m3", receivedAt=None)])
    with pytest.raises(LandingError) as raised:
        load_entity(con, EVENTS, tmp_path, loaded_at=datetime(2025, 1, 2))

    assert "events/2024-03-02.jsonl" in str(raised.value)
    assert "'receivedAt'" in str(raised.value)
    assert snapshot(con) == before


def write_parquet(con: duckdb.DuckDBPyConnection, path: Path, select_sql: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"copy ({select_sql}) to '{path}' (format parquet)")
    return path


PARQUET_ROWS = """
    select * from (values
        ('p1', 'track', 'login', 'a1', '{"plan": "pro"}', '{"groupId": "a7"}',
            '2024-03-01T10:00:00Z', '2024-03-01T10:00:02Z', 'web'),
        ('p2', 'track', 'login', null, null, '{"groupId": "a7"}',
            '2024-03-01T11:00:00Z', '2024-03-01T11:00:02Z', 'ios'),
        ('p3', 'track', 'login', 'a1', null, null, 'soon', '2024-03-01T11:00:02Z', 'web'),
        ('p1', 'track', 'login', 'a1', null, null, '2024-03-01T10:00:00Z', '2024-03-01T10:00:03Z', 'web'),
        (null, 'track', 'login', 'a1', null, null, '2024-03-01T10:00:00Z', '2024-03-01T10:00:03Z', 'web')
    ) as t("messageId", "type", "event", "groupId", "properties", "context", "timestamp", "receivedAt", "platform")
"""


def test_parquet_rejects_duplicates_and_extra(con, tmp_path):
    write_parquet(con, tmp_path / "events" / "part-0.parquet", PARQUET_ROWS)

    report = load_entity(con, EVENTS, tmp_path, loaded_at=LOADED_AT)

    (file_report,) = report.files
    assert (file_report.rows_read, file_report.rows_loaded) == (5, 2)
    assert (file_report.rows_rejected, file_report.duplicates_dropped) == (2, 1)
    rows = con.execute("select message_id, account_id, properties, _source_line from raw.events order by 1").fetchall()
    # p2 has no groupId, so account_id falls back to context.groupId; JSON text columns are parsed.
    assert rows == [("p1", "a1", '{"plan":"pro"}', 1), ("p2", "a7", None, 2)]
    rejects = con.execute("select _source_line, reason from raw_rejects.events order by 1").fetchall()
    assert rejects == [
        (3, "timestamp: invalid timestamp (expected ISO-8601 text) 'soon'"),
        (5, "message_id (messageId): missing required value"),
    ]
    (extra,) = con.execute("select _extra from raw.events where message_id = 'p1'").fetchone()
    assert json.loads(extra) == {"platform": "web"}
    assert report.unknown_fields == {"platform": 5}


def test_parquet_missing_column_fails(con, tmp_path):
    write_parquet(
        con,
        tmp_path / "events" / "part-0.parquet",
        "select 'p1' as \"messageId\", 'track' as type, '2024-03-01T10:00:00Z' as timestamp",
    )

    with pytest.raises(LandingError, match=r"events/part-0\.parquet: required field 'receivedAt'"):
        load_entity(con, EVENTS, tmp_path, loaded_at=LOADED_AT)

    assert con.execute("select count(*) from raw.events").fetchone() == (0,)


def test_clock_skew_correction(con, tmp_path):
    write_events(
        tmp_path / "events" / "day.jsonl",
        [
            # Client clock 59 minutes ahead: sent 5 minutes after the event by its own clock, so the
            # event happened at receivedAt - 5 min = 09:01:00, and sentAt - receivedAt = 3540 s.
            event("skewed", timestamp="2024-03-01T10:00:00Z", sentAt="2024-03-01T10:05:00Z",
                  receivedAt="2024-03-01T09:06:00Z"),
            # No sentAt: the timestamp is kept (12:00+02:00 is 10:00 UTC).
            event("no_sent_at", timestamp="2024-03-01T12:00:00+02:00", receivedAt="2024-03-01T10:00:30Z"),
            # Dated 4 days after it was sent: event_at = receivedAt + 4 days, past the 1-day tolerance.
            event("future", timestamp="2024-03-05T00:00:00Z", sentAt="2024-03-01T00:00:00Z",
                  receivedAt="2024-03-01T00:00:00Z"),
            # 23 hours ahead without sentAt: within the tolerance.
            event("near_future", timestamp="2024-03-01T23:00:00Z", receivedAt="2024-03-01T00:00:00Z"),
        ],
    )

    load_entity(con, EVENTS, tmp_path, loaded_at=LOADED_AT)

    rows = con.execute(
        "select message_id, event_at, clock_skew_seconds, is_future_dated from raw.events order by 1"
    ).fetchall()
    assert rows == [
        ("future", datetime(2024, 3, 5), 0.0, True),
        ("near_future", datetime(2024, 3, 1, 23), None, False),
        ("no_sent_at", datetime(2024, 3, 1, 10), None, False),
        ("skewed", datetime(2024, 3, 1, 9, 1), 3540.0, False),
    ]


def test_first_received_copy_wins(con, tmp_path):
    write_events(
        tmp_path / "events" / "a.jsonl",
        [event("m1", receivedAt="2024-03-01T10:00:10Z", event="from_a"), event("m2", receivedAt="2024-03-01T11:00:00Z")],
    )
    # b.jsonl sorts after a.jsonl, but its copy of m1 was received 5 seconds earlier.
    write_events(tmp_path / "events" / "b.jsonl", [event("m1", receivedAt="2024-03-01T10:00:05Z", event="from_b")])

    report = load_entity(con, EVENTS, tmp_path, loaded_at=LOADED_AT)

    assert con.execute("select message_id, event_name, _source_file from raw.events order by 1").fetchall() == [
        ("m1", "from_b", "events/b.jsonl"),
        ("m2", "report_created", "events/a.jsonl"),
    ]
    counts = {f.path: (f.rows_loaded, f.duplicates_dropped) for f in report.files}
    assert counts == {"events/a.jsonl": (1, 1), "events/b.jsonl": (1, 0)}

    # A later file. Its copy of m2 was received earlier than the loaded one, so it replaces it.
    # Its copy of m1 was received later than the loaded one, so it is dropped.
    write_events(
        tmp_path / "events" / "c.jsonl",
        [event("m2", receivedAt="2024-03-01T10:59:00Z", event="from_c"), event("m1", receivedAt="2024-03-01T10:00:06Z")],
    )
    late = load_entity(con, EVENTS, tmp_path, loaded_at=datetime(2025, 1, 2))

    (file_report,) = late.files
    assert (file_report.rows_loaded, file_report.duplicates_dropped, file_report.rows_superseded) == (1, 1, 1)
    assert con.execute("select message_id, event_name, received_at from raw.events order by 1").fetchall() == [
        ("m1", "from_b", datetime(2024, 3, 1, 10, 0, 5)),
        ("m2", "from_c", datetime(2024, 3, 1, 10, 59)),
    ]


def test_rerun_unchanged_and_late_file(con, tmp_path):
    write_events(tmp_path / "events" / "2024-03-01.jsonl", [event("m1"), event("m2"), "not json"])
    load_entity(con, EVENTS, tmp_path, loaded_at=LOADED_AT)
    first = snapshot(con)

    rerun = load_entity(con, EVENTS, tmp_path, loaded_at=datetime(2025, 1, 2))

    assert rerun.status == "unchanged"
    assert rerun.files == []
    assert snapshot(con) == first

    # A late event dated on an already loaded day arrives in a new file (in a subfolder).
    write_events(tmp_path / "events" / "late" / "batch-7.jsonl", [event("m9", timestamp="2024-03-01T08:00:00Z")])
    late = load_entity(con, EVENTS, tmp_path, loaded_at=datetime(2025, 1, 3))

    assert [f.path for f in late.files] == ["events/late/batch-7.jsonl"]
    assert late.unchanged_files == 1
    assert con.execute("select message_id from raw.events order by 1").fetchall() == [("m1",), ("m2",), ("m9",)]
    loaded_at = dict(con.execute("select message_id, _loaded_at from raw.events").fetchall())
    assert loaded_at["m1"] == LOADED_AT
    assert loaded_at["m9"] == datetime(2025, 1, 3)


def test_three_copies_in_one_load(con, tmp_path):
    # Each later file has an earlier-received copy of m1, so each replaces the one before it.
    for name, second in (("a", "30"), ("b", "20"), ("c", "10")):
        write_events(tmp_path / "events" / f"{name}.jsonl", [event("m1", receivedAt=f"2024-03-01T10:00:{second}Z")])

    report = load_entity(con, EVENTS, tmp_path, loaded_at=LOADED_AT)

    rows = con.execute("select message_id, _source_file from raw.events").fetchall()
    assert rows == [("m1", "events/c.jsonl")]
    counts = {f.path: (f.rows_loaded, f.duplicates_dropped, f.rows_superseded) for f in report.files}
    assert counts == {"events/a.jsonl": (0, 1, 0), "events/b.jsonl": (0, 1, 0), "events/c.jsonl": (1, 0, 0)}


PARQUET_EDGE_ROWS = """
    select * from (values
        ('e1', 'track', '  ', 7, '"{\\"a\\": 1}"', '{"groupId": "g1"}', '2024-03-01T10:00:00+02:00', 1.5, null),
        ('e2', 'track', 'x', null, 'not json', 'null', '2024-03-01', null, 'kept'),
        ('e3', 'page', null, 8, '[1, 2]', '"text"', '2024-03-01T10:00:00Z', 2.0, null),
        ('e4', 'track', 'y', 9, 'null', '{"other": 1}', '2024-03-01T10:00:00Z', null, null)
    ) as t("messageId", "type", "event", "groupId", "properties", "context", "receivedAt", "score", "note")
"""


def test_parquet_types_as_json_document(con, tmp_path):
    """The Parquet column path and the JSON-document path give the same typed rows, rejects and _extra."""
    from cs_warehouse.ingest.files import find_landing_files
    from cs_warehouse.ingest.load import _parent_tree, _table_fields
    from cs_warehouse.ingest.parquet_sql import parquet_typed_sql
    from cs_warehouse.ingest.readers import STAGE_TABLE, stage_file
    from cs_warehouse.ingest.typing_sql import typed_select_sql

    con.execute("set TimeZone = 'UTC'")
    select = PARQUET_EDGE_ROWS.replace("select * from", "select *, \"receivedAt\" as \"timestamp\" from")
    write_parquet(con, tmp_path / "events" / "edge.parquet", select)
    (landing_file,) = find_landing_files(EVENTS, tmp_path)
    fields, tree = _table_fields(EVENTS), _parent_tree(EVENTS)
    columns = ", ".join(f'"{f.column.name}"' for f in fields)
    compared = f"__line, {columns}, __extra, __reason, __raw, list_transform(__unknown_fields, lambda e: e.name)"

    stage_file(con, EVENTS, landing_file)
    from_json = con.execute(
        f"select {compared} from ({typed_select_sql(fields, STAGE_TABLE, ['__line', '__raw'], tree)}) order by 1"
    ).fetchall()
    schema = [row[:2] for row in con.execute(f"describe select * from '{landing_file.path}'").fetchall()]
    from_columns = con.execute(
        f"select {compared} from ({parquet_typed_sql(fields, tree, schema)}) order by 1", [str(landing_file.path)]
    ).fetchall()

    # The Parquet path builds raw text for rejected rows only.
    assert [row[:-2] for row in from_columns] == [row[:-2] for row in from_json]
    assert [row[-1] for row in from_columns] == [row[-1] for row in from_json]
    for parquet_row, json_row in zip(from_columns, from_json, strict=True):
        expected_raw = json_row[-2] if parquet_row[-3] is not None else None
        assert parquet_row[-2] == expected_raw
    # e2 has 'not json' in properties and e3 a JSON string as context, so both are rejected.
    assert [row[-3] is None for row in from_columns] == [True, False, False, True]


def test_supersede_moves_to_later_file(con, tmp_path):
    write_events(tmp_path / "events" / "a.jsonl", [event("m1", receivedAt="2024-03-01T10:00:30Z", event="from_a")])
    load_entity(con, EVENTS, tmp_path, loaded_at=LOADED_AT)
    # The next run reads b and c. Both copies of m1 were received before a's, and c's before b's.
    write_events(tmp_path / "events" / "b.jsonl", [event("m1", receivedAt="2024-03-01T10:00:20Z", event="from_b")])
    write_events(tmp_path / "events" / "c.jsonl", [event("m1", receivedAt="2024-03-01T10:00:10Z", event="from_c")])

    report = load_entity(con, EVENTS, tmp_path, loaded_at=datetime(2025, 1, 2))

    assert con.execute("select message_id, event_name from raw.events").fetchall() == [("m1", "from_c")]
    counts = {f.path: (f.rows_loaded, f.duplicates_dropped, f.rows_superseded) for f in report.files}
    assert counts == {"events/b.jsonl": (0, 1, 0), "events/c.jsonl": (1, 0, 1)}


def native_timestamp_rows(native: bool) -> str:
    """Events whose timestamps are Parquet timestamps (`native`) or the same instants as ISO text."""
    zoned, naive = ("::timestamptz", "::timestamp") if native else ("", "")
    return f"""
        select *, 'track' as "type", 'report_created' as "event", 'a1' as "groupId" from (values
            ('n1', '2024-03-01T10:00:00+02:00'{zoned}, '2024-03-01 08:00:05'{naive}, '2024-03-01T08:00:06.250Z'{zoned}),
            ('n2', '2024-02-29T23:59:59Z'{zoned}, null{naive}, '2024-03-01T00:00:01Z'{zoned}),
            ('n3', '2024-03-01T10:00:00Z'{zoned}, null{naive}, 'infinity'{zoned})
        ) as t("messageId", "timestamp", "sentAt", "receivedAt")
    """


def test_parquet_native_timestamps(con, tmp_path):
    """Timestamp columns of Parquet type are read directly and give what their ISO text gives."""
    from cs_warehouse.ingest.load import _table_fields

    for kind, native in (("native", True), ("text", False)):
        write_parquet(con, tmp_path / kind / "events" / "a.parquet", native_timestamp_rows(native))
    schema = con.execute(f"describe select * from '{tmp_path / 'native' / 'events' / 'a.parquet'}'").fetchall()
    types = {row[0]: row[1] for row in schema}
    assert types["receivedAt"] == "TIMESTAMP WITH TIME ZONE"
    assert types["sentAt"] == "TIMESTAMP"

    columns = ", ".join(f'"{f.column.name}"' for f in _table_fields(EVENTS))
    loaded = {}
    for kind in ("native", "text"):
        database = duckdb.connect()
        load_entity(database, EVENTS, tmp_path / kind, loaded_at=LOADED_AT)
        loaded[kind] = (
            database.execute(f"select {columns}, event_at from raw.events order by message_id").fetchall(),
            database.execute("select _source_line, reason from raw_rejects.events").fetchall(),
        )
        database.close()

    assert loaded["native"][0] == loaded["text"][0]
    rows = {row[0]: row for row in loaded["native"][0]}
    assert rows["n1"][9:12] == (datetime(2024, 3, 1, 8, 0), datetime(2024, 3, 1, 8, 0, 5), datetime(2024, 3, 1, 8, 0, 6, 250000))
    assert rows["n2"][9:12] == (datetime(2024, 2, 29, 23, 59, 59), None, datetime(2024, 3, 1, 0, 0, 1))
    # A non-finite timestamp is rejected with its text, on both paths.
    (line, reason), = loaded["native"][1]
    assert line == 3
    assert reason.startswith("received_at (receivedAt): invalid timestamp")
    assert "infinity" in reason
    assert loaded["text"][1] == [(3, "received_at (receivedAt): invalid timestamp (expected ISO-8601 text) 'infinity'")]


@pytest.mark.parametrize("min_rows", [0, 3, 1_000_000])
def test_small_event_files_wait(con, tmp_path, monkeypatch, min_rows):
    """Rows of small files wait before their append; what wins and the reports do not depend on it."""
    import cs_warehouse.ingest.load as load_module

    events = tmp_path / "events"
    write_events(events / "a.jsonl", [event(f"a{i}") for i in range(4)] + [event("x", receivedAt="2024-03-01T10:00:30Z")])
    # b is small: it waits. Its copy of x was received earlier, so it replaces a's row.
    write_events(events / "b.jsonl", [event("x", receivedAt="2024-03-01T10:00:20Z", event="from_b"), event("b1")])
    # c's copy of x was received earlier still and replaces b's waiting row; its y ties with d's.
    write_events(events / "c.jsonl", [event("x", receivedAt="2024-03-01T10:00:10Z", event="from_c"), event("y", event="from_c")])
    write_events(events / "d.jsonl", [event(f"d{i}") for i in range(4)] + [event("y", event="from_d")])
    monkeypatch.setattr(load_module, "EVENT_APPEND_MIN_ROWS", min_rows)

    report = load_entity(con, EVENTS, tmp_path, loaded_at=LOADED_AT)

    rows = con.execute("select message_id, event_name, _source_file from raw.events order by rowid").fetchall()
    assert rows == [
        *[(f"a{i}", "report_created", "events/a.jsonl") for i in range(4)],
        ("b1", "report_created", "events/b.jsonl"),
        ("x", "from_c", "events/c.jsonl"),
        ("y", "from_c", "events/c.jsonl"),
        *[(f"d{i}", "report_created", "events/d.jsonl") for i in range(4)],
    ]
    counts = {f.path: (f.rows_loaded, f.duplicates_dropped) for f in report.files}
    assert counts == {"events/a.jsonl": (4, 1), "events/b.jsonl": (1, 1), "events/c.jsonl": (2, 0), "events/d.jsonl": (4, 1)}
    assert con.execute("select count(*) from duckdb_tables() where table_name = '__pending'").fetchone() == (0,)


def test_corrupt_parquet_keeps_loaded_rows(con, tmp_path):
    write_events(tmp_path / "events" / "a.jsonl", [event("m1")])
    load_entity(con, EVENTS, tmp_path, loaded_at=LOADED_AT)
    (tmp_path / "events" / "b.parquet").write_bytes(b"not a parquet file")

    with pytest.raises(LandingError) as raised:
        load_entity(con, EVENTS, tmp_path, loaded_at=LOADED_AT)

    message = str(raised.value)
    assert message.startswith("events/b.parquet: could not be read as Parquet")
    assert "re-export the file (a complete Parquet file)" in message
    assert con.execute("select message_id from raw.events").fetchall() == [("m1",)]


@pytest.mark.parametrize("min_rows", [0, 100_000, 10_000_000])
def test_large_file_keeps_line_order(con, tmp_path, monkeypatch, min_rows):
    """Winners of multi-threaded scans keep file and line order, whether they go straight in, after
    waiting rows (one UNION ALL insert) or from the waiting table."""
    import cs_warehouse.ingest.load as load_module

    rows, unique = 400_000, 390_000
    con.execute("set threads = 4")
    write_events(tmp_path / "events" / "a.jsonl", [event(f"a{i}") for i in range(1_000)])
    con.execute(
        f"""
        copy (
            select 'm' || (i % {unique}) as "messageId", 'track' as "type", 'login' as "event", 'a1' as "groupId",
                'u1' as "userId", '2024-03-01T10:00:00Z' as "timestamp", '2024-03-01T10:00:01Z' as "receivedAt"
            from range({rows}) as t(i)
        ) to '{tmp_path / "events" / "b.parquet"}' (format parquet, row_group_size 10000)
        """
    )
    monkeypatch.setattr(load_module, "EVENT_APPEND_MIN_ROWS", min_rows)

    reports = load_entity(con, EVENTS, tmp_path, loaded_at=LOADED_AT).files

    counts = {f.path: (f.rows_loaded, f.duplicates_dropped) for f in reports}
    assert counts == {"events/a.jsonl": (1_000, 0), "events/b.parquet": (unique, rows - unique)}
    loaded = con.execute("select _source_file, _source_line from raw.events order by rowid").fetchall()
    expected = [("events/a.jsonl", line) for line in range(1, 1_001)]
    expected += [("events/b.parquet", line) for line in range(1, unique + 1)]
    assert loaded == expected
