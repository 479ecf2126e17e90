"""Planning group, goals: territory goals from the accounts, scaled to the company target (schema `planning`)."""

import dagster as dg
import numpy as np
import pandas as pd

from orchestration.assets.ml import growth_scores
from orchestration.assets.planning import territory_design
from orchestration.metadata import preview
from orchestration.resources import PlanConfigResource, Warehouse
from planning.goals import set_goals


@dg.asset(
    group_name="planning",
    deps=[territory_design, growth_scores, dg.AssetKey(["marts", "fct_quarterly_revenue"])],
    kinds={"pandas", "duckdb"},
    metadata={"table": "planning.territory_goals"},
    check_specs=[dg.AssetCheckSpec("goals_sum_to_target", asset="territory_goals", blocking=True)],
)
def territory_goals(warehouse: Warehouse, plan_config: PlanConfigResource):
    """Bottom-up account goals (run-rate + a share of predicted growth) scaled to the company target,
    summed per territory and phased by the history's seasonality."""
    cfg = plan_config.load()
    accounts = warehouse.query_df("""
        select t.account_id, t.territory_id, v.revenue_t12m,
               coalesce(s.expected_revenue_next_4q, v.revenue_t12m) as expected_revenue_next_4q
        from planning.territory_assignment t
        join marts.fct_account_value v using (account_id)
        left join ml.account_scores s using (account_id)
        order by t.account_id""")
    quarterly = warehouse.query_df("select quarter_start, revenue from marts.fct_quarterly_revenue")
    as_of = warehouse.query_df("select max(as_of_date) as as_of from marts.fct_account_value")["as_of"].iloc[
        0
    ]
    goals = set_goals(
        accounts, quarterly, cfg.goals, pd.Timestamp(as_of).date(), cfg.plan.fiscal_year_start_month
    )
    warehouse.write_table("planning", "account_goals", goals.account_goals)
    warehouse.write_table("planning", "territory_goals", goals.territory_goals)

    total = int(goals.territory_goals["goal_cents"].sum())
    yield dg.MaterializeResult(
        metadata={
            "company_target": dg.MetadataValue.float(goals.company_target_cents / 100),
            "territories": dg.MetadataValue.int(goals.territory_goals["territory_id"].nunique()),
            "seasonality_q1_q4": dg.MetadataValue.text(", ".join(f"{s:.3f}" for s in goals.seasonality)),
            "preview": dg.MetadataValue.md(preview(goals.territory_goals, rows=8)),
        }
    )
    yield dg.AssetCheckResult(
        check_name="goals_sum_to_target",
        passed=bool(
            total == goals.company_target_cents == int(goals.account_goals["goal_cents"].sum())
            and np.all(goals.territory_goals["goal_cents"] >= 0)
        ),
        metadata={"target_cents": goals.company_target_cents, "territory_goal_cents": total},
    )


defs = dg.Definitions(assets=[territory_goals])
