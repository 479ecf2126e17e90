"""The ingest's Parquet export of the raw tables (sources/raw_parquet.py) and its config (no Spark needed)."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from pydantic import ValidationError

from planning.config import SparkWarehouseConfig
from sources.raw_parquet import export_if_configured, export_raw_parquet, spark_raw_location


@pytest.fixture
def con():
    connection = duckdb.connect()
    connection.execute("create schema raw")
    connection.execute(
        "create table raw.accounts as select * from (values ('A1', date '2024-01-05', 1.5), "
        "('A2', null, null)) as t(account_id, created_at, annual_revenue)"
    )
    connection.execute("create table raw.reps as select 'R1' as rep_id")
    yield connection
    connection.close()


def test_export_writes_one_parquet_file_per_table_with_the_same_rows_and_types(con, tmp_path):
    written = export_raw_parquet(con, str(tmp_path / "raw"), ["accounts", "reps"])
    assert written == {t: str(tmp_path / "raw" / t / "part-00000.parquet") for t in ("accounts", "reps")}
    back = con.execute(f"select * from read_parquet('{written['accounts']}') order by account_id").fetchall()
    assert back == [("A1", date(2024, 1, 5), 1.5), ("A2", None, None)]
    types = con.execute(f"describe select * from read_parquet('{written['accounts']}')").fetchall()
    assert [t[1] for t in types] == ["VARCHAR", "DATE", "DECIMAL(2,1)"]


def test_export_replaces_the_previous_export_and_removes_stale_files(con, tmp_path):
    stale = tmp_path / "raw" / "reps" / "old-part.parquet"
    stale.parent.mkdir(parents=True)
    con.execute(f"copy (select 'R9' as rep_id) to '{stale}' (format parquet)")
    export_raw_parquet(con, str(tmp_path / "raw"), ["reps"])
    con.execute("insert into raw.reps values ('R2')")
    export_raw_parquet(con, str(tmp_path / "raw"), ["reps"])
    rows = con.execute(
        f"select rep_id from read_parquet('{tmp_path}/raw/reps/*.parquet') order by 1"
    ).fetchall()
    assert rows == [("R1",), ("R2",)]


def test_no_export_without_raw_path(con, tmp_path):
    assert export_if_configured(con, SparkWarehouseConfig(), ["reps"]) == {}
    assert spark_raw_location(SparkWarehouseConfig()) is None


def test_spark_location_follows_the_export_unless_set():
    assert (
        spark_raw_location(SparkWarehouseConfig(raw_path="s3://bucket/covplan/raw/"))
        == "s3a://bucket/covplan/raw"
    )
    assert spark_raw_location(SparkWarehouseConfig(raw_path="/data/raw")) == "/data/raw"
    mounted = SparkWarehouseConfig(raw_path="/mnt/hdfs/raw", raw_location="hdfs://nn:8020/covplan/raw")
    assert spark_raw_location(mounted) == "hdfs://nn:8020/covplan/raw"


def test_a_raw_path_duckdb_cannot_write_is_refused_with_the_fix():
    with pytest.raises(ValidationError, match="DuckDB cannot write there; use a local folder"):
        SparkWarehouseConfig(raw_path="hdfs://nn:8020/covplan/raw")


def test_the_ingest_asset_exports_every_raw_table_when_configured(tmp_path):
    """The demo ingest with warehouse.spark.raw_path set leaves one Parquet file per raw table, with the
    landed rows (the path dbt on Spark reads)."""
    import json

    import dagster as dg

    from orchestration.assets import ingest
    from orchestration.resources import PlanConfigResource, Warehouse
    from planning.config import DEFAULT_CONFIG_PATH

    raw = tmp_path / "raw"
    result = dg.materialize(
        [ingest.ingest_source],
        resources={
            "warehouse": Warehouse(database=str(tmp_path / "wh.duckdb")),
            "plan_config": PlanConfigResource(
                path=str(DEFAULT_CONFIG_PATH),
                overrides_json=json.dumps({"warehouse.spark.raw_path": str(raw)}),
            ),
        },
        run_config={"ops": {"ingest_source": {"config": {"size": "200"}}}},
    )
    assert result.success
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        for table in ingest.RAW_ENTITIES:
            landed = con.execute(f"select count(*) from raw.{table}").fetchone()[0]
            exported = con.execute(f"select count(*) from read_parquet('{raw}/{table}/part-00000.parquet')")
            assert exported.fetchone()[0] == landed > 0, table
