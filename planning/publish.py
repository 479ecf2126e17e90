"""Publish a plan: a DuckDB file swapped in atomically for BI readers, and one Parquet file per table.

The published contract (DESIGN.md) is assembled inside DuckDB from the warehouse's `ml` and `planning`
tables, straight into a new database file beside the old one, which is then `os.replace`d over it: a
reader that has the old file open keeps a consistent snapshot, a new reader sees the whole new plan,
never half of one. Parquet files are written from the new file and replaced the same way.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

PUBLISHED_TABLES = ["plan_runs", "account_plan", "territories", "territory_goals", "coverage_summary"]

# Each published table as a select over the warehouse; `plan_meta` is a one-row temp table with the
# plan's id and run facts. Money is DECIMAL(18,2) so published goals sum exactly.
CONTRACT_SQL: dict[str, str] = {
    "plan_runs": """
        select plan_id, kind, as_of_date, created_at, dagster_run_id, code_version, config_hash,
               cast(company_target_cents * 0.01 as decimal(18, 2)) as company_target,
               input_row_counts, model_metrics, territory_metrics
        from plan_meta""",
    "account_plan": """
        select m.plan_id, m.dagster_run_id as run_id, a.account_id, a.account_name, a.industry, a.city, a.state,
               a.lat, a.lon, a.status, s.lifecycle, a.parent_account_id,
               v.revenue_t12m, v.gross_margin_t12m, v.yoy_growth, v.size_bucket,
               s.expected_revenue_next_4q, s.potential, s.headroom, s.share_of_wallet,
               s.size_tier, s.quadrant, s.behaviour, s.coverage_tier, s.coverage_role,
               s.coverage_reason, s.reason_codes,
               s.specialist_overlay, s.specialist_reason, s.override_field, s.original_value,
               s.override_reason, s.override_author,
               w.workload_hours, t.territory_id, tr.owner_rep_id, a.owner_rep_id as current_owner_rep_id,
               t.previous_territory_id,
               (t.previous_territory_id is not null and t.previous_territory_id <> t.territory_id) as changed,
               cast(g.goal_cents * 0.01 as decimal(18, 2)) as goal
        from marts.dim_accounts a
        cross join plan_meta m
        join marts.fct_account_value v on v.account_id = a.account_id
        join ml.account_segments s on s.account_id = a.account_id
        join planning.account_workload w on w.account_id = a.account_id
        join planning.territory_assignment t on t.account_id = a.account_id
        join planning.territories tr on tr.territory_id = t.territory_id
        join planning.account_goals g on g.account_id = a.account_id
        order by a.account_id""",
    "territories": """
        select m.plan_id, t.territory_id, t.role, t.owner_rep_id, t.accounts, t.workload_hours,
               t.revenue_t12m, t.potential, t.balance_deviation, t.centre_lat, t.centre_lon,
               t.mean_travel_km, t.max_travel_km,
               cast(coalesce(g.goal_cents, 0) * 0.01 as decimal(18, 2)) as goal,
               t.revenue_t12m_deviation as value_deviation, t.potential_deviation, t.accounts_deviation,
               t.total_travel_km, t.diameter_km, t.accounts_moved, t.value_moved, t.locked_accounts
        from planning.territories t
        cross join plan_meta m
        left join (select territory_id, sum(goal_cents) as goal_cents from planning.territory_goals group by 1) g
          on g.territory_id = t.territory_id
        order by t.territory_id""",
    "territory_goals": """
        select m.plan_id, g.territory_id, g.fiscal_year, g.fiscal_quarter, g.quarter_start,
               cast(g.goal_cents * 0.01 as decimal(18, 2)) as goal
        from planning.territory_goals g cross join plan_meta m
        order by g.territory_id, g.quarter_start""",
    "coverage_summary": """
        select m.plan_id, c.role, c.accounts, c.workload_hours, c.capacity_hours_per_rep, c.required_fte,
               c.headcount, c.reps_on_staff, c.hiring_gap
        from planning.coverage_summary c cross join plan_meta m
        order by c.role""",
}


def scalar(con: duckdb.DuckDBPyConnection, sql: str):
    """The single value of `sql`, with its result fully consumed (DuckDB refuses new work on a
    connection that still holds an unfinished result)."""
    return con.execute(sql).fetchall()[0][0]


class PublishError(RuntimeError):
    """The plan could not be published; the previous published plan is untouched."""


@dataclass(frozen=True)
class Published:
    duckdb_path: Path
    parquet_dir: Path
    row_counts: dict[str, int]


def publish_plan(con: duckdb.DuckDBPyConnection, plan_meta: dict, out_dir: str | Path) -> Published:
    """Write the plan contract from the warehouse behind `con` to `out_dir/plan.duckdb` and `out_dir/parquet/`.

    `plan_meta`: plan_id, kind, as_of_date, created_at, dagster_run_id, code_version, config_hash,
    company_target_cents and the dicts input_row_counts, model_metrics, territory_metrics (stored as JSON).
    """
    out = Path(out_dir)
    parquet_dir = out / "parquet"
    parquet_dir.mkdir(parents=True, exist_ok=True)
    target = out / "plan.duckdb"
    tmp = out / f".plan.duckdb.tmp-{os.getpid()}"
    for stale in (tmp, Path(f"{tmp}.wal")):
        stale.unlink(missing_ok=True)

    meta = {
        k: (json.dumps(v, sort_keys=True, default=str) if isinstance(v, dict) else v)
        for k, v in plan_meta.items()
    }
    con.register("plan_meta_df", pd.DataFrame([meta]))
    con.execute("create or replace temp table plan_meta as select * from plan_meta_df")
    con.unregister("plan_meta_df")
    con.execute(f"attach '{tmp}' as pub")
    try:
        counts = {}
        for name in PUBLISHED_TABLES:
            con.execute(f'create table pub."{name}" as {CONTRACT_SQL[name]}')
            counts[name] = scalar(con, f'select count(*) from pub."{name}"')
        con.execute("checkpoint pub")
    finally:
        con.execute("detach pub")
        con.execute("drop table if exists plan_meta")
    if counts["account_plan"] == 0:
        Path(tmp).unlink(missing_ok=True)
        raise PublishError("the plan has no accounts; the previous published plan is kept")

    # A .wal left by a crashed writer of the old file would not match the new file: drop it first.
    Path(f"{target}.wal").unlink(missing_ok=True)
    os.replace(tmp, target)

    reader = duckdb.connect(str(target), read_only=True)
    try:
        for name in PUBLISHED_TABLES:
            part = parquet_dir / f".{name}.parquet.tmp-{os.getpid()}"
            reader.execute(f"copy \"{name}\" to '{part}' (format parquet)")
            os.replace(part, parquet_dir / f"{name}.parquet")
    finally:
        reader.close()
    return Published(target, parquet_dir, counts)


def read_published(out_dir: str | Path, table: str) -> pd.DataFrame | None:
    """The published table of the current plan, or None when nothing has been published yet."""
    path = Path(out_dir) / "plan.duckdb"
    if not path.exists():
        return None
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f'select * from "{table}"').df()
    finally:
        con.close()
