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
            "select count(*), count(distinct account_id), count(*) filter (where territory_id is null) from latest_account_plan"
        ).fetchone()
        orphans = con.execute(
            "select count(*) from latest_account_plan where territory_id not in "
            "(select territory_id from latest_territories)"
        ).fetchone()[0]
        terr_sum = con.execute("select sum(accounts) from latest_territories").fetchone()[0]
    assert n > 1000 and n == distinct and unassigned == 0 and orphans == 0 and terr_sum == n


def test_workload_within_tolerance_recomputed_from_accounts(yearly):
    out, _ = yearly
    with _pub(out) as con:
        loads = con.execute(
            "select territory_id, coverage_role, sum(workload_hours) h from latest_account_plan group by 1, 2"
        ).df()
    loads["dev"] = loads["h"] / loads.groupby("coverage_role")["h"].transform("mean") - 1
    assert loads["dev"].abs().max() <= TOL + 1e-9
    assert loads["coverage_role"].nunique() >= 3


def test_goals_sum_exactly_to_target(yearly):
    out, _ = yearly
    with _pub(out) as con:
        target = con.execute("select company_target from latest_plan_runs").fetchone()[0]
        by_quarter = con.execute("select sum(goal) from latest_territory_goals").fetchone()[0]
        by_account = con.execute("select sum(goal) from latest_account_plan").fetchone()[0]
        by_terr = con.execute("select sum(goal) from latest_territories").fetchone()[0]
        quarters = con.execute("select count(distinct quarter_start) from latest_territory_goals").fetchone()[
            0
        ]
        baseline = con.execute("select sum(revenue_t12m) from latest_account_plan").fetchone()[0]
    assert target == by_quarter == by_account == by_terr  # DECIMAL: exact, no rounding drift
    with _pub(out) as con:
        plan_id = con.execute("select plan_id from latest_plan_runs").fetchone()[0]
    _assert_goals_traceable(out, plan_id)
    assert float(target) == pytest.approx(baseline * 1.08, rel=1e-9, abs=0.01)
    assert quarters == 4


def test_plan_id_consistent_and_counts_match_warehouse(yearly):
    out, _ = yearly
    with _pub(out) as con:
        ids = set()
        for table in ["plan_runs", "account_plan", "territories", "territory_goals", "coverage_summary"]:
            ids |= {r[0] for r in con.execute(f"select distinct plan_id from latest_{table}").fetchall()}
            kept = {r[0] for r in con.execute(f"select distinct plan_id from {table}").fetchall()}
            assert kept <= {r[0] for r in con.execute("select plan_id from plan_runs").fetchall()}
        in_force = con.execute("select plan_id from plan_history where in_force").fetchall()
        counts = json.loads(con.execute("select input_row_counts from latest_plan_runs").fetchone()[0])
        plan_rows = con.execute("select count(*) from latest_account_plan").fetchone()[0]
        run_id = con.execute("select dagster_run_id from latest_plan_runs").fetchone()[0]
    assert len(ids) == 1 and next(iter(ids)).startswith("yearly-") and in_force == [(next(iter(ids)),)]
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as wh:
        raw_accounts = wh.execute("select count(*) from raw.accounts").fetchone()[0]
        raw_lines = wh.execute("select count(*) from raw.transactions").fetchone()[0]
        mart_accounts = wh.execute("select count(*) from marts.dim_accounts").fetchone()[0]
    assert plan_rows == raw_accounts == mart_accounts == counts["accounts"]
    assert counts["transactions"] == raw_lines
    for table in ["account_plan", "territories", "territory_goals"]:
        parquet = pd.read_parquet(out / "published" / "parquet" / f"{table}.parquet")
        assert len(parquet) > 0 and set(parquet["plan_id"]) == ids  # Parquet: the plan in force
    assert (out / "dagster_home" / "dagster.yaml").exists() and len(run_id) > 8


def test_scenario_is_published_beside_the_plan_and_compared(yearly, tmp_path):
    out, _ = yearly
    with _pub(out) as con:
        in_force = con.execute("select plan_id, company_target from latest_plan_runs").fetchone()
    report_before = (out / "published" / "report.html").read_bytes()
    assert (out / "published" / "reports" / f"{in_force[0]}.html").read_bytes() == report_before
    proc = run_cli(
        "--scenario",
        "Target 40M",
        "--set",
        "goals.company_target.amount=4e7",
        "--set",
        # 0.04: the 4-year small demo has 31 key accounts of equal workload in 2 territories, so the
        # best split (16 / 15) is 3.2 % off the mean and 3 % cannot be met
        "territories.balance_tolerance=0.04",
        out=out,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with _pub(out) as con:
        scen = con.execute(
            "select plan_id, kind, scenario_name, company_target, config_overrides from plan_runs "
            "where kind = 'scenario'"
        ).fetchone()
        still = con.execute("select plan_id from latest_plan_runs").fetchone()[0]
    # the scenario keeps its own report; the plan in force keeps report.html
    assert (out / "published" / "report.html").read_bytes() == report_before
    assert (out / "published" / "reports" / f"{scen[0]}.html").exists()
    with _pub(out) as con:
        goal = con.execute("select sum(goal) from account_plan where plan_id = ?", [scen[0]]).fetchone()[0]
        worst = con.execute(
            "select max(abs(balance_deviation)) from territories where plan_id = ?", [scen[0]]
        ).fetchone()[0]
    assert scen[0].startswith("scenario-target-40m-") and scen[1:3] == ("scenario", "Target 40M")
    assert float(scen[3]) == float(goal) == 40_000_000.0
    assert json.loads(scen[4]) == {"goals.company_target.amount": 4e7, "territories.balance_tolerance": 0.04}
    assert worst <= 0.04 + 1e-9
    assert still == in_force[0]  # a scenario never replaces the plan in force

    report = tmp_path / "cmp"
    cmp = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "compare", "latest", scen[0]]
        + ["--published", str(out / "published"), "--out", str(report)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cmp.returncode == 0, cmp.stderr
    summary = pd.read_csv(report / "summary.csv").set_index("measure")
    assert summary.loc["total goal", "plan_a"] == pytest.approx(float(in_force[1]))
    assert summary.loc["total goal", "plan_b"] == pytest.approx(40_000_000.0)
    goals = pd.read_csv(report / "goals.csv")
    assert goals["goal_b"].sum() == pytest.approx(40_000_000.0)
    for name in ["territories", "moved_accounts", "headcount"]:
        assert (report / f"{name}.csv").exists()
    assert "## moved accounts" in (report / "compare.md").read_text() and "total goal" in cmp.stdout


def test_backfilled_quarter_uses_no_later_data_and_quarterly_keeps_elapsed_goals(tmp_path):
    # the growth model needs 9 quarterly cut-offs before the as-of date: a fourth year of demo history
    # makes 2026-04-01 plannable
    import yaml

    from planning.config import DEFAULT_CONFIG_PATH

    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["demo"]["years"] = 4
    config = tmp_path / "plan.yaml"
    config.write_text(yaml.safe_dump(raw))
    out = tmp_path / "backfill"
    proc = run_cli("--as-of", "2026-04-01", "--config", str(config), out=out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with _pub(out) as con:
        run = con.execute("select plan_id, as_of_date from latest_plan_runs").fetchone()
        published = con.execute("select account_id, revenue_t12m from latest_account_plan").df()
        yearly_goals = con.execute(
            "select territory_id, quarter_start, goal from latest_territory_goals"
        ).df()
        before = con.execute("select account_id, territory_id, coverage_role from latest_account_plan").df()
    assert str(run[1]) == "2026-04-01" and run[0].startswith("yearly-20260401-")
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as wh:
        last_raw = wh.execute("select max(order_date) from raw.transactions").fetchone()[0]
        last_mart = wh.execute("select max(quarter_start) from marts.fct_quarterly_revenue").fetchone()[0]
        expected = wh.execute(
            "select account_id, sum(quantity * unit_price * (1 - discount)) as revenue "
            "from raw.transactions where order_date >= date '2025-04-01' and order_date < date '2026-04-01' "
            "group by 1"
        ).df()
    assert str(last_raw) > "2026-06-30"  # the extract has later data, the plan must not use it
    assert str(last_mart) < "2026-04-01"
    check = published.merge(expected, on="account_id", how="left").fillna({"revenue": 0.0})
    assert check["revenue_t12m"].to_numpy() == pytest.approx(check["revenue"].to_numpy(), abs=0.01)

    proc = run_cli("--kind", "quarterly", "--as-of", "2026-07-01", "--config", str(config), out=out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # the quarterly run rescores with the model the yearly run fitted a quarter earlier: no refit
    assert "» growth model: rescoring with growth-" in proc.stdout
    with _pub(out) as con:
        q = con.execute("select plan_id, kind, as_of_date, company_target from latest_plan_runs").fetchone()
        fitted, rescored = (
            json.loads(
                con.execute("select model_metrics from plan_runs where plan_id = ?", [p]).fetchone()[0]
            )
            for p in (run[0], q[0])
        )
    assert fitted["rescored"] is False and rescored["rescored"] is True
    assert rescored["fitted_scoring_cutoff"] == fitted["scoring_cutoff"] < rescored["scoring_cutoff"]
    assert (
        rescored["model_mae"] == fitted["model_mae"] and rescored["model_version"] == fitted["model_version"]
    )
    with _pub(out) as con:
        after = con.execute(
            "select account_id, territory_id, coverage_role, changed, plan_id, goal from latest_account_plan"
        ).df()
        roles = dict(con.execute("select territory_id, role from latest_territories").fetchall())
        goals = con.execute(
            "select territory_id, quarter_start, goal, set_in_plan_id from latest_territory_goals"
        ).df()
        kept = {r[0] for r in con.execute("select plan_id from plan_history").fetchall()}
        sums = con.execute(  # DECIMAL sums in SQL: exact, no float rounding
            "select (select sum(goal) from latest_territory_goals), "
            "(select sum(goal) from territory_goals where plan_id = ?), "
            "(select sum(goal) from latest_territory_goals where set_in_plan_id = plan_id), "
            "(select sum(goal) from latest_account_plan)",
            [run[0]],
        ).fetchone()
    assert q[1] == "quarterly" and str(q[2]) == "2026-07-01" and kept == {run[0], q[0]}
    # accounts keep their territories unless rescoring moved them to another coverage role; then they go
    # to a territory of their new role, and `changed` flags exactly the moved accounts
    merged = before.merge(after, on="account_id", suffixes=("_before", "_after"))
    assert len(merged) == len(before)
    same_role = merged["coverage_role_before"] == merged["coverage_role_after"]
    assert same_role.mean() > 0.8
    kept = merged[same_role]
    assert (kept["territory_id_before"] == kept["territory_id_after"]).all()
    assert (merged["territory_id_after"].map(roles) == merged["coverage_role_after"]).all()
    moved = merged["territory_id_before"] != merged["territory_id_after"]
    assert (merged["changed"] == moved).all()
    # the elapsed quarter keeps the yearly plan's goals; the rest of the year's target is re-goaled
    elapsed = goals[goals["quarter_start"].astype(str) == "2026-04-01"]
    assert (elapsed["set_in_plan_id"] == run[0]).all()
    old = yearly_goals[yearly_goals["quarter_start"].astype(str) == "2026-04-01"]
    pd.testing.assert_series_equal(
        elapsed.set_index("territory_id")["goal"].sort_index(),
        old.set_index("territory_id")["goal"].sort_index(),
    )
    remaining = goals[goals["quarter_start"].astype(str) > "2026-04-01"]
    assert (remaining["set_in_plan_id"] == q[0]).all() and remaining["quarter_start"].nunique() == 3
    assert sums[0] == q[3] == sums[1]  # the year's target stays that of the yearly plan
    assert sums[3] == sums[2]  # account goals: the quarters this plan set
    _assert_goals_traceable(out, q[0])
    _assert_goals_traceable(out, run[0])

    # backfill Q2 after Q3 is published: the rerun builds on no later plan, so it reproduces the Q2
    # plan, and the Q3 plan stays in force
    proc = run_cli("--as-of", "2026-04-01", "--config", str(config), out=out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with _pub(out) as con:
        again = con.execute("select plan_id from plan_runs order by created_at desc limit 1").fetchone()[0]
        in_force = con.execute("select plan_id from latest_plan_runs").fetchone()[0]
    assert again != run[0] and again.startswith("yearly-20260401-") and in_force == q[0]
    _assert_same_plan(out, run[0], again)
    # backfill Q3 again: it builds on the newest plan before Q3 (the Q2 rerun, equal to the first Q2
    # plan), not on the Q3 plan it replaces, so it reproduces the Q3 plan
    proc = run_cli("--kind", "quarterly", "--as-of", "2026-07-01", "--config", str(config), out=out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with _pub(out) as con:
        q_again = con.execute("select plan_id from latest_plan_runs").fetchone()[0]
    assert q_again != q[0] and q_again.startswith("quarterly-20260701-")
    _assert_same_plan(out, q[0], q_again)


def _plan_content(out: Path, plan_id: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with _pub(out) as con:
        accounts = con.execute(
            "select account_id, territory_id, coverage_tier, goal, goal_elapsed, goal_year from account_plan "
            "where plan_id = ? order by account_id",
            [plan_id],
        ).df()
        territories = con.execute(
            "select territory_id, role, accounts, goal, goal_elapsed, goal_year from territories "
            "where plan_id = ? order by territory_id",
            [plan_id],
        ).df()
        goals = con.execute(
            "select territory_id, quarter_start, goal from territory_goals where plan_id = ? "
            "order by territory_id, quarter_start",
            [plan_id],
        ).df()
    return accounts, territories, goals


def _assert_same_plan(out: Path, a: str, b: str) -> None:
    for left, right in zip(_plan_content(out, a), _plan_content(out, b), strict=True):
        assert len(left) > 0
        pd.testing.assert_frame_equal(left, right)


def _assert_goals_traceable(out: Path, plan_id: str) -> None:
    """Each territory's goal, per span, is the sum of its accounts' goals to the cent, and the spans
    together are the company target (DECIMAL sums in SQL: exact)."""
    with _pub(out) as con:
        off = con.execute(
            """
            select count(*) from territories t
            join (select territory_id, sum(goal) g, sum(goal_elapsed) e, sum(goal_year) y
                  from account_plan where plan_id = ? group by 1) a using (territory_id)
            where t.plan_id = ? and (t.goal <> a.g or t.goal_elapsed <> a.e or t.goal_year <> a.y
                                     or t.goal_year <> t.goal + t.goal_elapsed)""",
            [plan_id, plan_id],
        ).fetchone()[0]
        target, year, terr = con.execute(
            "select (select company_target from plan_runs where plan_id = $1), "
            "(select sum(goal_year) from account_plan where plan_id = $1), "
            "(select sum(goal_year) from territories where plan_id = $1)",
            [plan_id],
        ).fetchone()
    assert off == 0 and target == year == terr


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


def test_published_columns_all_have_real_types(yearly):
    """All-NULL columns (no overrides yet, no previous plan) must still be typed: PostgreSQL publishing
    and copying kept plans into the next file both fail on DuckDB's NULL type."""
    out, _ = yearly
    with _pub(out) as con:
        untyped = con.execute(
            "select table_name, column_name from information_schema.columns "
            "where upper(replace(data_type, '\"', '')) = 'NULL'"
        ).fetchall()
    assert untyped == []
