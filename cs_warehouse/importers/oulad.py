"""Import the Open University Learning Analytics Dataset (OULAD) into landing files.

Mapping (docs/real_data.md explains it in prose):
- An enrolment (id_student x code_module x code_presentation) is an account, a Stripe customer and one
  subscription. id_student alone is not unique: a student enrolled in two modules is two accounts.
- A module presentation is a price: NOMINAL_FEE_PER_CREDIT_CENTS per studied credit per month.
- Registration starts the subscription. Only unregistration (withdrawal) ends it, with canceled_at
  set: withdrawal is churn. Every other enrolment (passed, failed or with no result) stays active to the
  end of the data set, so revenue retention and the churn label count withdrawals only.
- Each studentVle row (daily clicks on one VLE site) is one track event named after the site's
  activity type. Each studentAssessment row is one `assessment_submitted` event.

OULAD dates are days relative to the presentation start. A presentation code is a year and a month
letter: 'B' starts on PRESENTATION_START_DAY of February, 'J' on that day of October.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from cs_warehouse.contract import (
    BILLING_CUSTOMERS,
    BILLING_PRICES,
    BILLING_SUBSCRIPTION_EVENTS,
    BILLING_SUBSCRIPTIONS,
    CATALOG_FEATURES,
    CRM_ACCOUNTS,
    EVENTS,
)
from cs_warehouse.errors import CswError
from cs_warehouse.importers._landing import (
    find_file,
    landing_path,
    midnight_utc,
    require_columns,
    require_source_dir,
    sql_string,
    to_iso,
    write_csv,
    write_jsonl,
)
from cs_warehouse.importers._stripe import Subscription, customer_object, price_object

log = logging.getLogger(__name__)

DATA_SET = "oulad"
DOWNLOAD_HINT = (
    "Download the seven CSV files from https://analyse.kmi.open.ac.uk/open-dataset, "
    "or use the Parquet copy in the R package 'oulad' (github.com/data-edu/oulad, inst/extdata); "
    "pass the folder that contains courses, studentInfo, studentRegistration, vle, studentVle, "
    "assessments and studentAssessment."
)

# Nominal amount, not an Open University fee: 1.00 usd per studied credit per month, in usd so that
# MRR needs no FX rate in the default reporting currency.
NOMINAL_FEE_PER_CREDIT_CENTS = 100
CURRENCY = "usd"
PRESENTATION_START_MONTHS = {"B": 2, "J": 10}
PRESENTATION_START_DAY = 1
PRESENTATION_CODE = re.compile(r"^(\d{4})([BJ])$")
# Events of a day get this time, because OULAD records days only.
EVENT_HOUR_UTC = 12
ACTIVATION_EVENT = "assessment_submitted"
VLE_EVENT_PREFIX = "vle_"

TABLE_COLUMNS = {
    "courses": ("code_module", "code_presentation", "module_presentation_length"),
    "studentInfo": (
        "code_module", "code_presentation", "id_student", "gender", "region", "highest_education",
        "imd_band", "age_band", "num_of_prev_attempts", "studied_credits", "disability", "final_result",
    ),
    "studentRegistration": ("code_module", "code_presentation", "id_student", "date_registration",
                            "date_unregistration"),
    "vle": ("id_site", "code_module", "code_presentation", "activity_type"),
    "assessments": ("code_module", "code_presentation", "id_assessment", "assessment_type", "date", "weight"),
    "studentAssessment": ("id_assessment", "id_student", "date_submitted", "is_banked", "score"),
    "studentVle": ("code_module", "code_presentation", "id_student", "id_site", "date", "sum_click"),
}

# Region values that are parts of the United Kingdom. The OU 'Ireland' region may include the
# Republic of Ireland, so its country stays empty.
UK_REGIONS = {
    "East Anglian Region", "East Midlands Region", "London Region", "North Region", "North Western Region",
    "Scotland", "South East Region", "South Region", "South West Region", "Wales", "West Midlands Region",
    "Yorkshire Region",
}

ACCOUNT_EXTRA_COLUMNS = (
    "id_student", "code_module", "code_presentation", "gender", "region", "highest_education", "imd_band",
    "age_band", "num_of_prev_attempts", "studied_credits", "disability",
)


@dataclass(frozen=True)
class Presentation:
    code_module: str
    code_presentation: str
    start: datetime
    length_days: int

    @property
    def key(self) -> str:
        return f"{self.code_module}-{self.code_presentation}"

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.length_days)

    @property
    def price_id(self) -> str:
        return f"price_oulad_{self.code_module}_{self.code_presentation}"


def presentation_start(code_presentation: str) -> date:
    """Return the calendar start of a presentation code such as 2013J (1 October 2013)."""
    match = PRESENTATION_CODE.match(code_presentation)
    if match is None:
        raise CswError(
            f"{DATA_SET}: invalid code_presentation {code_presentation!r}; expected a year and B or J, e.g. 2013J"
        )
    return date(int(match.group(1)), PRESENTATION_START_MONTHS[match.group(2)], PRESENTATION_START_DAY)


def import_oulad(source: Path, out_dir: Path, modules: Collection[str] | None = None) -> None:
    """Write accounts, billing, events and the feature catalog for every OULAD enrolment.

    `modules` (e.g. {"AAA"}) limits the import to those modules' presentations; None imports all.
    """
    folder = require_source_dir(source, DATA_SET, DOWNLOAD_HINT)
    con = duckdb.connect()
    try:
        tables = _register_tables(con, folder)
        presentations = _read_presentations(con, modules)
        _write_billing_and_accounts(con, presentations, out_dir)
        _write_vle_events(con, presentations, out_dir, tables["studentVle"])
        _write_assessment_events(con, out_dir)
        _write_feature_catalog(con, out_dir)
    finally:
        con.close()


def _relation_sql(path: Path) -> str:
    if path.is_dir():
        # Hive-partitioned Parquet: studentVle_ds/code_module=AAA/code_presentation=2013J/part-0.parquet
        return f"read_parquet({sql_string(path / '**' / '*.parquet')}, hive_partitioning = true)"
    if path.suffix == ".parquet":
        return f"read_parquet({sql_string(path)})"
    # The original CSVs write missing values as empty fields or '?'.
    return f"read_csv({sql_string(path)}, header = true, nullstr = ['', '?'])"


def _register_tables(con: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, Path]:
    """Create one view per OULAD table, named after it, after checking its file and columns."""
    paths: dict[str, Path] = {}
    for table, columns in TABLE_COLUMNS.items():
        candidates = [f"{table}.parquet", f"{table}.csv"]
        if table == "studentVle":
            candidates.insert(0, "studentVle_ds")
        path = find_file(folder, candidates, DATA_SET, DOWNLOAD_HINT)
        relation = _relation_sql(path)
        require_columns(con, relation, columns, path, DATA_SET)
        con.execute(f'create view "{table}" as select * from {relation}')
        paths[table] = path
        if table != "studentVle":
            rows = con.execute(f'select count(*) from "{table}"').fetchone()[0]
            log.info("%s: read %d rows of %s from %s", DATA_SET, rows, table, path)
    return paths


def _read_presentations(
    con: duckdb.DuckDBPyConnection, modules: Collection[str] | None
) -> dict[tuple[str, str], Presentation]:
    rows = con.execute(
        "select code_module, code_presentation, cast(module_presentation_length as integer) "
        "from courses order by code_module, code_presentation"
    ).fetchall()
    known_modules = {row[0] for row in rows}
    if modules is not None:
        unknown = sorted(set(modules) - known_modules)
        if unknown:
            raise CswError(f"{DATA_SET}: module(s) {', '.join(unknown)} not found in courses; "
                           f"expected some of {', '.join(sorted(known_modules))}")
        rows = [row for row in rows if row[0] in modules]
    presentations = {}
    for code_module, code_presentation, length_days in rows:
        start = midnight_utc(presentation_start(code_presentation))
        presentations[(code_module, code_presentation)] = Presentation(code_module, code_presentation, start,
                                                                       length_days)
    con.execute("create temp table presentation_starts (code_module varchar, code_presentation varchar, start_date date)")
    con.executemany(
        "insert into presentation_starts values (?, ?, ?)",
        [(p.code_module, p.code_presentation, p.start.date()) for p in presentations.values()],
    )
    return presentations


def account_id(code_module: str, code_presentation: str, id_student: int) -> str:
    """Account id of an enrolment, e.g. AAA-2013J-11391."""
    return f"{code_module}-{code_presentation}-{id_student}"


def _write_billing_and_accounts(
    con: duckdb.DuckDBPyConnection,
    presentations: dict[tuple[str, str], Presentation],
    out_dir: Path,
) -> None:
    extra_select = ", ".join(f"i.{column}" for column in ACCOUNT_EXTRA_COLUMNS if column != "id_student")
    enrolments = con.execute(
        f"""
        select
            cast(i.id_student as bigint) as id_student,
            {extra_select},
            i.final_result,
            r.date_registration,
            r.date_unregistration
        from "studentInfo" as i
        left join "studentRegistration" as r
            on r.code_module = i.code_module
            and r.code_presentation = i.code_presentation
            and r.id_student = i.id_student
        inner join presentation_starts as s
            on s.code_module = i.code_module
            and s.code_presentation = i.code_presentation
        order by i.code_module, i.code_presentation, cast(i.id_student as bigint)
        """
    ).fetchall()
    unknown_presentations = con.execute(
        """
        select count(*)
        from "studentInfo" as i
        where not exists (
            select 1 from courses as c
            where c.code_module = i.code_module and c.code_presentation = i.code_presentation
        )
        """
    ).fetchone()[0]
    if unknown_presentations:
        log.warning("%s: skipped %d enrolments whose presentation is not in courses", DATA_SET,
                    unknown_presentations)
    columns = ("id_student", *[c for c in ACCOUNT_EXTRA_COLUMNS if c != "id_student"], "final_result",
               "date_registration", "date_unregistration")

    accounts: list[list[object]] = []
    customers: list[dict[str, object]] = []
    subscriptions: list[Subscription] = []
    withdrawals = 0
    for values in enrolments:
        row = dict(zip(columns, values, strict=True))
        presentation = presentations[(row["code_module"], row["code_presentation"])]
        subscription = _enrolment_subscription(row, presentation)
        withdrawals += subscription.canceled_at is not None
        subscriptions.append(subscription)
        account = subscription.metadata["account_id"]
        accounts.append(_account_row(row, account, subscription.start))
        customers.append(
            customer_object(subscription.customer_id, account, f"Student {row['id_student']}", CURRENCY,
                            subscription.start)
        )
    log.info("%s: %d enrolments, %d withdrawn, %d active to the end of the data", DATA_SET, len(subscriptions),
             withdrawals, len(subscriptions) - withdrawals)

    header = [column.name for column in CRM_ACCOUNTS.columns] + list(ACCOUNT_EXTRA_COLUMNS)
    write_csv(landing_path(out_dir, CRM_ACCOUNTS, "accounts.csv"), header, accounts)
    write_jsonl(landing_path(out_dir, BILLING_CUSTOMERS, "customers.jsonl"), customers)
    write_jsonl(landing_path(out_dir, BILLING_PRICES, "prices.jsonl"), _prices(presentations, subscriptions))

    # The snapshot is taken at the end of the data set: the last module end of the imported presentations.
    export_time = max(
        [p.end for p in presentations.values()] + [s.ended_at or s.start for s in subscriptions], default=None
    )
    write_jsonl(
        landing_path(out_dir, BILLING_SUBSCRIPTIONS, "subscriptions.jsonl"),
        (s.state(export_time) for s in subscriptions),
    )
    write_jsonl(
        landing_path(out_dir, BILLING_SUBSCRIPTION_EVENTS, "subscription_events.jsonl"),
        (event for s in subscriptions for event in s.change_events("evt_" + s.subscription_id.removeprefix("sub_"))),
    )


def _enrolment_subscription(row: dict[str, object], presentation: Presentation) -> Subscription:
    """Map one enrolment onto a subscription: start at registration, end at withdrawal only.

    An enrolment without an unregistration day (passed, failed or no result) never ends: completing a
    module is not churn, so its MRR continues to the end of the data set.
    """
    account = account_id(presentation.code_module, presentation.code_presentation, row["id_student"])
    suffix = f"oulad_{presentation.code_module}_{presentation.code_presentation}_{row['id_student']}"
    registration = row["date_registration"]
    # 45 enrolments have no registration day; they start on the presentation start.
    start = presentation.start + timedelta(days=0 if registration is None else int(registration))
    unregistration = row["date_unregistration"]
    metadata = {"account_id": account, "final_result": row["final_result"]}
    if unregistration is None:
        ended_at = None
    else:
        # An unregistration recorded before the (missing) registration day ends at the start.
        ended_at = max(start, presentation.start + timedelta(days=int(unregistration)))
        metadata["end_reason"] = "withdrawn"
    return Subscription(
        subscription_id=f"sub_{suffix}",
        customer_id=f"cus_{suffix}",
        price_id=presentation.price_id,
        quantity=int(row["studied_credits"]),
        currency=CURRENCY,
        start=start,
        months_per_period=1,
        canceled_at=ended_at,
        ended_at=ended_at,
        metadata=metadata,
    )


def _account_row(row: dict[str, object], account: str, created: datetime) -> list[object]:
    region = row["region"]
    values = {
        "account_id": account,
        "name": f"Student {row['id_student']} {row['code_module']} {row['code_presentation']}",
        "industry": None,
        "employee_count": None,
        "country": "GB" if region in UK_REGIONS else None,
        "owner_csm_id": None,
        "created_at": to_iso(created),
    }
    extras = [row[column] for column in ACCOUNT_EXTRA_COLUMNS]
    extras = [int(value) if isinstance(value, float) and value.is_integer() else value for value in extras]
    return [values[column.name] for column in CRM_ACCOUNTS.columns] + extras


def _prices(
    presentations: dict[tuple[str, str], Presentation],
    subscriptions: list[Subscription],
) -> list[dict[str, object]]:
    first_start: dict[str, datetime] = {}
    for subscription in subscriptions:
        current = first_start.get(subscription.price_id)
        if current is None or subscription.start < current:
            first_start[subscription.price_id] = subscription.start
    return [
        price_object(
            price_id=p.price_id,
            product_id=f"prod_oulad_{p.code_module}",
            nickname=f"{p.code_module} {p.code_presentation}",
            tier=p.code_module,
            unit_amount=NOMINAL_FEE_PER_CREDIT_CENTS,
            currency=CURRENCY,
            interval="month",
            interval_count=1,
            created=min(first_start.get(p.price_id, p.start), p.start),
        )
        for p in presentations.values()
    ]


def _event_time_sql(day_column: str) -> str:
    """SQL for the ISO-8601 UTC text of presentation day `day_column` at EVENT_HOUR_UTC."""
    return (
        f"strftime(cast(s.start_date + cast({day_column} as integer) as timestamp) "
        f"+ interval {EVENT_HOUR_UTC} hour, '%Y-%m-%dT%H:%M:%SZ')"
    )


def _write_vle_events(
    con: duckdb.DuckDBPyConnection,
    presentations: dict[tuple[str, str], Presentation],
    out_dir: Path,
    vle_path: Path,
) -> None:
    """Write one Parquet file of track events per presentation, one event per studentVle row.

    The message id numbers the rows of one account, site and day in sum_click order. Rows that tie
    are identical in every column (OULAD has such repeats), so the output does not depend on the
    order the rows are read in.
    """
    total = 0
    for p in presentations.values():
        path = landing_path(out_dir, EVENTS, f"vle/{p.code_module}_{p.code_presentation}.parquet")
        timestamp = _event_time_sql("v.date")
        written = con.execute(
            f"""
            copy (
                with clicks as (
                    select
                        v.code_module || '-' || v.code_presentation || '-' || cast(cast(v.id_student as bigint) as varchar)
                            as account_id,
                        cast(v.id_student as bigint) as id_student,
                        cast(v.id_site as bigint) as id_site,
                        cast(v.date as integer) as day,
                        cast(v.sum_click as bigint) as sum_click,
                        site.activity_type,
                        {timestamp} as event_time
                    from "studentVle" as v
                    inner join presentation_starts as s
                        on s.code_module = v.code_module and s.code_presentation = v.code_presentation
                    left join vle as site
                        on site.id_site = v.id_site
                        and site.code_module = v.code_module
                        and site.code_presentation = v.code_presentation
                    where v.code_module = {sql_string(p.code_module)}
                        and v.code_presentation = {sql_string(p.code_presentation)}
                )
                select
                    'vle-' || account_id || '-' || id_site || '-' || day || '-'
                        || row_number() over (partition by account_id, id_site, day order by sum_click) as "messageId",
                    'track' as "type",
                    '{VLE_EVENT_PREFIX}' || coalesce(activity_type, 'unknown') as "event",
                    'student-' || id_student as "userId",
                    cast(null as varchar) as "anonymousId",
                    account_id as "groupId",
                    cast(json_object('activity_type', activity_type, 'sum_click', sum_click, 'id_site', id_site)
                        as varchar) as properties,
                    cast(null as varchar) as traits,
                    event_time as "timestamp",
                    event_time as "sentAt",
                    event_time as "receivedAt"
                from clicks
                order by account_id, day, id_site, sum_click, "messageId"
            ) to {sql_string(path)} (format parquet)
            """
        ).fetchone()[0]
        total += written
        log.info("%s: wrote %d VLE events of %s to %s", DATA_SET, written, p.key, path)
    log.info("%s: wrote %d VLE events in total", DATA_SET, total)


def _write_assessment_events(con: duckdb.DuckDBPyConnection, out_dir: Path) -> None:
    path = landing_path(out_dir, EVENTS, "assessments.parquet")
    timestamp = _event_time_sql("sa.date_submitted")
    written = con.execute(
        f"""
        copy (
            select
                'assessment-' || cast(cast(sa.id_assessment as bigint) as varchar) || '-'
                    || cast(cast(sa.id_student as bigint) as varchar) as "messageId",
                'track' as "type",
                '{ACTIVATION_EVENT}' as "event",
                'student-' || cast(cast(sa.id_student as bigint) as varchar) as "userId",
                cast(null as varchar) as "anonymousId",
                a.code_module || '-' || a.code_presentation || '-' || cast(cast(sa.id_student as bigint) as varchar)
                    as "groupId",
                cast(json_object(
                    'id_assessment', cast(sa.id_assessment as bigint),
                    'assessment_type', a.assessment_type,
                    'weight', a.weight,
                    'score', sa.score,
                    'is_banked', sa.is_banked = 1
                ) as varchar) as properties,
                cast(null as varchar) as traits,
                {timestamp} as "timestamp",
                {timestamp} as "sentAt",
                {timestamp} as "receivedAt"
            from "studentAssessment" as sa
            inner join assessments as a
                on a.id_assessment = sa.id_assessment
            inner join presentation_starts as s
                on s.code_module = a.code_module and s.code_presentation = a.code_presentation
            order by "groupId", sa.date_submitted, "messageId"
        ) to {sql_string(path)} (format parquet)
        """
    ).fetchone()[0]
    log.info("%s: wrote %d assessment events to %s", DATA_SET, written, path)


def _write_feature_catalog(con: duckdb.DuckDBPyConnection, out_dir: Path) -> None:
    """Write one catalog row per VLE activity type (each a feature) and one for assessment submission."""
    activity_types = [row[0] for row in con.execute(
        "select distinct activity_type from vle where activity_type is not null order by activity_type"
    ).fetchall()]
    rows = [
        [VLE_EVENT_PREFIX + activity_type, activity_type, True, False, False, None]
        for activity_type in activity_types
    ]
    rows.append([ACTIVATION_EVENT, "assessment", True, False, True, "submit_first_assessment"])
    header = [column.name for column in CATALOG_FEATURES.columns]
    write_csv(landing_path(out_dir, CATALOG_FEATURES, "features.csv"), header, rows)
