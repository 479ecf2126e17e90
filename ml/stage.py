"""The growth-model stage on an open warehouse connection: read the features, fit the BG/NBD baseline,
run the rolling-origin backtest and score the as-of cut-off.

The Dagster asset (orchestration/assets/ml.py) and the stage benchmark (benchmarks/growth.py) both call
`run_growth_stage`, so the benchmark times exactly what the pipeline runs. Every step's wall and CPU
seconds are returned, because at 500,000 accounts this stage was the slowest of the plan and the next
regression should be visible in the asset metadata, not only in a profiler.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import duckdb
import pandas as pd

from ml.backtest import bgnbd_predictions, daily_totals, rfm_summary
from ml.growth import GrowthResult, StepTimer, read_features, rescore, train_and_score
from planning.config import PlanConfig
from planning.marts import DuckDBTables, TableReader, fill_relations

# {table} placeholders: the reader's `relation` for it, a DuckDB table or a `read_parquet` scan of the
# engine's Parquet, so the same SQL runs on the connection whichever engine built the marts.
FEATURES_SQL = """
select f.*, a.n_contact_roles
from {marts.fct_account_features} f
join {marts.dim_accounts} a using (account_id)
"""
DAILY_TRANSACTIONS_SQL = """
create or replace temp view tx as
select account_id, order_date, net_amount as amount, order_id as order_key
from {staging.stg_erp__transactions}
"""
# the cut-offs with an observed label: the ones the backtest scores and BG/NBD is fitted at
LABELLED_CUTOFFS_SQL = (
    f"select distinct cutoff_date from ({FEATURES_SQL}) where label_revenue_next_4q is not null order by 1"
)
HISTORY_START_SQL = "select min(data_first_quarter_start) from {intermediate.int_plan_calendar}"
CUTOFF_RANGE_SQL = "select min(cutoff_date), max(cutoff_date) from {marts.fct_account_features}"


def stage_sql(sql: str, con: duckdb.DuckDBPyConnection, marts: TableReader | None) -> str:
    """`sql` with each `{schema.table}` of dbt's replaced by where it is read from: `marts`, or the
    warehouse's own tables and views when None. On Spark the staging models the stage reads are tables
    too (dbt_project.yml), so everything comes from the engine."""
    return fill_relations(sql, marts or DuckDBTables.on(con))


@dataclass(frozen=True)
class StageOutput:
    result: GrowthResult
    bgnbd_failed: dict[str, str]  # cutoff → why its BG/NBD fit failed (the baseline is left out there)
    steps: dict[str, dict[str, float]]
    buffers_released: bool = True  # False: DuckDB kept its cached buffers (release_buffers)


def labelled_cutoffs(con: duckdb.DuckDBPyConnection, marts: TableReader | None = None) -> list:
    """The cut-offs of the feature rows with an observed label, in order (dates)."""
    return [c for (c,) in con.execute(stage_sql(LABELLED_CUTOFFS_SQL, con, marts)).fetchall()]


def bgnbd_inputs(
    con: duckdb.DuckDBPyConnection, cutoffs: Iterable, marts: TableReader | None = None
) -> pd.DataFrame:
    """The RFM summary (ml.backtest.rfm_summary) of every account at each of `cutoffs`, from the staged
    order lines via the account × day totals, which are dropped again."""
    con.execute(stage_sql(DAILY_TRANSACTIONS_SQL, con, marts))
    daily_totals(con, count_orders=False)
    rfm = rfm_summary(con, [pd.Timestamp(c).date() for c in cutoffs])
    con.execute("drop table if exists tx_daily")  # account × day totals: not needed past this point
    return rfm


def release_buffers(con: duckdb.DuckDBPyConnection, memory_limit: str) -> bool:
    """Make DuckDB hand back the memory its last queries left cached, then restore `memory_limit`.

    Why: after reading the 6M-row feature frame at 500,000 accounts DuckDB still held ~1.8 GB of
    buffers (the process at 3.8 GB for a 1 GB frame), and the BG/NBD inputs' aggregate added more, all
    of it kept through the model fits: the stage peaked at 8.2 GB. Lowering the limit evicts every
    unpinned buffer (the frame's process fell to 2.0 GB); nothing cached is needed again. False when
    DuckDB could not shrink (pinned buffers): memory then stays as it was, which the caller reports."""
    try:
        con.execute("set memory_limit = '64MB'")
        released = True
    except duckdb.OutOfMemoryException:
        released = False
    con.execute(f"set memory_limit = '{memory_limit.replace(' ', '')}'")
    return released


def run_growth_stage(
    con: duckdb.DuckDBPyConnection, cfg: PlanConfig, marts: TableReader | None = None
) -> StageOutput:
    """Features → BG/NBD baseline per labelled cut-off → backtest and scores (see ml.growth). The marts
    come from `marts` (e.g. Spark's Parquet, scanned by this connection), else from the warehouse."""
    gm = cfg.growth_model
    timer = StepTimer()
    # the BG/NBD inputs (DuckDB's largest aggregate here) before the feature frame exists, so their
    # memory and the frame's are never held at once
    with timer.step("bgnbd_inputs_sql"):
        rfm = bgnbd_inputs(con, labelled_cutoffs(con, marts), marts)
        released = release_buffers(con, cfg.warehouse.memory_limit)
    with timer.step("read_features"):
        features = read_features(con, stage_sql(FEATURES_SQL, con, marts))
        history_start = con.execute(stage_sql(HISTORY_START_SQL, con, marts)).fetchall()[0][0]
        released &= release_buffers(con, cfg.warehouse.memory_limit)
    with timer.step("bgnbd_fit"):
        bgnbd, failed = bgnbd_predictions(
            rfm,
            round(365.25 * gm.horizon_quarters / 4),
            sample_rows=gm.bgnbd_sample_rows,
            seed=cfg.seed,
        )
    with timer.step("train_and_score"):
        result = train_and_score(
            features,
            gm,
            seed=cfg.seed,
            config_hash=cfg.config_hash(),
            history_start=history_start,
            bgnbd=bgnbd,
            timings=timer.steps,
        )
    return StageOutput(result=result, bgnbd_failed=failed, steps=timer.steps, buffers_released=released)


def cutoff_range(
    con: duckdb.DuckDBPyConnection, marts: TableReader | None = None
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The earliest and the latest (as-of) cut-off of the feature mart."""
    first, last = con.execute(stage_sql(CUTOFF_RANGE_SQL, con, marts)).fetchall()[0]
    return (pd.Timestamp(first) if first else None, pd.Timestamp(last) if last else None)


def run_rescore_stage(
    con: duckdb.DuckDBPyConnection, cfg: PlanConfig, artifact: dict, marts: TableReader | None = None
) -> StageOutput:
    """The quarterly path: the as-of rows only, scored by the models of an earlier yearly run (see
    ml.growth.rescore): no BG/NBD fits, no backtest, no refit."""
    timer = StepTimer()
    with timer.step("read_features"):
        latest = f"select * from ({stage_sql(FEATURES_SQL, con, marts)}) where is_latest"
        features = read_features(con, latest)
        history_start = con.execute(stage_sql(HISTORY_START_SQL, con, marts)).fetchall()[0][0]
        first_cutoff, _ = cutoff_range(con, marts)
    with timer.step("rescore"):
        result = rescore(
            features,
            artifact,
            history_start,
            first_cutoff,
            threads=cfg.growth_model.predict_threads,
            timings=timer.steps,
        )
    return StageOutput(result=result, bgnbd_failed={}, steps=timer.steps)
