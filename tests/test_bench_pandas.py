"""The benchmark's pandas marts (bench/pandas_marts.py) against the pipeline's dbt marts.

The pandas script reads the same landing folder as the pipeline and must give the same keys, money
to the cent, counts exactly, and ratios and scores within 1e-9 of marts.account_mrr_monthly,
marts.account_engagement_weekly and marts.account_health_daily.
"""

import contextlib
import gzip
import io
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from bench import pandas_marts
from cs_warehouse.errors import CswError
from cs_warehouse.simulate import simulate

RATIO_TOLERANCE = 1e-9
# Column kinds per mart: how each column is compared.
MART_COLUMNS = {
    "account_mrr_monthly": {
        "key": ["account_id", "month_start_date"],
        "money": ["mrr", "previous_mrr", "movement_amount", "scheduled_churn_mrr"],
        "count": ["months_since_first_mrr", "counted_subscriptions"],
        "ratio": [],
        "exact": [
            "month_end_date", "is_as_of_month", "first_mrr_month_start_date", "movement_type",
            "has_scheduled_churn", "reporting_currency",
        ],
    },
    "account_engagement_weekly": {
        "key": ["account_id", "week_start_date"],
        "money": [],
        "count": ["days_in_week", "weekly_active_users", "monthly_active_users"],
        "ratio": ["daily_active_users", "stickiness"],
        "exact": ["lifecycle_stage"],
    },
    "account_health_daily": {
        "key": ["account_id", "date_day"],
        "money": [],
        "count": [],
        "ratio": [
            "health_score", "health_trend_30d", "data_coverage",
            "usage_score", "usage_weight", "engagement_score", "engagement_weight",
            "satisfaction_score", "satisfaction_weight", "growth_score", "growth_weight",
            "relationship_score", "relationship_weight",
        ],
        "exact": ["health_status", "is_usage_risk", "is_satisfaction_risk", "is_growth_risk"],
    },
}


@pytest.fixture(scope="module")
def pandas_run(small_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Run the script's entry point once on `small_landing`; return the output folder and what it printed."""
    out_dir = tmp_path_factory.mktemp("pandas_marts")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exit_code = pandas_marts.main(["--landing", str(small_landing), "--out", str(out_dir)])
    assert exit_code == 0
    return out_dir, printed.getvalue()


def _pipeline_mart(warehouse: Path, name: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(f"select * from marts.{name}").df()


def _sorted(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    frame = frame.copy()
    for column in key[1:]:
        frame[column] = pd.to_datetime(frame[column])
    return frame.sort_values(key, ignore_index=True)


def _mismatches(frame: pd.DataFrame, key: list[str], bad: pd.Series) -> str:
    """Return the keys of the first five mismatching rows."""
    return frame.loc[bad.to_numpy(), key].head(5).to_string()


@pytest.mark.parametrize("name", list(MART_COLUMNS))
def test_mart_matches_pipeline(name, pandas_run, pipeline_warehouse):
    kinds = MART_COLUMNS[name]
    key = kinds["key"]
    expected = _sorted(_pipeline_mart(pipeline_warehouse, name), key)
    actual = _sorted(pd.read_parquet(pandas_run[0] / pandas_marts.MART_FILES[name]), key)

    assert list(actual.columns) == list(expected.columns)
    assert len(expected) > 0
    keys = expected[key].astype(str).merge(actual[key].astype(str), how="outer", indicator=True)
    only_pipeline = keys[keys["_merge"] == "left_only"]
    only_pandas = keys[keys["_merge"] == "right_only"]
    assert only_pipeline.empty, f"{len(only_pipeline)} {name} rows only in the pipeline's mart:\n{only_pipeline.head()}"
    assert only_pandas.empty, f"{len(only_pandas)} {name} rows only in the pandas mart:\n{only_pandas.head()}"

    for column in kinds["money"]:
        actual_cents = np.rint(actual[column].astype("float64") * 100)
        expected_cents = np.rint(expected[column].astype("float64") * 100)
        bad = actual_cents != expected_cents
        assert not bad.any(), f"{name}.{column} differs by a cent or more at\n{_mismatches(expected, key, bad)}"
    for column in kinds["count"]:
        bad = actual[column].astype("int64") != expected[column].astype("int64")
        assert not bad.any(), f"{name}.{column} counts differ at\n{_mismatches(expected, key, bad)}"
    for column in kinds["ratio"]:
        actual_values, expected_values = actual[column].astype("float64"), expected[column].astype("float64")
        both_missing = actual_values.isna() & expected_values.isna()
        close = (actual_values - expected_values).abs() <= RATIO_TOLERANCE
        bad = ~(both_missing | close)
        assert not bad.any(), f"{name}.{column} differs by more than 1e-9 at\n{_mismatches(expected, key, bad)}"
    for column in kinds["exact"]:
        bad = actual[column].astype(str) != expected[column].astype(str)
        assert not bad.any(), f"{name}.{column} differs at\n{_mismatches(expected, key, bad)}"


def test_cli_prints_row_counts(pandas_run):
    out_dir, printed = pandas_run
    for name, file_name in pandas_marts.MART_FILES.items():
        rows = len(pd.read_parquet(out_dir / file_name))
        assert f"{name}: {rows} rows" in printed
    assert "wall time:" in printed


def test_parquet_events_match_json_lines(tmp_path):
    json_landing, parquet_landing = tmp_path / "jsonl", tmp_path / "parquet"
    simulate(out_dir=json_landing, accounts=12, months=3, seed=5, events_format="jsonl")
    simulate(out_dir=parquet_landing, accounts=12, months=3, seed=5, events_format="parquet")
    assert list((parquet_landing / "events").glob("*.parquet"))

    from_json = pandas_marts.compute_marts(json_landing)
    from_parquet = pandas_marts.compute_marts(parquet_landing)
    for name in pandas_marts.MART_FILES:
        assert len(from_json[name]) > 0
        pd.testing.assert_frame_equal(from_parquet[name], from_json[name], obj=name)


def _write_events(path: Path, calls: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(call) + "\n" for call in calls)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)


def _track(message_id: str, **fields) -> dict:
    call = {"messageId": message_id, "type": "track", "event": "Signed In", "userId": "usr_1", "groupId": "acc_1"}
    return call | fields


def test_event_ingestion_rules_by_hand(tmp_path):
    _write_events(
        tmp_path / "events" / "2024-01.jsonl",
        [
            # Two copies of m1: the one received first (the second line) wins.
            _track("m1", timestamp="2024-01-01T10:00:00Z", sentAt="2024-01-01T10:00:01Z", receivedAt="2024-01-01T10:00:09Z"),
            _track("m1", timestamp="2024-01-01T10:00:00Z", sentAt="2024-01-01T10:00:01Z", receivedAt="2024-01-01T10:00:05Z"),
            # Client clock 59 minutes ahead: event_at = receivedAt - (sentAt - timestamp) = 09:01.
            _track("m2", timestamp="2024-01-02T10:00:00Z", sentAt="2024-01-02T10:05:00Z", receivedAt="2024-01-02T09:06:00Z"),
            # No sentAt: event_at is the timestamp, given here with an offset.
            _track("m3", timestamp="2024-01-03T12:00:00+02:00", receivedAt="2024-01-03T10:00:30Z"),
            # Dated three days after it was received: future-dated, left out.
            _track("m4", timestamp="2024-01-07T00:00:00Z", receivedAt="2024-01-04T00:00:00Z"),
            # No groupId: the account comes from context.groupId.
            _track("m5", groupId=None, context={"groupId": "acc_2"}, timestamp="2024-01-05T08:00:00Z",
                   sentAt="2024-01-05T08:00:00Z", receivedAt="2024-01-05T08:00:02Z"),
            # Not a track call, and a track call without a user: both left out.
            {"messageId": "m6", "type": "identify", "userId": "usr_1", "timestamp": "2024-01-05T09:00:00Z",
             "receivedAt": "2024-01-05T09:00:00Z"},
            _track("m7", userId=" ", timestamp="2024-01-05T10:00:00Z", receivedAt="2024-01-05T10:00:00Z"),
        ],
    )
    # A later file's copy of m2, received later than the first: dropped.
    _write_events(
        tmp_path / "events" / "2024-02.jsonl.gz",
        [_track("m2", event="Report Shared", timestamp="2024-01-02T10:00:00Z", receivedAt="2024-02-01T00:00:00Z")],
    )

    events = pandas_marts.read_track_events(tmp_path).sort_values("event_at", ignore_index=True)

    assert events["account_id"].tolist() == ["acc_1", "acc_1", "acc_1", "acc_2"]
    assert events["event_name"].tolist() == ["Signed In"] * 4
    assert events["event_at"].tolist() == [
        pd.Timestamp("2024-01-01 10:00:04"),
        pd.Timestamp("2024-01-02 09:01:00"),
        pd.Timestamp("2024-01-03 10:00:00"),
        pd.Timestamp("2024-01-05 08:00:02"),
    ]
    expected_days = ("2024-01-01", "2024-01-02", "2024-01-03", "2024-01-05")
    assert events["event_date"].tolist() == [pd.Timestamp(day) for day in expected_days]


def test_event_file_missing_required_column(tmp_path):
    call = {"messageId": "m1", "type": "track", "timestamp": "2024-01-01T00:00:00Z"}
    _write_events(tmp_path / "events" / "2024-01.jsonl", [call])

    with pytest.raises(CswError, match=r"2024-01\.jsonl: required column 'receivedAt' is missing"):
        pandas_marts.read_track_events(tmp_path)


def test_rounding_matches_duckdb():
    values = [66.425, 0.125, 2.675, 1.005, -0.125, 39.995]
    # 66.425 and 39.995 are stored just below the tie (66.42499...), so they round down; 0.125 is exact,
    # so it rounds away from zero.
    expected = [66.42, 0.13, 2.67, 1.0, -0.13, 39.99]
    with duckdb.connect() as con:
        from_duckdb = [con.execute("select round(?::double, 2)", [value]).fetchone()[0] for value in values]

    assert pandas_marts._round_half_away(np.array(values), 2).tolist() == expected
    assert from_duckdb == expected


def test_missing_landing_folder(tmp_path):
    with pytest.raises(CswError, match="landing folder .* not found"):
        pandas_marts.compute_marts(tmp_path / "absent")
