"""The file drop on hand-made extracts: each quarantine rule with its file, row, column, reason and
original text; good rows land with provenance; file-level problems stop with one line; loads are
idempotent (sources/files.py, sources/landing.py)."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pandas as pd
import pytest

from sources.contract import ENTITY_SPECS, PROVENANCE_COLUMNS, SourceFileError
from sources.files import MARKER, check_folder, extract_status, load_folder
from sources.landing import RowRules

RULES = RowRules(
    min_date=date(1980, 1, 1),
    as_of_date=date(2025, 6, 30),
    max_future_years=2,
    rep_role="field",
    rep_roles={"R2": "inside"},
    capacity_hours={"key_account_manager": 1400.0, "field": 1300.0, "inside": 1600.0},
)
LOADED_AT = datetime(2025, 7, 1, 6, 0)

ACCOUNTS = """account_id,account_name,industry,employees,annual_revenue,city,state,lat,lon,created_at,owner_rep_id,parent_account_id
A1,Acme,retail,"1,200","$2,500,000.00",Austin,TX,30.27,-97.74,2019-04-01,R1,
A2,Beta,energy,50,90000,Dallas,TX,32.78,-96.80,04/30/2020,R2,A1
A3,Gamma,retail,10,1000,Austin,TX,95.00,-97.74,2020-01-01,R1,
A4,Delta,retail,ten,1000,Austin,TX,30.1,-97.7,2020-01-01,R1,
,Nameless,retail,10,1000,Austin,TX,30.1,-97.7,2020-01-01,R1,
A5,Eps,retail,10,1000,Austin,TX,30.1,-97.7,1900-01-01,R1,
A6,Zeta,retail,10,1000,Austin,TX,30.1,-97.7,2020-01-01,R1,A3
A7,Eta,retail,10,1000,Austin,TX,30.1,-97.7,2020-01-01,R1,A6
A1,Acme,retail,"1,200","$2,500,000.00",Austin,TX,30.27,-97.74,2019-04-01,R1,
A2,Beta Corp,energy,50,90000,Dallas,TX,32.78,-96.80,04/30/2020,R2,A1
A8,Theta,retail,12.5,1000,Austin,TX,30.1,-97.7,2020-01-01,R1,
A9,Iota,retail,10,1000,Austin,TX,30.1,-97.7,,R1,
"""
TRANSACTIONS = """transaction_id,account_id,order_date,product_id,product_category,quantity,unit_price,discount,channel
T1,A1,2024-01-15,P1,hvac,2,"1,250.00",0.1,Field
T2,A2,01/02/2024,P2,hvac,1,10,,web
T3,A1,2024-13-01,P1,hvac,1,10,0,web
T4,A1,2024-02-01,P1,hvac,x,10,0,web
T5,A1,2026-01-01,P1,hvac,1,10,0,web
T6,A404,2024-02-01,P1,hvac,1,10,0,web
T7,A3,2024-02-01,P1,hvac,1,10,0,web
T8,A1,2024-02-01,P1,hvac,1,10,1.5,web
T9,A1,2024-02-01,P1,hvac,1,10,0,fax
T1,A1,2024-01-15,P1,hvac,3,"1,250.00",0.1,field
T10,A2,13/02/2024,P2,hvac,1,10,0,phone
"""


def _drop(tmp_path, files: dict[str, str | bytes]):
    folder = tmp_path / "inbox"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder


def _load(folder, con=None, renames=None, run_id="run-1"):
    con = con or duckdb.connect()
    report = load_folder(con, folder, renames or {}, RULES, run_id, LOADED_AT)
    return con, report


def _quarantine(con, entity: str) -> set[tuple]:
    return set(
        con.execute(
            f"select _row_number, rule, column_name, original_value from quarantine.{entity}"
        ).fetchall()
    )


@pytest.fixture
def loaded(tmp_path):
    folder = _drop(tmp_path, {"accounts.csv": ACCOUNTS, "transactions.csv": TRANSACTIONS})
    con, report = _load(folder)
    return folder, con, report


def test_each_account_rule_quarantines_with_row_column_and_original_text(loaded):
    _, con, _ = loaded
    assert _quarantine(con, "accounts") == {
        (3, "out_of_range", "lat", "95.00"),
        (4, "unparseable_number", "employees", "ten"),
        (5, "null_key", "account_id", ""),
        (6, "impossible_date", "created_at", "1900-01-01"),
        (7, "unknown_reference", "parent_account_id", "A3"),  # parent A3 is quarantined
        (8, "unknown_reference", "parent_account_id", "A6"),  # ... and so is A6, the parent of A7
        (9, "duplicate_key", "account_id", "A1"),
        (10, "duplicate_key", "account_id", "A2"),
        (11, "unparseable_number", "employees", "12.5"),
        (12, "missing_value", "created_at", ""),
    }
    details = dict(
        con.execute(
            "select _row_number, detail from quarantine.accounts where rule = 'duplicate_key'"
        ).fetchall()
    )
    assert details == {
        9: "identical copy of row 1 (kept)",
        10: "conflicts with row 2 (kept); correct one of them",
    }


def test_each_transaction_rule_quarantines_with_reason(loaded):
    folder, con, _ = loaded
    assert _quarantine(con, "transactions") == {
        (3, "unparseable_date", "order_date", "2024-13-01"),
        (4, "unparseable_number", "quantity", "x"),
        (5, "impossible_date", "order_date", "2026-01-01"),  # after the as-of date
        (6, "unknown_account", "account_id", "A404"),
        (7, "unknown_account", "account_id", "A3"),
        (8, "out_of_range", "discount", "1.5"),
        (9, "invalid_value", "channel", "fax"),
        (10, "duplicate_key", "transaction_id", "T1"),
    }  # row 11 (13/02/2024) proves the slash dates of this column day first, so row 2 is 1 February
    reasons = dict(
        con.execute(
            "select _row_number, detail from quarantine.transactions where rule = 'unknown_account'"
        ).fetchall()
    )
    assert reasons == {
        6: "account A404 is not in the accounts extract",
        7: "account A3 is in quarantine.accounts",
    }
    sources = {r[0] for r in con.execute("select distinct _source from quarantine.transactions").fetchall()}
    assert sources == {str(folder / "transactions.csv")}
    record = con.execute("select record from quarantine.transactions where _row_number = 4").fetchall()[0][0]
    assert '"quantity":"x"' in record and '"transaction_id":"T4"' in record


def test_good_rows_land_typed_with_provenance(loaded):
    folder, con, report = loaded
    acc = con.execute("select * from raw.accounts order by _row_number").df()
    assert list(acc["account_id"]) == ["A1", "A2"]
    a1 = acc.iloc[0]
    assert a1["employees"] == 1200 and a1["annual_revenue"] == 2_500_000.0
    assert acc.iloc[1]["created_at"] == pd.Timestamp(2020, 4, 30)
    assert list(acc.columns) == [*ENTITY_SPECS["accounts"].columns, *PROVENANCE_COLUMNS]
    assert set(acc["_source"]) == {str(folder / "accounts.csv")} and set(acc["_run_id"]) == {"run-1"}
    assert list(acc["_row_number"]) == [1, 2] and (acc["_loaded_at"] == pd.Timestamp(LOADED_AT)).all()
    tx = con.execute("select * from raw.transactions order by _row_number").df()
    assert list(tx["transaction_id"]) == ["T1", "T2", "T10"]
    assert tx.loc[0, "unit_price"] == 1250.0 and tx.loc[0, "channel"] == "field"  # 'Field' normalised
    assert tx.loc[1, "discount"] == 0.0  # an empty discount means none
    assert tx.loc[1, "order_date"] == pd.Timestamp(2024, 2, 1)  # 01/02/2024, day first by row 11
    assert tx.loc[2, "order_date"] == pd.Timestamp(2024, 2, 13)
    # optional columns the files lack are present and NULL
    assert tx[["order_id", "site_id", "unit_cost"]].isna().all().all()
    assert acc["country"].isna().all()
    assert report.entities["transactions"].absent_columns == ("order_id", "site_id", "unit_cost")
    assert report.entities["accounts"].rows_quarantined == 10
    assert report.entities["transactions"].by_rule == {
        "duplicate_key": 1,
        "impossible_date": 1,
        "invalid_value": 1,
        "out_of_range": 1,
        "unknown_account": 2,
        "unparseable_date": 1,
        "unparseable_number": 1,
    }


def test_absent_status_stays_empty_for_dbt_and_reps_come_from_owners(loaded):
    _, con, report = loaded
    # an empty status is inferred by dbt's dim_accounts from the orders before the as-of date only; the
    # load must not fill it from every order line (that would leak later orders into a backfill)
    status = dict(con.execute("select account_id, status from raw.accounts").fetchall())
    assert status == {"A1": None, "A2": None}
    reps = con.execute(
        "select rep_id, role, capacity_hours, home_city, _source from raw.reps order by 1"
    ).fetchall()
    assert reps == [
        ("R1", "field", 1300.0, "Austin", "derived from accounts.owner_rep_id"),
        ("R2", "inside", 1600.0, "Dallas", "derived from accounts.owner_rep_id"),
    ]
    assert con.execute("select count(*) from raw.contacts").fetchall()[0][0] == 0  # not delivered: empty
    assert "no reps extract" in report.entities["reps"].note


def test_loading_the_same_extract_twice_does_not_duplicate(loaded):
    folder, con, _ = loaded
    before = {
        t: con.execute(f"select count(*) from {t}").fetchall()[0][0]
        for t in ("raw.accounts", "raw.transactions", "quarantine.transactions")
    }
    _load(folder, con=con, run_id="run-2")
    after = {t: con.execute(f"select count(*) from {t}").fetchall()[0][0] for t in before}
    assert after == before == {"raw.accounts": 2, "raw.transactions": 3, "quarantine.transactions": 8}
    assert con.execute("select distinct _run_id from raw.transactions").fetchall() == [("run-2",)]


def test_reps_file_capacity_default_and_unknown_owner(tmp_path):
    reps = "rep_id,rep_name,role,capacity_hours\nR1,Ann,Field,\nR2,Bob,inside,1500\nR3,Cy,pilot,1000\n"
    accounts = (
        ACCOUNTS.splitlines()[0]
        + "\nA1,Acme,retail,1,1,Austin,TX,30,-97,2019-04-01,R1,\nA2,B,retail,1,1,Austin,TX,30,-97,2019-04-01,R3,\n"
    )
    folder = _drop(
        tmp_path,
        {
            "reps.csv": reps,
            "accounts.csv": accounts,
            "transactions.csv": TRANSACTIONS.splitlines()[0] + "\n" + TRANSACTIONS.splitlines()[1] + "\n",
        },
    )
    con, _ = _load(folder)
    assert con.execute("select rep_id, role, capacity_hours from raw.reps order by 1").fetchall() == [
        ("R1", "field", 1300.0),  # empty capacity: the role's hours from config
        ("R2", "inside", 1500.0),
    ]
    assert _quarantine(con, "reps") == {(3, "invalid_value", "role", "pilot")}
    assert _quarantine(con, "accounts") == {(2, "unknown_reference", "owner_rep_id", "R3")}


def test_mapping_from_config_and_semicolon_latin1_parquet(tmp_path):
    accounts = (
        "Kundennr;Name;Branche;Mitarbeiter;Umsatz;Ort;Land;lat;lon;Angelegt;Betreuer;Status\n"
        "K1;M\u00fcller GmbH;retail;1.200;2.500.000,50 \u00a3;M\u00fcnchen;BY;48,14;11,58;31.01.2020;R1;Active\n"
    ).encode("latin-1")
    folder = _drop(tmp_path, {"accounts.csv": accounts})
    pd.DataFrame(
        {
            "transaction_id": ["T1"],
            "account_id": ["K1"],
            "order_date": [pd.Timestamp(2024, 5, 1)],
            "product_id": ["P1"],
            "product_category": ["hvac"],
            "quantity": [2.0],
            "unit_price": [9.5],
            "discount": [0.0],
            "channel": ["edi"],
        }
    ).to_parquet(folder / "transactions.parquet")
    renames = {
        "accounts": {
            "Kundennr": "account_id",
            "Name": "account_name",
            "Branche": "industry",
            "Mitarbeiter": "employees",
            "Umsatz": "annual_revenue",
            "Ort": "city",
            "Land": "state",
            "Angelegt": "created_at",
            "Betreuer": "owner_rep_id",
        }
    }
    con, report = _load(folder, renames=renames)
    row = con.execute(
        "select account_name, city, employees, annual_revenue, lat, created_at, status from raw.accounts"
    ).fetchall()
    assert row == [("Müller GmbH", "München", 1200, 2500000.5, 48.14, date(2020, 1, 31), "active")]
    tx = con.execute("select order_date, quantity, _source, _row_number from raw.transactions").fetchall()
    assert tx == [(date(2024, 5, 1), 2.0, str(folder / "transactions.parquet"), 1)]
    assert report.entities["accounts"].rows_quarantined == 0


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"accounts.csv": ACCOUNTS}, "no transactions.csv or transactions.parquet"),
        ({"accounts.csv": "", "transactions.csv": TRANSACTIONS}, "accounts.csv: the file is empty"),
        (
            {"accounts.csv": ACCOUNTS.splitlines()[0] + "\n", "transactions.csv": TRANSACTIONS},
            "accounts.csv: the file has a header but no data rows",
        ),
        (
            {"accounts.csv": "account_id,city\nA1,Austin\n", "transactions.csv": TRANSACTIONS},
            "accounts.csv: missing required column(s) account_name",
        ),
        (
            {
                "accounts.csv": ACCOUNTS,
                "transactions.csv": TRANSACTIONS + 'T99,A1,"2024-01-01,P1,hvac,1,2,0,web\nT100,A1\n',
            },
            "transactions.csv: row 12 opens a quote that is never closed",
        ),
        (
            {"accounts.csv": ACCOUNTS, "accounts.parquet": b"x", "transactions.csv": TRANSACTIONS},
            "accounts is delivered twice",
        ),
    ],
)
def test_file_level_problems_stop_with_one_line(tmp_path, files, problem):
    folder = _drop(tmp_path, files)
    with pytest.raises(SourceFileError) as err:
        _load(folder)
    message = str(err.value)
    assert problem in message and "\n" not in message, message


def test_invalid_utf8_after_the_sniffed_megabyte_is_an_encoding_error(tmp_path):
    body = "".join(f"T{i},A1,2024-01-15,P1,hvac,2,1,0,web\n" for i in range(40_000))
    data = (
        TRANSACTIONS.splitlines()[0] + "\n" + body
    ).encode() + "T_x,A1,2024-01-15,P\u00e9,hvac,1,1,0,web\n".encode("latin-1")
    assert len(data) > 1 << 20
    folder = _drop(tmp_path, {"accounts.csv": ACCOUNTS, "transactions.csv": data})
    with pytest.raises(SourceFileError, match="transactions.csv: unreadable encoding"):
        _load(folder)


def test_check_folder_finds_header_problems_without_loading(tmp_path):
    folder = _drop(tmp_path, {"accounts.csv": ACCOUNTS, "transactions.csv": "transaction_id\nT1\n"})
    with pytest.raises(SourceFileError, match="transactions.csv: missing required column"):
        check_folder(folder, {})


def test_extract_status_marker_and_settle_time(tmp_path):
    folder = _drop(tmp_path, {"accounts.csv": ACCOUNTS})
    assert extract_status(folder, 60, now=1e12)[0] == "incomplete"
    _drop(tmp_path, {"transactions.csv": TRANSACTIONS})
    newest = max(p.stat().st_mtime for p in folder.iterdir())
    assert extract_status(folder, 60, now=newest + 5)[0] == "settling"
    status, fp = extract_status(folder, 60, now=newest + 61)
    assert status == "complete" and len(fp) == 16
    (folder / MARKER).write_text("")
    assert extract_status(folder, 60, now=newest + 5)[0] == "complete"  # marker: no need to wait
    import os

    os.utime(folder / "transactions.csv", (newest + 100, newest + 100))  # rewritten after the marker
    assert extract_status(folder, 60, now=newest + 101)[0] == "settling"


def test_windows_1252_file_with_euro_amounts_loads(tmp_path):
    accounts = (
        "account_id;account_name;industry;employees;annual_revenue;city;state;lat;lon;created_at;owner_rep_id\n"
        "A1;Caf\u00e9 \u201cNord\u201d;retail;3;1.500,00 \u20ac;K\u00f6ln;NW;50,9;6,9;2020-01-01;R1\n"
    ).encode("cp1252")
    tx = "transaction_id;account_id;order_date;product_id;product_category;quantity;unit_price;discount;channel\n"
    tx += "T1;A1;2024-01-02;P1;hvac;1;9,99 \u20ac;0;web\n"
    folder = _drop(tmp_path, {"accounts.csv": accounts, "transactions.csv": tx.encode("cp1252")})
    con, _ = _load(folder)
    assert con.execute("select account_name, annual_revenue, _source from raw.accounts").fetchall() == [
        ("Caf\u00e9 \u201cNord\u201d", 1500.0, str(folder / "accounts.csv"))
    ]
    assert con.execute("select unit_price from raw.transactions").fetchall() == [(9.99,)]


def test_raw_contract_doc_lists_the_file_columns_of_each_entity():
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "raw_contract.md").read_text()
    for entity, spec in ENTITY_SPECS.items():
        section = doc.split(f"## raw.{entity} ")[1].split("\n## ")[0]
        listed = " ".join(section.split("From a file: ")[1].split(". Key")[0].split())
        required = listed.split(" (")[0]
        optional = re.findall(r"\(([^)]*) optional\)", listed)
        assert [c.strip() for c in required.split(",")] == list(spec.required), entity
        assert {c.strip() for c in optional[0].split(",")} == set(spec.optional), entity
