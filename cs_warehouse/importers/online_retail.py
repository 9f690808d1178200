"""Import the UCI Online Retail data set (541,909 invoice lines of a UK online retailer, 2010-2011).

Mapping (docs/real_data.md explains it in prose):
- A CustomerID is an account and a Stripe customer. Lines without a CustomerID cannot be assigned to
  an account and are left out (135,080 lines in the full file).
- An invoice (InvoiceNo) is a paid Stripe invoice with one line per source line, in gbp.
- A cancellation (InvoiceNo starting with 'C', negative quantities) is a credit note against the
  customer's latest invoice created at or before it. A cancellation with no such invoice is left out.
- No subscriptions, prices or product events: the retailer sells without contracts.

InvoiceDate is UK local time without an offset; the importer converts it from Europe/London to UTC.
"""

from __future__ import annotations

import itertools
import logging
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from cs_warehouse.contract import BILLING_CREDIT_NOTES, BILLING_CUSTOMERS, BILLING_INVOICES, CRM_ACCOUNTS
from cs_warehouse.errors import CswError
from cs_warehouse.importers._landing import (
    find_file,
    landing_path,
    require_columns,
    sql_string,
    write_csv,
    write_jsonl,
)
from cs_warehouse.importers._stripe import customer_object

log = logging.getLogger(__name__)

DATA_SET = "online-retail"
DOWNLOAD_HINT = (
    "Download 'Online Retail' from the UCI Machine Learning Repository "
    "(https://archive.ics.uci.edu/dataset/352/online+retail) and save the sheet as CSV "
    "(online_retail.csv, optionally gzipped), keeping the header row."
)
FILE_NAMES = ("online_retail.csv.gz", "online_retail.csv", "Online Retail.csv")
REQUIRED_COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
                    "CustomerID", "Country")
CURRENCY = "gbp"
SOURCE_TIMEZONE = "Europe/London"
CANCELLATION_PREFIX = "C"

# Country names as the retailer recorded them -> ISO 3166-1 alpha-2. 'European Community' and
# 'Unspecified' name no country and map to an empty value; the name itself stays in `country_name`.
COUNTRY_CODES = {
    "Australia": "AU", "Austria": "AT", "Bahrain": "BH", "Belgium": "BE", "Brazil": "BR", "Canada": "CA",
    "Channel Islands": "GG", "Cyprus": "CY", "Czech Republic": "CZ", "Denmark": "DK", "EIRE": "IE",
    "Finland": "FI", "France": "FR", "Germany": "DE", "Greece": "GR", "Hong Kong": "HK", "Iceland": "IS",
    "Israel": "IL", "Italy": "IT", "Japan": "JP", "Lebanon": "LB", "Lithuania": "LT", "Malta": "MT",
    "Netherlands": "NL", "Norway": "NO", "Poland": "PL", "Portugal": "PT", "RSA": "ZA", "Saudi Arabia": "SA",
    "Singapore": "SG", "Spain": "ES", "Sweden": "SE", "Switzerland": "CH", "USA": "US",
    "United Arab Emirates": "AE", "United Kingdom": "GB",
}


def import_online_retail(source: Path, out_dir: Path) -> None:
    """Write accounts, customers, invoices and credit notes for every identified retail customer."""
    path = _source_file(source)
    con = duckdb.connect()
    try:
        _load_lines(con, path)
        _write_accounts_and_customers(con, out_dir)
        _write_invoices(con, out_dir)
        _write_credit_notes(con, out_dir)
    finally:
        con.close()


def _source_file(source: Path) -> Path:
    if source.is_file():
        return source
    if not source.exists():
        raise CswError(f"{DATA_SET}: source {source} not found. {DOWNLOAD_HINT}")
    return find_file(source, FILE_NAMES, DATA_SET, DOWNLOAD_HINT)


def _load_lines(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Load the lines that have a CustomerID into table `lines`, with UTC epoch times and amounts in pence."""
    relation = f"read_csv({sql_string(path)}, header = true, all_varchar = true)"
    require_columns(con, relation, REQUIRED_COLUMNS, path, DATA_SET)
    con.execute(f"create temp table source_lines as select * from {relation}")
    total, without_customer = con.execute(
        "select count(*), count(*) filter (where nullif(trim(\"CustomerID\"), '') is null) from source_lines"
    ).fetchone()
    log.info("%s: read %d lines from %s; %d have no CustomerID and are left out", DATA_SET, total, path,
             without_customer)
    # CustomerID is written as 17850.0 in some exports; the account id is the whole number.
    con.execute(
        f"""
        create temp table lines as
        select
            trim("InvoiceNo") as invoice_no,
            starts_with(trim("InvoiceNo"), '{CANCELLATION_PREFIX}') as is_cancellation,
            cast(cast(cast("CustomerID" as double) as bigint) as varchar) as customer_key,
            trim("StockCode") as stock_code,
            trim("Description") as description,
            cast(round(cast("Quantity" as double)) as bigint) as quantity,
            cast("UnitPrice" as double) as unit_price,
            cast(round(cast("Quantity" as double) * cast("UnitPrice" as double) * 100) as bigint) as amount,
            cast(epoch(timezone('{SOURCE_TIMEZONE}', cast("InvoiceDate" as timestamp))) as bigint) as created,
            trim("Country") as country_name
        from source_lines
        where nullif(trim("CustomerID"), '') is not null
        """
    )


def _write_accounts_and_customers(con: duckdb.DuckDBPyConnection, out_dir: Path) -> None:
    rows = con.execute(
        """
        with country_counts as (
            select customer_key, country_name, count(*) as line_count
            from lines
            group by customer_key, country_name
        ),
        main_country as (
            select
                customer_key,
                country_name,
                row_number() over (
                    partition by customer_key order by line_count desc, country_name
                ) as country_rank
            from country_counts
        )
        select l.customer_key, min(l.created) as first_seen, c.country_name
        from lines as l
        inner join main_country as c
            on c.customer_key = l.customer_key and c.country_rank = 1
        group by l.customer_key, c.country_name
        order by cast(l.customer_key as bigint)
        """
    ).fetchall()
    accounts = []
    customers = []
    for customer_key, first_seen, country_name in rows:
        created = datetime.fromtimestamp(first_seen, tz=timezone.utc)
        name = f"Customer {customer_key}"
        accounts.append([customer_key, name, None, None, COUNTRY_CODES.get(country_name), None,
                         created.strftime("%Y-%m-%dT%H:%M:%SZ"), country_name])
        customers.append(customer_object(f"cus_retail_{customer_key}", customer_key, name, CURRENCY, created))
    header = [column.name for column in CRM_ACCOUNTS.columns] + ["country_name"]
    write_csv(landing_path(out_dir, CRM_ACCOUNTS, "accounts.csv"), header, accounts)
    write_jsonl(landing_path(out_dir, BILLING_CUSTOMERS, "customers.jsonl"), customers)


def _write_invoices(con: duckdb.DuckDBPyConnection, out_dir: Path) -> None:
    """Write one paid invoice per InvoiceNo.

    The invoice takes its earliest line time, because the lines of 30 invoices in the full file
    differ by a minute. It takes the lowest CustomerID should its lines name several (none do).
    """
    rows = con.execute(
        """
        select
            invoice_no,
            min(customer_key) over (partition by invoice_no) as customer_key,
            min(created) over (partition by invoice_no) as invoice_created,
            stock_code,
            description,
            quantity,
            unit_price,
            amount
        from lines
        where not is_cancellation
        order by invoice_no, stock_code, quantity, unit_price, description
        """
    ).fetchall()
    invoices = [_invoice(invoice_no, list(group)) for invoice_no, group in itertools.groupby(rows, key=lambda r: r[0])]
    write_jsonl(landing_path(out_dir, BILLING_INVOICES, "invoices.jsonl"), invoices)
    log.info("%s: %d invoices with %d lines", DATA_SET, len(invoices), len(rows))


def _invoice(invoice_no: str, rows: list[tuple]) -> dict[str, object]:
    _, customer_key, created = rows[0][:3]
    lines = [
        {
            "id": f"il_retail_{invoice_no}_{index}",
            "object": "line_item",
            "price": None,
            "quantity": quantity,
            "amount": amount,
            "currency": CURRENCY,
            "proration": False,
            "period": {"start": created, "end": created},
            "description": f"{stock_code} {description or ''}".strip(),
            "metadata": {"stock_code": stock_code, "unit_price": unit_price},
        }
        for index, (_, _, _, stock_code, description, quantity, unit_price, amount) in enumerate(rows, start=1)
    ]
    total = sum(line["amount"] for line in lines)
    return {
        "id": f"in_retail_{invoice_no}",
        "object": "invoice",
        "number": invoice_no,
        "customer": f"cus_retail_{customer_key}",
        "subscription": None,
        "status": "paid",
        "billing_reason": "manual",
        "currency": CURRENCY,
        "subtotal": total,
        "total_discount_amount": 0,
        "total": total,
        "amount_due": total,
        "amount_paid": total,
        "amount_remaining": 0,
        "created": created,
        "due_date": created,
        "status_transitions": {"paid_at": created},
        "period_start": created,
        "period_end": created,
        "lines": {"object": "list", "data": lines},
    }


def _write_credit_notes(con: duckdb.DuckDBPyConnection, out_dir: Path) -> None:
    """Write one credit note per cancellation, against the customer's latest invoice at or before it."""
    rows = con.execute(
        """
        with cancellations as (
            select invoice_no, min(customer_key) as customer_key, min(created) as created, -sum(amount) as amount
            from lines
            where is_cancellation
            group by invoice_no
        ),
        invoices as (
            select invoice_no, min(customer_key) as customer_key, min(created) as created
            from lines
            where not is_cancellation
            group by invoice_no
        ),
        matches as (
            select
                c.invoice_no,
                c.customer_key,
                c.created,
                c.amount,
                i.invoice_no as credited_invoice_no,
                row_number() over (
                    partition by c.invoice_no order by i.created desc, i.invoice_no desc
                ) as match_rank
            from cancellations as c
            left join invoices as i
                on i.customer_key = c.customer_key and i.created <= c.created
        )
        select invoice_no, customer_key, created, amount, credited_invoice_no
        from matches
        where match_rank = 1
        order by invoice_no
        """
    ).fetchall()
    notes = [
        {
            "id": f"cn_retail_{invoice_no}",
            "object": "credit_note",
            "number": invoice_no,
            "invoice": f"in_retail_{credited}",
            "customer": f"cus_retail_{customer_key}",
            "amount": amount,
            "currency": CURRENCY,
            "reason": "order_change",
            "status": "issued",
            "type": "post_payment",
            "created": created,
        }
        for invoice_no, customer_key, created, amount, credited in rows
        if credited is not None
    ]
    unmatched = len(rows) - len(notes)
    write_jsonl(landing_path(out_dir, BILLING_CREDIT_NOTES, "credit_notes.jsonl"), notes)
    log.info("%s: %d cancellations became credit notes; %d had no earlier invoice of the same customer "
             "and are left out", DATA_SET, len(notes), unmatched)
