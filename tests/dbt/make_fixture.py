"""Hand-made raw tables (docs/raw_contract.md) with known answers for the dbt project tests.

Run as a script to build a warehouse for manual `dbt build` runs:
    uv run python tests/dbt/make_fixture.py /tmp/covplan_fixture.duckdb

History runs 2022-02-15 .. 2024-12-31, so the derived plan as-of date is 2025-01-01 and the
feature cut-offs are the quarter starts 2023-01-01 .. 2025-01-01 (labels observable up to 2024-01-01).
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import duckdb

RAW_DDL = {
    "accounts": """
        account_id VARCHAR, account_name VARCHAR, industry VARCHAR, employees INTEGER,
        annual_revenue DOUBLE, city VARCHAR, state VARCHAR, country VARCHAR, lat DOUBLE, lon DOUBLE,
        parent_account_id VARCHAR, created_at DATE, status VARCHAR, owner_rep_id VARCHAR""",
    "contacts": "contact_id VARCHAR, account_id VARCHAR, role VARCHAR, last_activity_date DATE",
    "reps": """
        rep_id VARCHAR, rep_name VARCHAR, role VARCHAR, home_city VARCHAR, home_state VARCHAR,
        home_lat DOUBLE, home_lon DOUBLE, capacity_hours DOUBLE""",
    "opportunities": """
        opportunity_id VARCHAR, account_id VARCHAR, stage VARCHAR, amount DOUBLE, created_date DATE,
        close_date DATE""",
    "transactions": """
        transaction_id VARCHAR, order_id VARCHAR, account_id VARCHAR, site_id VARCHAR, order_date DATE,
        product_id VARCHAR, product_category VARCHAR, quantity DOUBLE, unit_price DOUBLE,
        unit_cost DOUBLE, discount DOUBLE, channel VARCHAR""",
}

D = date

REPS = [
    ("R0001", "Rita Field", "field", "Chicago", "IL", 41.88, -87.63, 1500.0),
    ("R0002", "Ivan Inside", "inside", "Dallas", "TX", 32.78, -96.80, 1600.0),
]

ACCOUNTS = [
    # A1: many lines, a return, two sites, four channels; revenue_t12m is exactly 50000 ('>=50K').
    ("A0000001", "Acme Tools", "industrial_machinery", 250, 5.0e7, "Chicago", "IL", "US", 41.9, -87.6,
     None, D(2021, 1, 15), "active", "R0001"),
    # A2: one EDI line of 4999.99 in 2024 ('<5K'), nothing the year before (yoy_growth NULL).
    ("A0000002", "Beta Foods", "food", 40, 8.0e6, "Dallas", "TX", "US", 32.8, -96.8,
     None, D(2022, 1, 1), "active", "R0002"),
    # A3: prospect, no transactions.
    ("A0000003", "Gamma Labs", "chemicals", 12, 2.0e6, "Austin", "TX", "US", 30.3, -97.7,
     None, D(2023, 5, 1), "prospect", None),
    # A4: bought in 2022 and 2023 only: revenue_t12m 0 ('blank'), yoy_growth -1.
    ("A0000004", "Delta Metal", "metal", 90, 1.5e7, "Houston", "TX", "US", 29.8, -95.4,
     None, D(2021, 6, 1), "active", "R0002"),
    # A5: child of A1, exactly 35000 in 2024 ('<50K').
    ("A0000005", "Acme West", "industrial_machinery", 60, 9.0e6, "Denver", "CO", "US", 39.7, -105.0,
     "A0000001", D(2022, 3, 1), "active", "R0001"),
    # A6: 34999.99 in 2024 through an RFP ('<35K').
    ("A0000006", "Zeta Build", "construction", 30, 4.0e6, "Phoenix", "AZ", "US", 33.4, -112.1,
     None, D(2023, 1, 10), "active", "R0001"),
    # A7: created 2024-06-01, so it has feature rows only from the 2024-07-01 cut-off on.
    ("A0000007", "Eta Web", "retail", 8, 1.0e6, "Miami", "FL", "US", 25.8, -80.2,
     None, D(2024, 6, 1), "active", "R0002"),
    # A8, from a user file: no status (inferred active: it has lines), no country, lines without
    # order id, site id or (one) unit cost; its owner R0099 is not in the reps extract.
    ("A0000008", "Theta Supply", "retail", 20, 3.0e6, "Tampa", "FL", None, 27.9, -82.5,
     None, D(2023, 1, 1), None, "R0099"),
    # A9: no status and no lines (inferred prospect), a grandchild of A1 through A5.
    ("A0000009", "Acme West Yard", "industrial_machinery", 5, 5.0e5, "Boulder", "CO", "US", 40.0, -105.3,
     "A0000005", D(2024, 1, 15), None, None),
]  # fmt: skip

CONTACTS = [
    ("C001", "A0000001", "purchasing", D(2024, 11, 1)),
    ("C002", "A0000001", "purchasing", D(2024, 6, 1)),
    ("C003", "A0000001", "finance", None),
    ("C004", "A0000002", "executive", D(2023, 1, 1)),
    ("C005", "A0000008", "purchasing", D(2024, 2, 1)),
    ("C006", "A0000008", "purchasing", None),
]

OPPORTUNITIES = [
    ("OP1", "A0000001", "proposal", 5000.0, D(2024, 10, 1), D(2025, 2, 1)),
    ("OP2", "A0000001", "closed_won", 12000.0, D(2024, 1, 1), D(2024, 3, 1)),
    ("OP3", "A0000003", "qualification", 8000.0, D(2024, 9, 1), D(2025, 3, 1)),
    ("OP4", "A0000003", "closed_lost", 3000.0, D(2023, 9, 1), D(2023, 12, 1)),
]

# (transaction_id, order_id, account_id, site_id, order_date, product_id, category, quantity,
#  unit_price, unit_cost, discount, channel)
TRANSACTIONS = [
    ("T01", "O01", "A0000001", "A0000001-S1", D(2022, 6, 10), "P1", "fasteners", 10, 100, 60, 0.0, "field"),
    ("T02", "O02", "A0000001", "A0000001-S1", D(2023, 2, 1), "P1", "fasteners", 100, 100, 60, 0.1, "field"),
    # The day before the 2024-01-01 cut-off: a feature for that cut-off.
    ("T03", "O03", "A0000001", "A0000001-S1", D(2023, 12, 31), "P2", "tools", 10, 1000, 700, 0.0, "rfp"),
    # On the 2024-01-01 cut-off: part of that cut-off's label, not of its features.
    ("T04", "O04", "A0000001", "A0000001-S1", D(2024, 1, 1), "P2", "tools", 20, 1000, 700, 0.2, "rfp"),
    ("T05", "O05", "A0000001", "A0000001-S1", D(2024, 5, 5), "P3", "safety", 100, 200, 100, 0.0, "web"),
    ("T06", "O05", "A0000001", "A0000001-S1", D(2024, 5, 5), "P1", "fasteners", 140, 100, 60, 0.0, "web"),
    # A return (negative quantity).
    ("T07", "O06", "A0000001", "A0000001-S1", D(2024, 11, 20), "P1", "fasteners", -10, 100, 60, 0.0, "web"),
    # The latest order line of the history, at a second site.
    ("T08", "O07", "A0000001", "A0000001-S2", D(2024, 12, 31), "P3", "safety", 5, 200, 100, 0.0, "phone"),
    ("T09", "O08", "A0000002", "A0000002-S1", D(2024, 7, 1), "P4", "packaging", 1, 4999.99, 4000, 0.0, "edi"),
    # The first order line of the history (2022-Q1): first cut-off is 2023-01-01.
    ("T10", "O09", "A0000004", "A0000004-S1", D(2022, 2, 15), "P1", "fasteners", 1, 500, 300, 0.0, "field"),
    ("T11", "O10", "A0000004", "A0000004-S1", D(2023, 6, 1), "P5", "machines", 1, 15000, 10000, 0.0, "field"),
    ("T12", "O11", "A0000005", "A0000005-S1", D(2024, 3, 10), "P5", "machines", 1, 35000, 25000, 0.0, "field"),
    ("T13", "O12", "A0000006", "A0000006-S1", D(2024, 2, 2), "P5", "machines", 1, 34999.99, 25000, 0.0, "rfp"),
    ("T14", "O13", "A0000007", "A0000007-S1", D(2024, 8, 1), "P3", "safety", 2, 50, 20, 0.5, "web"),
    # A8: NULL order_id (each line its own order), NULL site_id (one site), one NULL unit_cost.
    ("T15", None, "A0000008", None, D(2024, 3, 1), "P3", "safety", 1, 1000, None, 0.0, "rfp"),
    ("T16", None, "A0000008", None, D(2024, 3, 1), "P3", "safety", 1, 1000, 600, 0.0, "web"),
]  # fmt: skip

ROWS = {
    "accounts": ACCOUNTS,
    "contacts": CONTACTS,
    "reps": REPS,
    "opportunities": OPPORTUNITIES,
    "transactions": TRANSACTIONS,
}


def land_raw(path: str | Path, tables: dict) -> Path:
    """Land DataFrames (e.g. `DemoData.tables()`) as raw tables with the contract's column types
    (the frames carry dates as timestamps)."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists raw")
        for table, frame in tables.items():
            con.execute(f"create table raw.{table} ({RAW_DDL[table]})")
            con.register("frame", frame)
            con.execute(f"insert into raw.{table} by name select * from frame")
            con.unregister("frame")
    return Path(path)


def write_fixture(path: str | Path) -> Path:
    """Create (or replace) schema `raw` in the DuckDB file at `path` with the hand-made tables."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists raw")
        for table, ddl in RAW_DDL.items():
            con.execute(f"create or replace table raw.{table} ({ddl})")
            rows = ROWS[table]
            placeholders = ", ".join("?" * len(rows[0]))
            con.executemany(f"insert into raw.{table} values ({placeholders})", rows)
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/dbt/make_fixture.py <warehouse.duckdb>")
    print(write_fixture(sys.argv[1]))
