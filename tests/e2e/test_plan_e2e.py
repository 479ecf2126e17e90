"""Level 4: the README's main command on the small demo, then the published plan's invariants."""

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from planning.config import load_config

pytestmark = pytest.mark.e2e
TOL = load_config().territories.balance_tolerance


def run_cli(*args: str, out: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "orchestration.cli", "plan", "--size", "small", "--out", str(out), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def yearly(tmp_path_factory):
    out = tmp_path_factory.mktemp("plan")
    proc = run_cli(out=out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc


def _pub(out: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(out / "published" / "plan.duckdb"), read_only=True)


def test_cli_reports_stages_outputs_and_summary(yearly):
    out, proc = yearly
    for stage in ["ingest", "warehouse", "growth-potential model", "territory design", "publish"]:
        assert stage in proc.stdout
    assert str(out / "published" / "plan.duckdb") in proc.stdout
    assert "accounts" in proc.stdout and "company target" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_every_account_in_exactly_one_territory(yearly):
    out, _ = yearly
    with _pub(out) as con:
        n, distinct, unassigned = con.execute(
            "select count(*), count(distinct account_id), count(*) filter (where territory_id is null) from account_plan"
        ).fetchone()
        orphans = con.execute(
            "select count(*) from account_plan where territory_id not in "
            "(select territory_id from territories)"
        ).fetchone()[0]
        terr_sum = con.execute("select sum(accounts) from territories").fetchone()[0]
    assert n > 1000 and n == distinct and unassigned == 0 and orphans == 0 and terr_sum == n


def test_workload_within_tolerance_recomputed_from_accounts(yearly):
    out, _ = yearly
    with _pub(out) as con:
        loads = con.execute(
            "select territory_id, coverage_role, sum(workload_hours) h from account_plan group by 1, 2"
        ).df()
    loads["dev"] = loads["h"] / loads.groupby("coverage_role")["h"].transform("mean") - 1
    assert loads["dev"].abs().max() <= TOL + 1e-9
    assert loads["coverage_role"].nunique() >= 3


def test_goals_sum_exactly_to_target(yearly):
    out, _ = yearly
    with _pub(out) as con:
        target = con.execute("select company_target from plan_runs").fetchone()[0]
        by_quarter = con.execute("select sum(goal) from territory_goals").fetchone()[0]
        by_account = con.execute("select sum(goal) from account_plan").fetchone()[0]
        by_terr = con.execute("select sum(goal) from territories").fetchone()[0]
        quarters = con.execute("select count(distinct quarter_start) from territory_goals").fetchone()[0]
        baseline = con.execute("select sum(revenue_t12m) from account_plan").fetchone()[0]
    assert target == by_quarter == by_account == by_terr  # DECIMAL: exact, no rounding drift
    assert float(target) == pytest.approx(baseline * 1.08, rel=1e-9, abs=0.01)
    assert quarters == 4


def test_plan_id_consistent_and_counts_match_warehouse(yearly):
    out, _ = yearly
    with _pub(out) as con:
        ids = set()
        for table in ["plan_runs", "account_plan", "territories", "territory_goals", "coverage_summary"]:
            ids |= {r[0] for r in con.execute(f"select distinct plan_id from {table}").fetchall()}
        counts = json.loads(con.execute("select input_row_counts from plan_runs").fetchone()[0])
        plan_rows = con.execute("select count(*) from account_plan").fetchone()[0]
        run_id = con.execute("select dagster_run_id from plan_runs").fetchone()[0]
    assert len(ids) == 1 and next(iter(ids)).startswith("yearly-")
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as wh:
        raw_accounts = wh.execute("select count(*) from raw.accounts").fetchone()[0]
        raw_lines = wh.execute("select count(*) from raw.transactions").fetchone()[0]
        mart_accounts = wh.execute("select count(*) from marts.dim_accounts").fetchone()[0]
    assert plan_rows == raw_accounts == mart_accounts == counts["accounts"]
    assert counts["transactions"] == raw_lines
    for table in ["account_plan", "territories", "territory_goals"]:
        assert len(pd.read_parquet(out / "published" / "parquet" / f"{table}.parquet")) > 0
    assert (out / "dagster_home" / "dagster.yaml").exists() and len(run_id) > 8


def test_quarterly_run_keeps_every_territory(yearly, tmp_path):
    out, _ = yearly
    with _pub(out) as con:
        before = con.execute("select account_id, territory_id from account_plan").df()
    proc = run_cli("--kind", "quarterly", out=out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with _pub(out) as con:
        after = con.execute("select account_id, territory_id, changed, plan_id from account_plan").df()
        kind = con.execute("select kind from plan_runs").fetchone()[0]
    merged = before.merge(after, on="account_id", suffixes=("_before", "_after"))
    assert kind == "quarterly" and after["plan_id"].str.startswith("quarterly-").all()
    assert len(merged) == len(before)
    assert (merged["territory_id_before"] == merged["territory_id_after"]).all()
    assert not after["changed"].any()


def test_bad_size_is_one_clear_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "plan", "--size", "tiny", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "demo size" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "published").exists()
