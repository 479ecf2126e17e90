"""Names and paths that look like SQL are data: stored verbatim or rejected with a clear error, never
executed (sources/files.py, sources/landing.py, planning/publish.py)."""

from __future__ import annotations

import json
from datetime import date, datetime

import duckdb
import pytest
import standin

import planning.publish as pub
from sources.contract import SourceFileError
from sources.files import load_folder
from sources.landing import RowRules

EVIL = "x'; DROP TABLE raw.accounts; --"
EVIL_IDENT = 'y"; DROP TABLE raw.transactions; --'
RULES = RowRules(
    min_date=date(1980, 1, 1), as_of_date=date(2025, 6, 30), max_future_years=2, capacity_hours={"field": 1.0}
)
ACCOUNTS = (
    "account_id,{name_col},industry,employees,annual_revenue,city,state,lat,lon,created_at,owner_rep_id,{extra}\n"
    "A1,{name},retail,10,100,Austin,TX,30,-97,2020-01-01,R1,1\n"
    "A2,Plain,retail,10,100,Austin,TX,30,-97,2020-01-01,R1,2\n"
)
TRANSACTIONS = (
    "transaction_id,account_id,order_date,product_id,product_category,quantity,unit_price,discount,channel\n"
    "T1,A1,2024-01-01,P,c,1,10,0,web\nT2,A2,2024-01-01,P,c,1,10,0,web\n"
)


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def test_injection_in_values_paths_headers_and_run_id_is_stored_verbatim(tmp_path):
    folder = tmp_path / EVIL
    folder.mkdir()
    name = EVIL + ' and "quotes"'
    (folder / "accounts.csv").write_text(
        ACCOUNTS.format(name_col=_csv_field(EVIL_IDENT), extra=_csv_field(EVIL), name=_csv_field(name))
    )
    (folder / "transactions.csv").write_text(TRANSACTIONS)
    con = duckdb.connect()
    renames = {"accounts": {EVIL_IDENT: "account_name"}}  # a user's column name with a double quote
    report = load_folder(con, folder, renames, RULES, EVIL, datetime(2025, 7, 1))
    rows = con.execute(
        "select account_name, _source, _run_id from raw.accounts order by account_id"
    ).fetchall()
    assert rows[0] == (name, str(folder / "accounts.csv"), EVIL)
    assert len(rows) == 2 and con.execute("select count(*) from raw.transactions").fetchall()[0][0] == 2
    assert report.entities["accounts"].ignored_columns == (EVIL,)


def test_a_header_that_only_looks_like_a_column_is_rejected_with_one_line(tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "accounts.csv").write_text(
        ACCOUNTS.format(name_col=_csv_field(EVIL_IDENT), extra="x", name="n")
    )
    (folder / "transactions.csv").write_text(TRANSACTIONS)
    with pytest.raises(SourceFileError, match="missing required column\\(s\\) account_name") as err:
        load_folder(duckdb.connect(), folder, {}, RULES, "run", datetime(2025, 7, 1))
    assert "\n" not in str(err.value)


def test_publish_to_a_path_with_quotes_stores_names_and_scenario_verbatim(tmp_path):
    warehouse = standin.prepare(tmp_path / "wh.duckdb", 10, names=[EVIL, EVIL_IDENT])
    out = tmp_path / f"out {EVIL}"
    standin.publish(warehouse, out, "p1")
    con = duckdb.connect()
    con.execute(f"attach {pub.sql_literal(warehouse)} as wh (read_only)")
    con.execute("use wh")
    meta = {**standin.meta("s1"), "kind": "scenario", "scenario_name": EVIL, "config_overrides": {EVIL: EVIL}}
    pub.publish_plan(con, meta, out)
    with duckdb.connect(str(out / "plan.duckdb"), read_only=True) as reader:
        names = [
            r[0] for r in reader.execute("select account_name from latest_account_plan order by 1").fetchall()
        ]
        scenario = reader.execute(
            "select scenario_name, config_overrides from plan_runs where plan_id = 's1'"
        ).fetchall()
    assert EVIL in names and EVIL_IDENT in names and len(names) == 10
    assert scenario == [(EVIL, json.dumps({EVIL: EVIL}, sort_keys=True))]
    assert pub.read_plan(out, "account_plan", "p1")["account_name"].str.contains("DROP TABLE").sum() == 2
