"""Import the Helpdesk event log of an Italian software company (4,580 tickets, 21,348 status events).

Mapping (docs/real_data.md explains it in prose):
- A case (Case ID) is a ticket. Its events (Activity with Complete Timestamp) give the ticket's times
  and current status. It is created at the first event, first responded to at the first 'Take in
  charge ticket' and resolved at the last resolving activity. STATUS_BY_ACTIVITY maps the last
  activity to the status.
- A customer ('Value N', pseudonymised) is an account, created at its first ticket.
- Attributes that change within a case (customer, seriousness_2, ...) are taken from its last event.

The log gives no time zone. Timestamps are written with a Z suffix, so ingestion reads them as UTC.
"""

from __future__ import annotations

import csv
import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cs_warehouse.contract import CRM_ACCOUNTS, CRM_TICKETS
from cs_warehouse.errors import CswError
from cs_warehouse.importers._landing import find_file, landing_path, to_iso, write_csv

log = logging.getLogger(__name__)

DATA_SET = "helpdesk"
DOWNLOAD_HINT = (
    "Download the Helpdesk event log from 4TU.ResearchData (doi:10.4121/uuid:0c60edf1-6f83-4e75-9367-4c63b3e9d5bb) "
    "or finale.csv from https://github.com/nkwachiabel/Process-Mining-Helpdesk-of-an-Italian-coy (Data/)."
)
FILE_NAMES = ("finale.csv", "helpdesk.csv")
TIMESTAMP_FORMAT = "%Y/%m/%d %H:%M:%S.%f"
REQUIRED_COLUMNS = ("Case ID", "Activity", "Resource", "Complete Timestamp", "customer", "product",
                    "seriousness_2", "service_level", "service_type", "workgroup")
TICKET_EXTRA_COLUMNS = ("product", "seriousness_2", "service_level", "service_type", "support_section",
                        "responsible_section", "workgroup", "first_responder", "last_activity", "event_count")

RESPONSE_ACTIVITY = "Take in charge ticket"
RESOLVE_ACTIVITIES = frozenset({"Resolve ticket", "RESOLVED", "VERIFIED"})
STATUS_BY_ACTIVITY = {
    "Insert ticket": "new",
    "Assign seriousness": "new",
    "Take in charge ticket": "open",
    "Require upgrade": "open",
    "Create SW anomaly": "open",
    "Resolve SW anomaly": "open",
    "Schedule intervention": "open",
    "Wait": "pending",
    "Resolve ticket": "solved",
    "RESOLVED": "solved",
    "VERIFIED": "solved",
    "Closed": "closed",
    "INVALID": "closed",
    "DUPLICATE": "closed",
}
# NOTE: seriousness_2 is pseudonymised ('Value 1' .. 'Value 4'); reading the numbers as rising
# urgency is an assumption the source does not confirm. The original value stays in seriousness_2.
PRIORITY_BY_SERIOUSNESS = {"Value 1": "low", "Value 2": "normal", "Value 3": "high", "Value 4": "urgent"}


@dataclass(frozen=True)
class TicketEvent:
    line: int
    at: datetime
    activity: str
    resource: str
    attributes: dict[str, str]


def import_helpdesk(source: Path, out_dir: Path) -> None:
    """Write one ticket per case and one account per customer."""
    path = _source_file(source)
    cases = _read_cases(path)
    tickets = [_ticket_row(case_id, events) for case_id, events in sorted(cases.items(), key=_case_order)]
    unknown = sorted({e.activity for events in cases.values() for e in events} - STATUS_BY_ACTIVITY.keys())
    if unknown:
        log.warning("%s: activities %s have no status mapping and count as open", DATA_SET, ", ".join(unknown))

    ticket_header = [column.name for column in CRM_TICKETS.columns] + list(TICKET_EXTRA_COLUMNS)
    write_csv(landing_path(out_dir, CRM_TICKETS, "tickets.csv"), ticket_header, tickets)
    write_csv(landing_path(out_dir, CRM_ACCOUNTS, "accounts.csv"),
              [column.name for column in CRM_ACCOUNTS.columns] + ["ticket_count"], _account_rows(tickets))


def _source_file(source: Path) -> Path:
    if source.is_file():
        return source
    if not source.exists():
        raise CswError(f"{DATA_SET}: source {source} not found. {DOWNLOAD_HINT}")
    return find_file(source, FILE_NAMES, DATA_SET, DOWNLOAD_HINT)


def _read_cases(path: Path) -> dict[str, list[TicketEvent]]:
    """Group the log's events by case, each case's events in time order (file order on ties)."""
    cases: dict[str, list[TicketEvent]] = defaultdict(list)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        missing = [name for name in REQUIRED_COLUMNS if name not in header]
        if missing:
            raise CswError(f"{DATA_SET}: {path} is missing required column(s) {', '.join(missing)}; "
                           f"found {', '.join(header)}. {DOWNLOAD_HINT}")
        # The file repeats the header 'Variant'; the first occurrence of each name is used.
        position = {name: header.index(name) for name in reversed(header)}
        count = 0
        for line, values in enumerate(reader, start=2):
            if len(values) != len(header):
                raise CswError(f"{DATA_SET}: {path} line {line}: {len(values)} fields, expected {len(header)} "
                               "as in the header; check the file for a truncated or split line")
            record = {name: values[index] for name, index in position.items()}
            event = TicketEvent(
                line=line,
                at=_parse_time(record["Complete Timestamp"], path, line),
                activity=record["Activity"],
                resource=record["Resource"],
                attributes=record,
            )
            cases[record["Case ID"]].append(event)
            count += 1
    for events in cases.values():
        events.sort(key=lambda e: (e.at, e.line))
    log.info("%s: read %d events of %d cases from %s", DATA_SET, count, len(cases), path)
    return cases


def _parse_time(text: str, path: Path, line: int) -> datetime:
    try:
        return datetime.strptime(text.strip(), TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        raise CswError(f"{DATA_SET}: {path} line {line}: invalid Complete Timestamp {text!r}; "
                       "expected YYYY/MM/DD hh:mm:ss.sss") from None


def _case_order(item: tuple[str, list[TicketEvent]]) -> tuple[int, str]:
    digits = re.findall(r"\d+", item[0])
    return (int(digits[-1]) if digits else -1, item[0])


def account_id(customer: str) -> str:
    """Account id of a pseudonymised customer name, e.g. 'Value 12' -> customer-value-12."""
    return "customer-" + re.sub(r"[^a-z0-9]+", "-", customer.lower()).strip("-")


def _ticket_row(case_id: str, events: list[TicketEvent]) -> list[object]:
    last = events[-1]
    status = STATUS_BY_ACTIVITY.get(last.activity, "open")
    responses = [e for e in events if e.activity == RESPONSE_ACTIVITY]
    resolved_at = None
    if status in ("solved", "closed"):
        resolves = [e.at for e in events if e.activity in RESOLVE_ACTIVITIES]
        resolved_at = resolves[-1] if resolves else last.at
    values = {
        "ticket_id": case_id,
        "account_id": account_id(last.attributes["customer"]),
        "created_at": to_iso(events[0].at),
        "first_response_at": to_iso(responses[0].at) if responses else None,
        "resolved_at": to_iso(resolved_at),
        "priority": PRIORITY_BY_SERIOUSNESS.get(last.attributes["seriousness_2"]),
        "status": status,
        "category": last.attributes["service_type"],
        "csat": None,
    }
    extras = {
        **{name: last.attributes.get(name) for name in TICKET_EXTRA_COLUMNS[:7]},
        "first_responder": responses[0].resource if responses else None,
        "last_activity": last.activity,
        "event_count": len(events),
    }
    return [values[column.name] for column in CRM_TICKETS.columns] + [extras[name] for name in TICKET_EXTRA_COLUMNS]


def _account_rows(tickets: list[list[object]]) -> list[list[object]]:
    """Build one account per customer of the tickets, created at its first ticket, sorted by id."""
    ticket_columns = [column.name for column in CRM_TICKETS.columns]
    account_index = ticket_columns.index("account_id")
    created_index = ticket_columns.index("created_at")
    first_ticket: dict[str, str] = {}
    ticket_count: dict[str, int] = defaultdict(int)
    for ticket in tickets:
        account, created = ticket[account_index], ticket[created_index]
        ticket_count[account] += 1
        if account not in first_ticket or created < first_ticket[account]:
            first_ticket[account] = created
    rows = []
    for account in sorted(first_ticket, key=_account_order):
        name = "Value " + account.rsplit("-", 1)[-1] if account.startswith("customer-value-") else account
        values = {"account_id": account, "name": name, "industry": None, "employee_count": None, "country": None,
                  "owner_csm_id": None, "created_at": first_ticket[account]}
        rows.append([values[column.name] for column in CRM_ACCOUNTS.columns] + [ticket_count[account]])
    log.info("%s: %d tickets from %d customers", DATA_SET, len(tickets), len(rows))
    return rows


def _account_order(account: str) -> tuple[int, str]:
    digits = re.findall(r"\d+", account)
    return (int(digits[-1]) if digits else -1, account)
