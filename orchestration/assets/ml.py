"""ML group: growth-potential scores, then segments and coverage tiers, written to schema `ml`."""

import dagster as dg
import pandas as pd

from ml.growth import train_and_score
from ml.segments import assign_coverage, assign_segments
from orchestration.metadata import figures, preview
from orchestration.partitions import ONE_PLAN_PER_RUN, quarterly_partitions
from orchestration.resources import PlanConfigResource, Warehouse


@dg.asset(
    partitions_def=quarterly_partitions,
    backfill_policy=ONE_PLAN_PER_RUN,
    group_name="ml",
    deps=[dg.AssetKey(["marts", "fct_account_features"])],
    kinds={"scikit-learn", "duckdb"},
    metadata={"table": "ml.account_scores"},
)
def growth_scores(context: dg.AssetExecutionContext, warehouse: Warehouse, plan_config: PlanConfigResource):
    """Expected revenue over the next four quarters and potential (wallet) per account, trained on an
    earlier cut-off of the point-in-time feature mart and compared with run-rate baselines."""
    cfg = plan_config.load()
    features = warehouse.query_df("select * from marts.fct_account_features")
    result = train_and_score(features, cfg.growth_model, seed=cfg.seed, config_hash=cfg.config_hash())
    scores = result.scores.assign(model_version=result.model_version, run_id=context.run.run_id)
    rows = warehouse.write_table("ml", "account_scores", scores)
    warehouse.write_table(
        "ml",
        "model_metrics",
        pd.DataFrame(
            [{**result.metrics, "model_version": result.model_version, "run_id": context.run.run_id}]
        ),
    )
    comparison = "\n".join(
        ["| predictor | MAE | RMSE | Spearman | top-decile capture |", "|---|---|---|---|---|"]
        + [
            f"| {name} | {result.metrics[f'{p}_mae']:,.0f} | {result.metrics[f'{p}_rmse']:,.0f} | "
            f"{result.metrics[f'{p}_spearman']:.3f} | {result.metrics[f'{p}_top_decile_capture']:.3f} |"
            for name, p in (
                ("model", "model"),
                ("run-rate baseline", "baseline_runrate"),
                ("last-quarter baseline", "baseline_lastq"),
            )
        ]
    )
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(rows),
            "model_version": result.model_version,
            "backtest": dg.MetadataValue.md(comparison),
            **figures(result.metrics),
            "preview": dg.MetadataValue.md(preview(scores)),
        }
    )


ACCOUNT_INPUTS_SQL = """
select a.account_id, a.status, a.employees, a.open_pipeline_amount,
       v.revenue_t12m, v.size_bucket, b.price_seeking_index, b.recency_days,
       s.expected_revenue_next_4q, s.potential, s.headroom, s.reason_codes
from marts.dim_accounts a
join marts.fct_account_value v using (account_id)
join marts.fct_buying_behaviour b using (account_id)
left join ml.account_scores s using (account_id)
order by a.account_id
"""


@dg.asset(
    partitions_def=quarterly_partitions,
    backfill_policy=ONE_PLAN_PER_RUN,
    group_name="ml",
    deps=[
        growth_scores,
        dg.AssetKey(["marts", "dim_accounts"]),
        dg.AssetKey(["marts", "fct_account_value"]),
        dg.AssetKey(["marts", "fct_buying_behaviour"]),
    ],
    kinds={"pandas", "duckdb"},
    metadata={"table": "ml.account_segments"},
)
def account_segments(warehouse: Warehouse, plan_config: PlanConfigResource):
    """Size tier, value × potential quadrant, behaviour, lifecycle and coverage tier (rules in config)."""
    cfg = plan_config.load()
    accounts = warehouse.query_df(ACCOUNT_INPUTS_SQL)
    unscored = accounts["expected_revenue_next_4q"].isna()
    # Accounts created after the last feature cut-off have no score yet: they are planned on today's value.
    accounts.loc[unscored, "expected_revenue_next_4q"] = accounts.loc[unscored, "revenue_t12m"]
    accounts.loc[unscored, "potential"] = accounts.loc[unscored, "revenue_t12m"]
    accounts.loc[unscored, "headroom"] = 0.0
    accounts.loc[unscored, "reason_codes"] = "no score: account newer than the last feature cut-off"
    segmented = assign_coverage(assign_segments(accounts, cfg.segments), cfg.coverage_tiers)
    rows = warehouse.write_table("ml", "account_segments", segmented)
    matrix = segmented.pivot_table(
        index="size_tier", columns="coverage_tier", values="account_id", aggfunc="count", fill_value=0
    )
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(rows),
            "unscored_accounts": dg.MetadataValue.int(int(unscored.sum())),
            "coverage_matrix": dg.MetadataValue.md(matrix.to_markdown()),
            "accounts_by_tier": dg.MetadataValue.json(segmented["coverage_tier"].value_counts().to_dict()),
        }
    )


defs = dg.Definitions(assets=[growth_scores, account_segments])
