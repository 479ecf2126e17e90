"""Planning group, goals: territory goals from the accounts, set to the company target (schema `planning`)."""

import dagster as dg
import numpy as np
import pandas as pd

from orchestration.assets.ml import growth_scores
from orchestration.assets.planning import PlanKindConfig, territory_design
from orchestration.metadata import preview
from orchestration.partitions import ONE_PLAN_PER_RUN, quarterly_partitions
from orchestration.resources import PlanConfigResource, Warehouse
from planning.goals import set_goals
from planning.marts import index_of, inner_rows, read_columns, read_frame, take_or
from planning.publish import read_goals_in_force


def goal_inputs(warehouse: Warehouse) -> pd.DataFrame:
    """One row per assigned account for goal setting: its territory, trailing revenue, and expected
    revenue and potential (each falling back to trailing revenue), ordered by account.

    The join `planning.territory_assignment ⋈ marts.fct_account_value ⟕ ml.account_scores`, on
    Arrow-read numpy columns so the mart can come from DuckDB or Spark's Parquet (`Warehouse.readers`).
    """
    with warehouse.readers() as (local, marts):
        t = read_columns(local, "planning.territory_assignment", ["account_id", "territory_id"])
        v = read_columns(marts, "marts.fct_account_value", ["account_id", "revenue_t12m"])
        s = read_columns(local, "ml.account_scores", ["account_id", "expected_revenue_next_4q", "potential"])
    ids = t["account_id"]
    in_v = index_of(ids, v["account_id"], "marts.fct_account_value")
    rows = inner_rows(ids, in_v)
    revenue = v["revenue_t12m"][in_v[rows]]
    in_s = index_of(ids[rows], s["account_id"], "ml.account_scores")
    return pd.DataFrame(
        {
            "account_id": ids[rows],
            "territory_id": t["territory_id"][rows],
            "revenue_t12m": revenue,
            "expected_revenue_next_4q": take_or(s["expected_revenue_next_4q"], in_s, revenue),
            "potential": take_or(s["potential"], in_s, revenue),
        },
        copy=False,
    )


@dg.asset(
    partitions_def=quarterly_partitions,
    backfill_policy=ONE_PLAN_PER_RUN,
    group_name="planning",
    deps=[territory_design, growth_scores, dg.AssetKey(["marts", "fct_quarterly_revenue"])],
    kinds={"pandas", "duckdb"},
    metadata={"table": "planning.territory_goals"},
    check_specs=[dg.AssetCheckSpec("goals_sum_to_target", asset="territory_goals", blocking=True)],
)
def territory_goals(
    context: dg.AssetExecutionContext,
    config: PlanKindConfig,
    warehouse: Warehouse,
    plan_config: PlanConfigResource,
):
    """Account goals by the configured method (bottom-up, top-down by potential, or a blend), capped
    per territory, set to the company target, summed per territory and phased by the history's
    seasonality. A quarterly run keeps the elapsed quarters' goals of the plan in force."""
    cfg = plan_config.load()
    accounts = goal_inputs(warehouse)
    with warehouse.readers() as (_, marts):
        # one row per account and quarter: the largest input of this step
        quarterly = read_frame(marts, "marts.fct_quarterly_revenue", ["quarter_start", "revenue"])
        as_of = read_columns(marts, "marts.fct_account_value", ["as_of_date"])["as_of_date"].max()
    # the plan territory_design built on (the newest published before this as-of date): its goals for
    # the elapsed quarters are kept
    builds_on = warehouse.query_df("select builds_on_plan_id from planning.design_metrics").iloc[0, 0]
    builds_on = None if pd.isna(builds_on) else str(builds_on)
    in_force = (
        read_goals_in_force(plan_config.published_dir(), builds_on) if config.kind == "quarterly" else None
    )
    goals = set_goals(
        accounts, quarterly, cfg.goals, pd.Timestamp(as_of).date(), cfg.plan.fiscal_year_start_month, in_force
    )
    warehouse.write_table("planning", "account_goals", goals.account_goals)
    tg = goals.territory_goals
    if "set_in_plan_id" not in tg:
        tg = tg.assign(set_in_plan_id=None)
    tg = tg.assign(set_in_plan_id=tg["set_in_plan_id"].astype("string"))
    warehouse.write_table(
        "planning",
        "territory_goals",
        tg[
            [
                "quarter_start",
                "fiscal_year",
                "fiscal_quarter",
                "territory_id",
                "goal_cents",
                "carried",
                "set_in_plan_id",
            ]
        ],
        date_columns=["quarter_start"],
    )
    metrics = {
        "method": cfg.goals.method,
        "company_target": goals.company_target_cents / 100,
        "company_target_cents": int(goals.company_target_cents),
        "set_by_this_plan": goals.set_cents / 100,
        "carried_quarters": int(tg.loc[tg["carried"], "quarter_start"].nunique()),
        "capped_territories": len(goals.capped_territories),
    }
    warehouse.write_table(
        "planning", "goal_metrics", pd.DataFrame([{**metrics, "run_id": context.run.run_id}])
    )

    total = int(tg["goal_cents"].sum())
    ag = goals.account_goals
    # each span per territory equals the sum of its accounts' goals for that span (to the cent)
    spans = pd.DataFrame(
        {
            "set_q": tg[~tg["carried"]].groupby("territory_id")["goal_cents"].sum(),
            "elapsed_q": tg[tg["carried"]].groupby("territory_id")["goal_cents"].sum(),
            "set_a": ag.groupby("territory_id")["goal_cents"].sum(),
            "elapsed_a": ag.groupby("territory_id")["goal_elapsed_cents"].sum(),
        }
    ).fillna(0)
    traceable = bool(
        (spans["set_q"] == spans["set_a"]).all() and (spans["elapsed_q"] == spans["elapsed_a"]).all()
    )
    yield dg.MaterializeResult(
        metadata={
            "method": cfg.goals.method,
            "company_target": dg.MetadataValue.float(goals.company_target_cents / 100),
            "set_by_this_plan": dg.MetadataValue.float(goals.set_cents / 100),
            "carried_quarters": dg.MetadataValue.int(metrics["carried_quarters"]),
            "territories": dg.MetadataValue.int(tg["territory_id"].nunique()),
            "capped_territories": dg.MetadataValue.text(", ".join(goals.capped_territories) or "none"),
            "seasonality_q1_q4": dg.MetadataValue.text(", ".join(f"{s:.3f}" for s in goals.seasonality)),
            "rows": dg.MetadataValue.int(len(tg)),
            "preview": dg.MetadataValue.md(preview(tg, rows=8)),
        }
    )
    yield dg.AssetCheckResult(
        check_name="goals_sum_to_target",
        passed=bool(
            total == goals.company_target_cents
            and goals.set_cents == int(ag["goal_cents"].sum())
            and total == int(ag["goal_cents"].sum() + ag["goal_elapsed_cents"].sum())
            and traceable
            and np.all(tg["goal_cents"] >= 0)
        ),
        metadata={
            "target_cents": goals.company_target_cents,
            "territory_goal_cents": total,
            "account_goal_cents": int(ag["goal_cents"].sum()),
            "account_goal_elapsed_cents": int(ag["goal_elapsed_cents"].sum()),
            "territories_traceable_to_accounts": traceable,
        },
    )


defs = dg.Definitions(assets=[territory_goals])
