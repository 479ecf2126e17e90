"""ML group: growth-potential scores, then segments and coverage tiers, written to schema `ml`."""

import json
import os
from pathlib import Path

import dagster as dg
import duckdb
import joblib
import numpy as np
import pandas as pd
import sklearn

from ml.growth import (
    MODEL_CODE,
    backtest_markdown,
    fitted_cutoff_of,
    model_file_name,
    model_file_prefix,
    rescore_problem,
)
from ml.overrides import AUDIT_COLUMNS, apply_overrides, read_overrides
from ml.segments import assign_coverage, assign_overlays, assign_segments, explain_coverage
from ml.stage import cutoff_range, run_growth_stage, run_rescore_stage
from orchestration import settings
from orchestration.dbt_project import DBT_DIR
from orchestration.metadata import figures, preview
from orchestration.partitions import ONE_PLAN_PER_RUN, quarterly_partitions
from orchestration.progress import SHOWN
from orchestration.resources import PlanConfigResource, Warehouse
from orchestration.warehouse_state import project_hash
from planning.config import PlanConfig
from planning.marts import (
    STRING_DTYPE,
    Column,
    TableReader,
    index_of,
    inner_rows,
    read_columns,
    take_or,
    take_rows,
)


class GrowthRunConfig(dg.Config):
    kind: str = "yearly"  # quarterly: rescore with the yearly run's model while it applies


def model_inputs() -> dict[str, str]:
    """What a fitted model depends on besides its code, settings and seed: the dbt project that defines
    its features and the scikit-learn that unpickles and evaluates it."""
    return {"the dbt project": project_hash(DBT_DIR), "scikit-learn": sklearn.__version__}


def reusable_model(
    model_dir: Path,
    cfg: PlanConfig,
    con: duckdb.DuckDBPyConnection,
    marts: TableReader,
    inputs: dict[str, str],
) -> tuple[dict | None, Path | None, str]:
    """(the fitted models to rescore with, their file, "") or (None, None, why this quarterly run fits
    its own). The newest fit of these settings, seed and code as of this run's cut-off or before."""
    if not cfg.growth_model.quarterly_rescore:
        return None, None, "growth_model.quarterly_rescore is off"
    _, as_of_cutoff = cutoff_range(con, marts)
    if as_of_cutoff is None:
        return None, None, "marts.fct_account_features is empty"
    prefix = model_file_prefix(cfg.growth_model, cfg.seed)
    fits = {p: fitted_cutoff_of(p.name) for p in model_dir.glob(f"{prefix}*-{MODEL_CODE[:8]}.pkl")}
    usable = [(cutoff, p) for p, cutoff in fits.items() if cutoff is not None and cutoff <= as_of_cutoff]
    if not usable:
        return (
            None,
            None,
            (
                f"no model fitted with these growth_model settings, seed and code as of {as_of_cutoff.date()} "
                f"or before in {model_dir}"
            ),
        )
    _, path = max(usable)
    try:
        artifact = joblib.load(path)
    except Exception as exc:  # a truncated or foreign file is refitted, and the reason said
        return None, None, f"{path.name} could not be read ({type(exc).__name__}: {exc})"
    problem = rescore_problem(artifact, cfg.growth_model, cfg.seed, as_of_cutoff, inputs)
    return (None, None, problem) if problem else (artifact, path, "")


def save_model(artifact: dict, model_dir: Path, cfg: PlanConfig) -> Path:
    """The fitted models under a name of their own (settings, seed, fitted cut-off, code), written to a
    temporary file and renamed, so a reader never sees half a pickle and no fit replaces another's."""
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / model_file_name(cfg.growth_model, cfg.seed, artifact["metrics"]["scoring_cutoff"])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    joblib.dump(artifact, tmp)
    os.replace(tmp, path)
    return path


@dg.asset(
    partitions_def=quarterly_partitions,
    backfill_policy=ONE_PLAN_PER_RUN,
    group_name="ml",
    deps=[
        dg.AssetKey(["marts", "fct_account_features"]),
        dg.AssetKey(["marts", "dim_accounts"]),
        dg.AssetKey(["intermediate", "int_plan_calendar"]),
        dg.AssetKey(["staging", "stg_erp__transactions"]),
    ],
    kinds={"scikit-learn", "duckdb"},
    metadata={"table": "ml.account_scores"},
)
def growth_scores(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    plan_config: PlanConfigResource,
    config: GrowthRunConfig,
):
    """Expected revenue over the next four quarters and potential (wallet) per account, with a
    rolling-origin backtest against run-rate, last-quarter and BG/NBD + Gamma-Gamma baselines. A
    quarterly run rescores the as-of cut-off with the yearly run's model while that model applies
    (`growth_model.quarterly_rescore`); why it refits instead is shown on the CLI and in the metadata."""
    if config.kind not in ("yearly", "quarterly"):
        raise dg.Failure(f"growth_scores: kind {config.kind!r} is not yearly or quarterly")
    cfg = plan_config.load()
    model_dir = settings.warehouse_path().parent / "models"
    inputs = model_inputs()
    with warehouse.connection() as con, warehouse.readers() as (_, marts):
        artifact, model_path, fit_reason = None, None, "yearly run"
        if config.kind == "quarterly":
            artifact, model_path, fit_reason = reusable_model(model_dir, cfg, con, marts, inputs)
        stage = None
        if artifact is not None:
            context.log.info(
                f"{SHOWN}growth model: rescoring with {model_path.name}, fitted as of "
                f"{artifact['metrics']['scoring_cutoff']} (no backtest or refit)"
            )
            try:
                stage = run_rescore_stage(con, cfg, artifact, marts)
            except Exception as exc:  # e.g. scikit-learn internals the pickle needs: fit instead, said
                artifact, fit_reason = None, f"rescoring failed: {type(exc).__name__}: {exc}"
        if stage is None:
            if config.kind == "quarterly":
                context.log.info(f"{SHOWN}growth model: fitting and backtesting ({fit_reason})")
            stage = run_growth_stage(con, cfg, marts)
    result = stage.result
    failed = stage.bgnbd_failed if artifact is None else artifact.get("bgnbd_failed", {})
    bgnbd_error = "; ".join(f"{cutoff}: {why}" for cutoff, why in failed.items())
    if failed:  # a baseline that cannot be fitted at a cut-off is reported, not hidden or filled in
        context.log.warning(f"BG/NBD baseline left out at {len(failed)} cut-off(s): {bgnbd_error}")
    steps = stage.steps
    if not stage.buffers_released:
        context.log.warning(
            "growth model: DuckDB could not hand back the buffers its reads left cached (pinned memory), so "
            "this stage's peak memory is higher than it needs to be; the scores are not affected"
        )
    if artifact is None:
        model_path = save_model(
            {**result.artifact, "inputs": inputs, "bgnbd_failed": failed, "kind": config.kind}, model_dir, cfg
        )

    scores = result.scores.assign(model_version=result.model_version, run_id=context.run.run_id)
    rows = warehouse.write_table("ml", "account_scores", scores)
    metrics = {
        **result.metrics,
        "model_path": str(model_path),
        "model_fitted": artifact is None,
        "model_fit_reason": fit_reason if artifact is None else "",
        "train_seconds": steps["train_and_score"]["seconds"] if artifact is None else 0.0,
        "bgnbd_seconds": (
            round(steps["bgnbd_inputs_sql"]["seconds"] + steps["bgnbd_fit"]["seconds"], 2)
            if artifact is None
            else 0.0
        ),
        "bgnbd_sample_rows": cfg.growth_model.bgnbd_sample_rows,
        "stage_steps": json.dumps(steps, separators=(",", ":")),
        "baseline_bgnbd_error": bgnbd_error,
        "run_id": context.run.run_id,
    }
    warehouse.write_table("ml", "model_metrics", pd.DataFrame([metrics]))
    names = {
        "model": "model",
        "baseline_runrate": "run-rate baseline",
        "baseline_lastq": "last-quarter baseline",
        "baseline_bgnbd": "BG/NBD + Gamma-Gamma",
    }
    comparison = "\n".join(
        [
            f"Averaged over the {result.metrics['backtest_origins']} origin(s) where the model was backtested "
            f"({result.metrics['backtest_cutoffs']}).",
            "",
            "| predictor | MAE | RMSE | Spearman | top-decile capture | bias |",
            "|---|---|---|---|---|---|",
        ]
        + [
            f"| {label} | {metrics[f'{p}_mae']:,.0f} | {metrics[f'{p}_rmse']:,.0f} | "
            f"{metrics[f'{p}_spearman']:.4f} | {metrics[f'{p}_top_decile_capture']:.3f} | {metrics[f'{p}_bias']:+.3f} |"
            for p, label in names.items()
            if f"{p}_mae" in metrics
        ]
    )
    shown = {k: v for k, v in metrics.items() if k != "backtest_table"}
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(rows),
            "model_version": result.model_version,
            "backtest": dg.MetadataValue.md(comparison),
            "backtest_by_cutoff": dg.MetadataValue.md(backtest_markdown(result.backtest)),
            **figures(shown),
            "model_path": dg.MetadataValue.path(str(model_path)),
            "preview": dg.MetadataValue.md(preview(scores)),
        }
    )


OPEN_STAGES = ["prospecting", "qualification", "proposal", "negotiation"]  # rank 1..4: the furthest wins
SCORE_COLUMNS = ["expected_revenue_next_4q", "potential", "headroom", "reason_codes"]


def segment_inputs(warehouse: Warehouse) -> pd.DataFrame:
    """One row per account, ordered by account: its status, size, value, behaviour, score (if any) and
    the furthest stage of its open opportunities (if any).

    The join `marts.dim_accounts ⋈ marts.fct_account_value ⋈ marts.fct_buying_behaviour ⟕
    ml.account_scores ⟕ open stages`, done on Arrow-read columns (`planning.marts`), so the marts can
    come from DuckDB or from Spark's Parquet (opportunities included: staging is a table on Spark). Same
    frame as the SQL it replaced (tests/unit/test_mart_reader.py).
    """
    opportunities = "staging.stg_crm__opportunities"
    with warehouse.readers() as (local, marts):
        a = read_columns(
            marts,
            "marts.dim_accounts",
            ["account_id", "status", "employees", "open_pipeline_amount"],
            nullable_ints=True,
        )
        v = read_columns(marts, "marts.fct_account_value", ["account_id", "revenue_t12m", "size_bucket"])
        b = read_columns(
            marts,
            "marts.fct_buying_behaviour",
            ["account_id", "price_seeking_index", "recency_days"],
            nullable_ints=True,
        )
        s = read_columns(local, "ml.account_scores", ["account_id", *SCORE_COLUMNS], nullable_ints=True)
        o = read_columns(marts, opportunities, ["account_id", "stage", "is_closed"])
    ids = a["account_id"]
    in_v = index_of(ids, v["account_id"], "marts.fct_account_value")
    in_b = index_of(ids, b["account_id"], "marts.fct_buying_behaviour")
    rows = inner_rows(ids, in_v, in_b)
    ids = ids[rows]
    in_s = index_of(ids, s["account_id"], "ml.account_scores")
    frame = {
        "account_id": ids,
        **{c: take_rows(a[c], rows) for c in ("status", "employees", "open_pipeline_amount")},
        **{c: take_rows(v[c], in_v[rows]) for c in ("revenue_t12m", "size_bucket")},
        **{c: take_rows(b[c], in_b[rows]) for c in ("price_seeking_index", "recency_days")},
        **{c: take_rows(s[c], in_s) for c in SCORE_COLUMNS},
        "open_stage": _open_stage(ids, o),
    }
    return pd.DataFrame(frame, copy=False)


def _open_stage(ids: Column, opportunities: dict[str, Column]) -> Column:
    """Per account of `ids`, the furthest stage among its open (not closed) opportunities: a group-by
    max of the stage rank over the arrays; NA without a ranked open opportunity."""
    is_open = pd.Series(opportunities["is_closed"], copy=False).eq(False).to_numpy(dtype=bool)
    stage = pd.Series(opportunities["stage"][is_open], copy=False)
    rank = stage.map({name: k for k, name in enumerate(OPEN_STAGES, start=1)}).astype("float64")
    best = rank.groupby(opportunities["account_id"][is_open], sort=False).max()
    found = take_or(
        best.to_numpy(), index_of(ids, best.index.to_numpy(), "open stages"), np.full(len(ids), np.nan)
    )
    names = np.array([None, *OPEN_STAGES], dtype=object)[np.nan_to_num(found, nan=0).astype(np.int64)]
    return pd.array(names, dtype=STRING_DTYPE)


@dg.asset(
    partitions_def=quarterly_partitions,
    backfill_policy=ONE_PLAN_PER_RUN,
    group_name="ml",
    deps=[
        growth_scores,
        dg.AssetKey(["marts", "dim_accounts"]),
        dg.AssetKey(["marts", "fct_account_value"]),
        dg.AssetKey(["marts", "fct_buying_behaviour"]),
        dg.AssetKey(["staging", "stg_crm__opportunities"]),
    ],
    kinds={"pandas", "duckdb"},
    metadata={"table": "ml.account_segments"},
)
def account_segments(warehouse: Warehouse, plan_config: PlanConfigResource):
    """Size tier, value × potential quadrant, behaviour, lifecycle, coverage tier and specialist overlay
    (rules in config), then the manual overrides of `overrides.csv` beside the plan config, audited."""
    cfg = plan_config.load()
    accounts = segment_inputs(warehouse)
    unscored = accounts["expected_revenue_next_4q"].isna()
    # Accounts created after the last feature cut-off have no score yet: they are planned on today's value.
    accounts.loc[unscored, "expected_revenue_next_4q"] = accounts.loc[unscored, "revenue_t12m"]
    accounts.loc[unscored, "potential"] = accounts.loc[unscored, "revenue_t12m"]
    accounts.loc[unscored, "headroom"] = 0.0
    accounts.loc[unscored, "reason_codes"] = "no score: account newer than the last feature cut-off"
    segmented = assign_coverage(assign_segments(accounts, cfg.segments), cfg.coverage_tiers)
    segmented["coverage_reason"] = explain_coverage(segmented)
    segmented = assign_overlays(segmented, cfg.specialist_overlays)
    overrides_path = settings.config_path().parent / "overrides.csv"
    overrides = read_overrides(overrides_path)
    segmented = apply_overrides(segmented, overrides, cfg, overrides_path)
    rows = warehouse.write_table("ml", "account_segments", segmented)
    matrix = segmented.pivot_table(
        index="size_tier", columns="coverage_tier", values="account_id", aggfunc="count", fill_value=0
    )
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(rows),
            "unscored_accounts": dg.MetadataValue.int(int(unscored.sum())),
            "overrides_file": dg.MetadataValue.path(str(overrides_path)),
            "overrides_applied": dg.MetadataValue.int(len(overrides)),
            "overridden_accounts": dg.MetadataValue.md(
                preview(
                    segmented.loc[segmented["override_field"].notna(), ["account_id", *AUDIT_COLUMNS]],
                    rows=20,
                )
            ),
            "specialist_overlays": dg.MetadataValue.json(
                segmented["specialist_overlay"].value_counts().to_dict()
            ),
            "coverage_matrix": dg.MetadataValue.md(matrix.to_markdown()),
            "accounts_by_tier": dg.MetadataValue.json(segmented["coverage_tier"].value_counts().to_dict()),
        }
    )


defs = dg.Definitions(assets=[growth_scores, account_segments])
