"""Level 3: an unchanged source reuses the raw tables of the last accepted load; a changed source, a
tampered raw table, a rejected load or `fresh` take the full load, and every run says which it did."""

from __future__ import annotations

import json
from datetime import date, timedelta

import dagster as dg
import duckdb
import yaml

from orchestration.assets import ingest
from orchestration.assets.quality import RAW_CHECKS
from orchestration.resources import PlanConfigResource, Warehouse
from planning.config import DEFAULT_CONFIG_PATH

ACCOUNTS = """account_id,account_name,industry,employees,annual_revenue,city,state,lat,lon,created_at,owner_rep_id
A1,Acme,retail,120,2500000,Austin,TX,30.27,-97.74,2019-04-01,R1
A2,Beta,retail,50,90000,Dallas,TX,32.78,-96.80,2020-04-30,R2
"""
RECENT = date.today() - timedelta(days=10)  # fresh enough for the raw suite's freshness rule
TRANSACTIONS = f"""transaction_id,account_id,order_date,product_id,product_category,quantity,unit_price,discount,channel
T1,A1,{RECENT},P1,hvac,2,125.00,0,field
T2,A2,{RECENT},P2,hvac,1,10.00,0,web
"""


def _run(tmp_path, config: dict, plan_config=DEFAULT_CONFIG_PATH):
    """Ingest plus the raw suites (they accept a load, which reuse requires)."""
    return dg.materialize(
        [ingest.ingest_source, *RAW_CHECKS],
        resources={
            "warehouse": Warehouse(database=str(tmp_path / "wh.duckdb")),
            "plan_config": PlanConfigResource(path=str(plan_config)),
        },
        run_config={"ops": {"ingest_source": {"config": config}}},
        raise_on_error=False,
    )


def _meta(result, key="raw_transactions") -> dict:
    (event,) = [m for m in result.get_asset_materialization_events() if m.asset_key.to_user_string() == key]
    return {k: v.value if hasattr(v, "value") else v for k, v in event.materialization.metadata.items()}


def _run_ids(tmp_path) -> set[str]:
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        return {r[0] for r in con.execute("select distinct _run_id from raw.transactions").fetchall()}


def test_unchanged_demo_reuses_the_raw_tables_and_says_so(tmp_path):
    first = _run(tmp_path, {"size": "300"})
    assert first.success and _meta(first)["reused"] is False
    assert _meta(first)["full_load_reason"] == "no earlier load recorded in this warehouse"
    second = _run(tmp_path, {"size": "300"})
    assert second.success
    meta = _meta(second)
    assert meta["reused"] is True and meta["reused_from_load"] == first.run_id
    assert f"raw tables reused from load {first.run_id}" in meta["note"]
    assert meta["fingerprint"] == _meta(first)["fingerprint"] and meta["rows"] == _meta(first)["rows"]
    assert _meta(second, "demo_account_truth")["reused"] is True
    assert _run_ids(tmp_path) == {first.run_id}  # nothing was reloaded
    assert all(e.passed for e in second.get_asset_check_evaluations())  # the suites still run
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        loads = con.execute("select count(distinct run_id) from raw._load_history").fetchone()[0]
    assert loads == 1  # a reuse is not a load: the history and the row-count check see one load


def test_changed_input_fresh_or_tampered_tables_take_the_full_load(tmp_path):
    first = _run(tmp_path, {"size": "300"})
    assert first.success
    changed = _run(tmp_path, {"size": "301"})  # another company: the fingerprint differs
    assert changed.success and _meta(changed)["reused"] is False
    assert _run_ids(tmp_path) == {changed.run_id}

    fresh = _run(tmp_path, {"size": "301", "fresh": True})
    assert fresh.success and _meta(fresh)["reused"] is False and _run_ids(tmp_path) == {fresh.run_id}
    assert "fresh" in _meta(fresh)["full_load_reason"]

    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:  # someone edits the raw table by hand
        con.execute("delete from raw.transactions where _row_number = 1")
    tampered = _run(tmp_path, {"size": "301"})
    assert tampered.success and _meta(tampered)["reused"] is False
    assert _meta(tampered)["full_load_reason"].startswith("raw.transactions has ")
    assert _run_ids(tmp_path) == {tampered.run_id}


def test_a_changed_seed_is_a_changed_source(tmp_path):
    assert _run(tmp_path, {"size": "300"}).success
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["seed"] = 43
    config = tmp_path / "plan.yaml"
    config.write_text(yaml.safe_dump(raw))
    again = _run(tmp_path, {"size": "300"}, plan_config=config)
    assert again.success and _meta(again)["reused"] is False
    assert "fingerprint differs" in _meta(again)["full_load_reason"]


def test_file_drop_reuse_follows_the_file_contents(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "accounts.csv").write_text(ACCOUNTS)
    (inbox / "transactions.csv").write_text(TRANSACTIONS)
    config = {"source": "files", "input_dir": str(inbox)}
    first = _run(tmp_path, config)
    assert first.success and _meta(first)["reused"] is False
    second = _run(tmp_path, config)
    assert _meta(second)["reused"] is True and _meta(second)["reused_from_load"] == first.run_id
    # same size, one digit different: only the content hash can tell
    (inbox / "transactions.csv").write_text(TRANSACTIONS.replace("125.00", "126.00"))
    third = _run(tmp_path, config)
    assert _meta(third)["reused"] is False and "fingerprint differs" in _meta(third)["full_load_reason"]
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        assert con.execute("select sum(unit_price) from raw.transactions").fetchone()[0] == 136.0


def test_a_rejected_load_is_never_reused(tmp_path, monkeypatch):
    """A load whose raw suite failed is not accepted: the next run loads again (and fails again)."""
    import pyarrow as pa

    from sources.demo import DemoCompany

    class Corrupted(DemoCompany):
        def transaction_tables(self):
            for i, table in enumerate(super().transaction_tables()):
                if i == 0:
                    tx = table.to_pandas()
                    tx.loc[2, "discount"] = 1.5
                    table = pa.Table.from_pandas(tx, schema=table.schema, preserve_index=False)
                yield table

    monkeypatch.setattr(ingest, "DemoCompany", Corrupted)
    first = _run(tmp_path, {"size": "300"})
    assert not first.success
    second = _run(tmp_path, {"size": "300"})
    assert not second.success and _meta(second)["reused"] is False
    assert "not accepted" in _meta(second)["full_load_reason"]


def test_a_reused_load_still_writes_the_spark_parquet_export(tmp_path):
    """Turning warehouse.spark.raw_path on after a load reuses the raw tables (the source is unchanged) and
    still writes the Parquet export dbt on Spark reads, the order the README's Spark steps run in."""
    raw = tmp_path / "raw"

    def run(overrides: dict):
        return dg.materialize(
            [ingest.ingest_source, *RAW_CHECKS],
            resources={
                "warehouse": Warehouse(database=str(tmp_path / "wh.duckdb")),
                "plan_config": PlanConfigResource(
                    path=str(DEFAULT_CONFIG_PATH), overrides_json=json.dumps(overrides)
                ),
            },
            run_config={"ops": {"ingest_source": {"config": {"size": "300"}}}},
        )

    assert run({}).success and not raw.exists()
    second = run({"warehouse.spark.raw_path": str(raw)})
    assert _meta(second)["reused"] is True
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        for table in ingest.RAW_ENTITIES:
            landed = con.execute(f"select count(*) from raw.{table}").fetchone()[0]
            exported = con.execute(f"select count(*) from read_parquet('{raw}/{table}/part-00000.parquet')")
            assert exported.fetchone()[0] == landed > 0, table
