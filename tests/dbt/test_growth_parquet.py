"""The growth model reads the marts from an engine's Parquet (`COVPLAN_MARTS_PARQUET_DIR`) and scores
exactly as it does from the DuckDB build: the demo is built once with dbt, its marts and intermediate
tables are written out as Spark lays them out (`<schema>.db/<table>/part-*.parquet`), and the seeded
stage runs once per backend on the same connection."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from dbt_build import run_dbt_build
from make_fixture import land_raw

from ml.stage import DAILY_TRANSACTIONS_SQL, FEATURES_SQL, run_growth_stage, stage_sql
from planning.config import load_config
from planning.marts import MartReadError, ParquetTables

os.environ.setdefault("OMP_NUM_THREADS", "1")
demo_module = pytest.importorskip("sources.demo")

# what the stage reads from the marts reader: on Spark staging is a table too (dbt_project.yml)
ENGINE_TABLES = [
    "marts.fct_account_features",
    "marts.dim_accounts",
    "intermediate.int_plan_calendar",
    "staging.stg_erp__transactions",
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("growth_parquet")
    warehouse = work / "warehouse.duckdb"
    land_raw(warehouse, demo_module.generate_demo(1500, seed=5, end_date=date(2025, 12, 31)).tables())
    run_dbt_build(warehouse, work)
    spark_dir = work / "spark"
    with duckdb.connect(str(warehouse)) as con:
        for table in ENGINE_TABLES:
            schema, name = table.split(".")
            folder = spark_dir / f"{schema}.db" / name
            folder.mkdir(parents=True)
            for part in range(2):  # rows split over part files in no particular order, as Spark writes
                con.execute(
                    f"copy (select * from {table} t where hash(t) % 2 = {part}) "
                    f"to '{folder}/part-{part:05d}.parquet' (format parquet)"
                )
            (folder / "_SUCCESS").write_text("")
    return warehouse, spark_dir


def test_growth_scores_from_parquet_equal_those_from_duckdb(built):
    warehouse, spark_dir = built
    cfg = load_config("config/plan.yaml")
    with duckdb.connect(str(warehouse)) as con:
        duck = run_growth_stage(con, cfg)
        parquet = run_growth_stage(con, cfg, ParquetTables(spark_dir))
        # not vacuous: the Parquet run really scans the Parquet files, the order lines included
        assert "read_parquet(" in stage_sql(FEATURES_SQL, con, ParquetTables(spark_dir))
        assert "read_parquet(" in stage_sql(DAILY_TRANSACTIONS_SQL, con, ParquetTables(spark_dir))
    a, b = duck.result, parquet.result
    assert len(a.scores) == 1500 and a.scores["potential"].sum() > 0
    pd.testing.assert_frame_equal(b.scores, a.scores, check_exact=True)
    # The BG/NBD baseline sums the order lines per account and day; from Parquet parts they arrive in
    # another order, so its double sums (and its backtest errors) may differ in the last bits. The
    # model's features come from the marts: its scores and metrics are the same to the bit.
    bgnbd = {k for k in a.metrics if k.startswith("baseline_bgnbd_")} | {"backtest_table"}
    assert {k: v for k, v in b.metrics.items() if k not in bgnbd} == {
        k: v for k, v in a.metrics.items() if k not in bgnbd
    }
    for key in bgnbd - {"backtest_table"}:
        assert b.metrics[key] == pytest.approx(a.metrics[key], rel=1e-12), key
    pd.testing.assert_frame_equal(b.backtest, a.backtest, check_exact=False, rtol=1e-12)
    model_rows = a.backtest["predictor"] != "baseline_bgnbd"
    pd.testing.assert_frame_equal(b.backtest[model_rows], a.backtest[model_rows], check_exact=True)
    assert np.isfinite(a.scores["expected_revenue_next_4q"]).all()


def test_a_missing_engine_table_is_named(built, tmp_path):
    warehouse, _ = built
    with (
        duckdb.connect(str(warehouse)) as con,
        pytest.raises(MartReadError, match="marts.fct_account_features"),
    ):
        run_growth_stage(con, load_config("config/plan.yaml"), ParquetTables(tmp_path))


def test_without_a_marts_reader_the_sql_is_the_warehouse_tables():
    """The DuckDB path runs the same statements as before the reader: only the table names are filled."""
    with duckdb.connect() as con:
        assert stage_sql(FEATURES_SQL, con, None) == (
            '\nselect f.*, a.n_contact_roles\nfrom "marts"."fct_account_features" f\n'
            'join "marts"."dim_accounts" a using (account_id)\n'
        )
        assert 'from "staging"."stg_erp__transactions"' in stage_sql(DAILY_TRANSACTIONS_SQL, con, None)
        # on the engine's Parquet a staging model is a table like any other: missing, it is named
        with pytest.raises(MartReadError, match="staging.stg_erp__transactions: no Parquet table at"):
            stage_sql(DAILY_TRANSACTIONS_SQL, con, ParquetTables(Path("/nowhere")))
