"""A prepared warehouse for the fault tests: stand-in contract selects over one `acc` table, so a publish
exercises the real mechanics (temp file, carried history, checkpoint, swap, Parquet) in about a second
without building the marts. Run as a script it publishes plans one after another: `standin.py WAREHOUSE OUT PLAN_ID...`."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import duckdb

import planning.publish as pub

STANDIN_SQL = {
    "plan_runs": pub.CONTRACT_SQL["plan_runs"],
    "account_plan": "select m.plan_id, m.dagster_run_id as run_id, a.account_id, a.account_name, a.territory_id, "
    "a.goal from acc a cross join plan_meta m order by a.account_id",
    "territories": "select m.plan_id, a.territory_id, count(*) as accounts, sum(a.goal) as goal "
    "from acc a cross join plan_meta m group by all order by a.territory_id",
    "territory_goals": "select m.plan_id, a.territory_id, date '2026-10-01' as quarter_start, sum(a.goal) as goal, "
    "m.plan_id as set_in_plan_id from acc a cross join plan_meta m group by all order by a.territory_id",
    "coverage_summary": "select m.plan_id, 'field' as role, count(*) as headcount from acc a cross join plan_meta m "
    "group by all",
}


def prepare(path: Path, accounts: int, names: list[str] | None = None) -> Path:
    """A warehouse file with `accounts` rows in `acc` (names cycled from `names` when given)."""
    con = duckdb.connect(str(path))
    con.execute(
        "create or replace table acc as select printf('A%07d', i) as account_id, "
        "'Company ' || i as account_name, 'T' || (i % 40) as territory_id, "
        "cast(i % 997 * 10 as decimal(18, 2)) as goal from range(?) t(i)",
        [accounts],
    )
    for i, name in enumerate(names or []):
        con.execute("update acc set account_name = ? where account_id = printf('A%07d', ?)", [name, i])
    con.close()
    return path


def meta(plan_id: str, created: datetime | None = None) -> dict:
    return {
        "plan_id": plan_id,
        "kind": "yearly",
        "as_of_date": date(2026, 10, 1),
        "created_at": created or datetime.now(),
        "dagster_run_id": "run-" + plan_id,
        "code_version": "test",
        "config_hash": "abc",
        "company_target_cents": 100,
        "input_row_counts": {},
        "model_metrics": {},
        "territory_metrics": {},
    }


def publish(warehouse: Path, out: Path, plan_id: str, keep_last: int = 3) -> pub.Published:
    """Publish one plan from the prepared warehouse with the stand-in selects."""
    pub.CONTRACT_SQL = STANDIN_SQL
    con = duckdb.connect()  # the warehouse read-only, as several trials and readers share it
    con.execute(f"attach {pub.sql_literal(warehouse)} as wh (read_only)")
    con.execute("use wh")
    try:
        return pub.publish_plan(con, meta(plan_id), out, keep_last=keep_last)
    finally:
        con.close()


if __name__ == "__main__":
    for plan_id in sys.argv[3:]:
        done = publish(Path(sys.argv[1]), Path(sys.argv[2]), plan_id)
        print(done.in_force, flush=True)
