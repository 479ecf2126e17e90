"""The dbt project builds unchanged on a Spark cluster and gives the same tables as on DuckDB.

The 2,000-account demo is landed in DuckDB and exported as Parquet (sources/raw_parquet.py, as the
ingest does), then one `dbt build` (models, data tests, unit tests) runs on DuckDB and one on the
local cluster's Thrift server. Every mart and intermediate table is then compared row for row: same
columns, same keys, equal values, numbers within 1e-9 relative (data_quality/parity.py).
"""

from __future__ import annotations

import math
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from dbt_build import run_dbt_build
from make_fixture import land_raw

from data_quality.parity import TABLE_KEYS, rows_frame, table_differences
from sources.demo import generate_demo
from sources.raw_parquet import export_raw_parquet

pytestmark = pytest.mark.spark

MODELS = Path(__file__).resolve().parents[2] / "dbt_project" / "models"
TABLES = [
    (layer, path.stem)
    for layer in ("intermediate", "marts")
    for path in sorted((MODELS / layer).rglob("*.sql"))
]


@pytest.fixture(scope="module")
def builds(spark_cluster, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Both builds of the demo; returns the DuckDB warehouse and the cluster."""
    work = tmp_path_factory.mktemp("spark_parity")
    warehouse = work / "warehouse.duckdb"
    demo = generate_demo(2000, seed=7, end_date=date(2025, 12, 31))
    land_raw(warehouse, demo.tables())
    with duckdb.connect(str(warehouse)) as con:
        export_raw_parquet(con, str(work / "raw"), list(demo.tables()))
    started = time.perf_counter()
    run_dbt_build(warehouse, work / "duckdb")
    duck_s = time.perf_counter() - started
    started = time.perf_counter()
    run_dbt_build(warehouse, work / "spark", env=spark_cluster.dbt_env(work / "raw"))
    print(
        f"\ndbt build, 2,000 accounts: DuckDB {duck_s:.1f} s, Spark cluster {time.perf_counter() - started:.1f} s"
    )
    return {"warehouse": warehouse, "cluster": spark_cluster}


def read_spark(port: int, sql: str) -> tuple[list[str], list[tuple]]:
    from pyhive import hive

    con = hive.connect(host="127.0.0.1", port=port, username="covplan")
    try:
        cursor = con.cursor()
        cursor.execute(sql)
        names = [d[0].split(".")[-1] for d in cursor.description]
        types = [d[1] for d in cursor.description]
        rows = [tuple(normal(v, t) for v, t in zip(row, types, strict=True)) for row in cursor.fetchall()]
        return names, rows
    finally:
        con.close()


def normal(value, type_name: str):
    """Thrift values as DuckDB returns them: DATE arrives as text, decimals as Decimal."""
    if value is None:
        return None
    if type_name == "DATE_TYPE" and isinstance(value, str):
        return date.fromisoformat(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


@pytest.mark.parametrize(("layer", "table"), TABLES, ids=[t for _, t in TABLES])
def test_spark_table_equals_duckdb_table(builds, layer, table):
    sql = f"select * from {layer}.{table}"
    with duckdb.connect(str(builds["warehouse"])) as con:
        cursor = con.execute(sql)
        duck = rows_frame([d[0] for d in cursor.description], cursor.fetchall())
    spark = rows_frame(*read_spark(builds["cluster"].thrift_port, sql))
    assert len(duck) > 0, f"{table}: empty in the DuckDB build, the comparison would say nothing"
    differences = table_differences(
        table, duck, spark, TABLE_KEYS[table], atol=1e-9, sides=("duckdb", "spark")
    )
    assert not differences, "\n".join(differences)


def test_comparison_is_not_vacuous(builds):
    """A known figure is in both builds and the Spark one came from the cluster's own warehouse."""
    sql = "select count(*), sum(revenue_t12m) from marts.fct_account_value"
    with duckdb.connect(str(builds["warehouse"])) as con:
        duck_n, duck_sum = con.execute(sql).fetchone()
    _, [(spark_n, spark_sum)] = read_spark(builds["cluster"].thrift_port, sql)
    assert duck_n == spark_n == 2000
    assert duck_sum > 0 and math.isclose(duck_sum, spark_sum, rel_tol=1e-9)
    assert (builds["cluster"].directory / "warehouse" / "marts.db" / "fct_account_value").is_dir()


# The planning steps' own tables (built by ml/ and planning/ in the DuckDB warehouse, not by dbt): made
# here from the DuckDB marts, with the awkward rows of real data — an account the marts do not know
# (the inner joins drop it), accounts without a score or with null scores (they fall back to revenue).
PLANNING_TABLES_SQL = """
create schema planning; create schema ml;
create table planning.account_workload as
  select account_id, ['field_ae', 'inside_sales', 'key_account'][1 + cast(hash(account_id) % 3 as integer)] as coverage_role,
         5 + hash(account_id) % 400 / 7.0 as workload_hours from marts.dim_accounts
  union all select 'ZZ-not-in-marts', 'field_ae', 12.5;
create table planning.territory_assignment as
  select account_id, coverage_role || '-' || (hash(account_id) % 9) as territory_id
  from planning.account_workload;
create table ml.account_scores as
  select account_id, case when hash(account_id) % 13 = 0 then null else revenue_t12m * 1.25 + 10 end
         as potential, revenue_t12m * 0.75 as expected_revenue_next_4q, revenue_t12m * 0.5 as headroom,
         case when hash(account_id) % 7 = 0 then null else 'momentum' end as reason_codes
  from marts.fct_account_value where hash(account_id) % 11 <> 3;
"""


def _same_inputs(parquet, duck, keys: list[str]) -> None:
    """Same columns, dtypes and keys in the same order; numbers within 1e-9 relative; text equal."""
    import numpy as np

    assert list(parquet.columns) == list(duck.columns) and len(parquet) == len(duck) > 0
    assert parquet[keys].astype(object).equals(duck[keys].astype(object))
    for col in duck.columns:
        assert parquet[col].dtype == duck[col].dtype, (col, parquet[col].dtype, duck[col].dtype)
        if duck[col].dtype.kind == "f":
            np.testing.assert_allclose(parquet[col], duck[col], rtol=1e-9, atol=0, err_msg=col)
        elif col not in keys:
            assert parquet[col].astype(object).tolist() == duck[col].astype(object).tolist(), col


def test_planning_inputs_from_the_clusters_parquet_equal_those_from_duckdb(builds, tmp_path, monkeypatch):
    """planning.marts' Parquet backend on the directory the cluster really wrote (`spark.sql.warehouse.dir`)
    gives the planning steps the same inputs as the DuckDB build: territory design, goals, the quarterly
    revenue history, the as-of date and the segments step's inputs (workload reads only
    ml.account_segments, never a mart; the opportunities, a dbt view, come from DuckDB either way)."""
    import shutil

    from orchestration.assets.goals import goal_inputs
    from orchestration.assets.ml import segment_inputs
    from orchestration.assets.planning import design_inputs, read_reps
    from orchestration.resources import MARTS_PARQUET_ENV, Warehouse
    from planning.marts import ParquetTables, read_columns, read_frame

    spark_dir = builds["cluster"].directory / "warehouse"
    path = tmp_path / "warehouse.duckdb"  # the file name is the catalog: not `planning`
    with duckdb.connect(str(builds["warehouse"])) as con:
        con.execute("checkpoint")  # dbt ran in this process: flush its write-ahead log into the file
    shutil.copy(builds["warehouse"], path)
    with duckdb.connect(str(path)) as con:
        con.execute(PLANNING_TABLES_SQL)
    warehouse = Warehouse(database=str(path))

    def inputs() -> dict:
        history = ["account_id", "quarter_start", "revenue"]
        with warehouse.readers() as (_, marts):
            quarterly = read_frame(marts, "marts.fct_quarterly_revenue", history)
            as_of = read_columns(marts, "marts.fct_account_value", ["as_of_date"])["as_of_date"].max()
            reps = read_reps(marts, ["rep_id", "rep_role", "home_lat", "home_lon"])
        return {
            "reps": reps,
            "design": design_inputs(warehouse),
            "goals": goal_inputs(warehouse),
            "segments": segment_inputs(warehouse),
            "quarterly": quarterly.sort_values(history[:2], ignore_index=True),
            "as_of": as_of,
            "backend": type(marts).__name__,
        }

    monkeypatch.delenv(MARTS_PARQUET_ENV, raising=False)
    duck = inputs()
    monkeypatch.setenv(MARTS_PARQUET_ENV, str(spark_dir))
    spark = inputs()
    assert (duck["backend"], spark["backend"]) == ("DuckDBTables", "ParquetTables")
    # what Spark wrote: Parquet data-source tables, `<warehouse dir>/marts.db/<table>/part-*.parquet`
    for table in ("dim_accounts", "fct_account_value", "fct_quarterly_revenue"):
        assert list((spark_dir / "marts.db" / table).glob("part-*.parquet")), table
    # staging is a table on Spark (dbt_project.yml): the steps read order lines and opportunities from it
    for table in ("stg_erp__transactions", "stg_crm__opportunities"):
        assert list((spark_dir / "staging.db" / table).glob("part-*.parquet")), table
    assert (
        ParquetTables(spark_dir).path_of("marts.fct_account_value")
        == spark_dir / "marts.db" / "fct_account_value"
    )
    # the unknown account is dropped by both, every other workload row is kept
    assert len(duck["design"]) == len(duck["goals"]) == 2000
    _same_inputs(spark["design"], duck["design"], ["account_id"])
    _same_inputs(spark["goals"], duck["goals"], ["account_id"])
    _same_inputs(spark["segments"], duck["segments"], ["account_id"])
    _same_inputs(spark["reps"], duck["reps"], ["rep_id"])
    assert len(duck["reps"]) > 0
    assert len(duck["segments"]) == 2000 and duck["segments"]["open_stage"].notna().any()
    _same_inputs(spark["quarterly"], duck["quarterly"], ["account_id", "quarter_start"])
    assert spark["as_of"] == duck["as_of"]
    # not vacuous: the fallbacks were taken, and the history has money in it
    assert (duck["design"]["potential"] == duck["design"]["revenue_t12m"]).sum() > 0
    assert duck["quarterly"]["revenue"].sum() > 0
