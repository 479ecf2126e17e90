"""Level 3: the ingest asset on each source (demo, files, SQL on a real PostgreSQL) and the file-drop
sensor, materialized in-process against a temporary warehouse."""

from __future__ import annotations

import json
import os
import time

import dagster as dg
import duckdb
import yaml

from orchestration import sensors
from orchestration.assets import ingest
from orchestration.resources import PlanConfigResource, Warehouse
from planning.config import DEFAULT_CONFIG_PATH
from sources.contract import ENTITY_SPECS, PROVENANCE_COLUMNS
from sources.files import MARKER

ACCOUNTS = """account_id;account_name;industry;employees;annual_revenue;city;state;lat;lon;created_at;owner_rep_id
A1;Acme;retail;1.200;2.500.000,00;Austin;TX;30,27;-97,74;01.04.2019;R1
A2;Beta;energy;50;90000;Dallas;TX;32,78;-96,80;30.04.2020;R2
A3;Gamma;retail;10;1000;Austin;TX;95,00;-97,74;01.01.2020;R1
"""
TRANSACTIONS = """transaction_id;account_id;order_date;product_id;product_category;quantity;unit_price;discount;channel
T1;A1;15.01.2024;P1;hvac;2;1.250,00;0,1;field
T2;A2;02.01.2024;P2;hvac;1;10;0;web
T3;A3;02.01.2024;P2;hvac;1;10;0;web
T4;A1;02.01.2024;P2;hvac;zwei;10;0;web
"""


def _resources(tmp_path, config_path=DEFAULT_CONFIG_PATH):
    return {
        "warehouse": Warehouse(database=str(tmp_path / "wh.duckdb")),
        "plan_config": PlanConfigResource(path=str(config_path)),
    }


def _run(tmp_path, config: dict, **kwargs):
    return dg.materialize(
        [ingest.ingest_source],
        resources=_resources(tmp_path, **kwargs),
        run_config={"ops": {"ingest_source": {"config": config}}},
        raise_on_error=False,
    )


def _mats(result) -> dict:
    return {
        m.asset_key.to_user_string(): m.materialization.metadata
        for m in result.get_asset_materialization_events()
    }


def test_demo_lands_with_provenance_and_truth(tmp_path):
    result = _run(tmp_path, {"size": "200"})
    assert result.success
    mats = _mats(result)
    assert "demo_account_truth" in mats and mats["raw_accounts"]["quarantined_rows"].value == 0
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        cols = [r[0] for r in con.execute("describe raw.transactions").fetchall()]
        src, run_ids, rows = con.execute(
            "select min(_source), count(distinct _run_id), max(_row_number) - count(*) from raw.accounts"
        ).fetchall()[0]
        assert con.execute("select count(*) from quarantine.accounts").fetchall()[0][0] == 0
    assert cols == [*ENTITY_SPECS["transactions"].columns, *PROVENANCE_COLUMNS]
    assert src == "demo(seed=42, size=200)" and run_ids == 1 and rows == 0


def test_files_source_quarantines_counts_in_metadata_and_skips_truth(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "accounts.csv").write_text(ACCOUNTS, encoding="latin-1")
    (inbox / "transactions.csv").write_text(TRANSACTIONS)
    assert _run(tmp_path, {"size": "100"}).success  # a demo first: its truth table must go away
    result = _run(tmp_path, {"source": "files", "input_dir": str(inbox)})
    assert result.success
    mats = _mats(result)
    assert "demo_account_truth" not in mats
    assert mats["raw_accounts"]["rows"].value == 2 and mats["raw_accounts"]["quarantined_rows"].value == 1
    assert mats["raw_transactions"]["quarantined_rows"].value == 2
    assert "unknown_account" in mats["raw_transactions"]["quarantine_by_rule"].value
    assert "unparseable_number" in mats["raw_transactions"]["quarantine_by_rule"].value
    assert mats["raw_transactions"]["absent_columns (NULL)"].value == "order_id, site_id, unit_cost"
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        assert con.execute("select sum(unit_price) from raw.transactions").fetchall()[0][0] == 1260.0
        truth = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'demo_truth'"
        ).fetchall()[0][0]
        run_id = con.execute("select distinct _run_id from raw.accounts").fetchall()
    assert truth == 0 and run_id == [(result.run_id,)]


def test_file_problem_fails_the_step_with_source_file_error(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "accounts.csv").write_text(ACCOUNTS)
    result = _run(tmp_path, {"source": "files", "input_dir": str(inbox)})
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error
    while error.cause and error.cls_name != "SourceFileError":
        error = error.cause
    assert error.cls_name == "SourceFileError" and "no transactions.csv" in error.message


# --- SQL source on a real PostgreSQL -------------------------------------------------------------


def test_sql_source_reads_postgres_with_the_same_rules(tmp_path, pg_database, monkeypatch):
    import sqlalchemy as sa

    engine = sa.create_engine(pg_database)
    with engine.begin() as con:
        con.execute(
            sa.text(
                "create table crm_accounts (customer_no text, account_name text, industry text, employees int, "
                "annual_revenue numeric(14,2), city text, state text, lat double precision, lon double precision, "
                "created_at date, owner_rep_id text)"
            )
        )
        con.execute(
            sa.text(
                "insert into crm_accounts values "
                "('A1','Acme','retail',1200,2500000.00,'Austin','TX',30.27,-97.74,'2019-04-01','R1'),"
                "('A2','Beta','energy',50,90000,'Dallas','TX',32.78,-96.80,'2020-04-30','R2'),"
                "('A3','Gamma','retail',10,1000,'Austin','TX',95.0,-97.74,'2020-01-01','R1'),"
                "('A1','Acme 2','retail',3,1,'Austin','TX',30.0,-97.0,'2019-04-01','R1')"
            )
        )
        con.execute(
            sa.text(
                "create table transactions (transaction_id text, account_id text, order_date date, "
                "product_id text, product_category text, quantity double precision, unit_price numeric(12,2), "
                "unit_cost numeric(12,2), discount double precision, channel text)"
            )
        )
        con.execute(
            sa.text(
                "insert into transactions values "
                "('T1','A1','2024-01-15','P1','hvac',2,1250.00,900.00,0.1,'field'),"
                "('T2','A2','2024-01-02','P2','hvac',1,10,7,0,'Web'),"
                "('T3','A3','2024-01-02','P2','hvac',1,10,7,0,'web'),"
                "('T4','A1','1900-01-01','P2','hvac',1,10,7,0,'web'),"
                "('T5','A9','2024-01-02','P2','hvac',1,10,7,0,'web')"
            )
        )
    engine.dispose()
    cfg = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    cfg["sources"]["sql"]["tables"] = {"accounts": "crm_accounts"}
    cfg["sources"]["columns"] = {"accounts": {"customer_no": "account_id"}}
    config_path = tmp_path / "plan.yaml"
    config_path.write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("COVPLAN_SOURCE_URL", pg_database)

    result = _run(tmp_path, {"source": "sql"}, config_path=config_path)
    assert result.success
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        accounts = con.execute(
            "select account_id, annual_revenue, created_at from raw.accounts order by 1"
        ).fetchall()
        tx = con.execute(
            "select transaction_id, unit_price, unit_cost, channel from raw.transactions"
        ).fetchall()
        q_acc = con.execute(
            "select _row_number, rule, column_name, original_value from quarantine.accounts"
        ).fetchall()
        q_tx = set(
            con.execute("select rule, column_name, original_value from quarantine.transactions").fetchall()
        )
        src = con.execute("select distinct _source from raw.transactions").fetchall()[0][0]
        reps = con.execute("select rep_id from raw.reps order by 1").fetchall()
    assert [a[0] for a in accounts] == ["A1", "A2"] and accounts[0][1] == 2_500_000.0
    assert sorted(tx) == [("T1", 1250.0, 900.0, "field"), ("T2", 10.0, 7.0, "web")]
    # rows are read in key order, so the conflicting A1 copy is row 2 and the first A1 is kept
    assert sorted(q_acc) == [(2, "duplicate_key", "account_id", "A1"), (4, "out_of_range", "lat", "95.0")]
    assert q_tx == {
        ("unknown_account", "account_id", "A3"),
        ("impossible_date", "order_date", "1900-01-01"),
        ("unknown_account", "account_id", "A9"),
    }
    password = sa.engine.make_url(pg_database).password
    assert src.startswith("sql postgresql+psycopg://") and "table transactions" in src
    assert f":{password}@" not in src and (not password or ":***@" in src)
    assert reps == [("R1",), ("R2",)]


def test_sql_source_without_url_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("COVPLAN_SOURCE_URL", raising=False)
    result = _run(tmp_path, {"source": "sql"})
    error = result.get_step_failure_events()[0].step_failure_data.error
    while error.cause and error.cls_name != "SourceFileError":
        error = error.cause
    assert "COVPLAN_SOURCE_URL is not set" in error.message


# --- the file-drop sensor ------------------------------------------------------------------------


def test_sensor_starts_quarterly_plan_once_per_complete_extract(tmp_path, monkeypatch):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cfg = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    cfg["sources"]["files"]["dir"] = str(inbox)
    cfg["sources"]["files"]["settle_seconds"] = 3600
    config_path = tmp_path / "plan.yaml"
    config_path.write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("COVPLAN_CONFIG", str(config_path))

    def tick(cursor=None):
        context = dg.build_sensor_context(cursor=cursor)
        return sensors.file_drop_sensor(context), context.cursor

    (inbox / "accounts.csv").write_text(ACCOUNTS)
    result, cursor = tick()
    assert isinstance(result, dg.SkipReason) and "incomplete" in result.skip_message
    (inbox / "transactions.csv").write_text(TRANSACTIONS)  # still being written: no marker, just changed
    result, cursor = tick(cursor)
    assert isinstance(result, dg.SkipReason) and "settling" in result.skip_message
    (inbox / MARKER).write_text("")
    result, cursor = tick(cursor)
    assert isinstance(result, dg.RunRequest)
    ops = result.run_config["ops"]
    assert ops["ingest_source"]["config"] == {"source": "files", "input_dir": str(inbox)}
    assert ops["territory_design"]["config"]["kind"] == "quarterly"
    # the quarterly job is partitioned by as-of quarter: the run targets the current quarter
    from orchestration.partitions import quarterly_partitions

    assert result.partition_key == quarterly_partitions.get_last_partition_key()
    first_key = result.run_key
    result, cursor = tick(cursor)  # same extract again: not started twice
    assert isinstance(result, dg.SkipReason) and "already started" in result.skip_message
    later = time.time() + 10
    (inbox / "transactions.csv").write_text(TRANSACTIONS + "T9;A1;02.01.2024;P2;hvac;1;10;0;web\n")
    os.utime(inbox / "transactions.csv", (later, later))
    os.utime(inbox / MARKER, (later + 1, later + 1))
    result, cursor = tick(cursor)
    assert isinstance(result, dg.RunRequest) and result.run_key != first_key
    assert json.loads(cursor)["started"] in result.run_key
    assert sensors.file_drop_sensor.job_name == "quarterly_plan"
