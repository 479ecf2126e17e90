"""Planning group: workload and headcount, territory design, territory goals (schema `planning`)."""

import dagster as dg
import pandas as pd

from orchestration.assets.ml import account_segments
from orchestration.metadata import figures, preview
from orchestration.partitions import ONE_PLAN_PER_RUN, quarterly_partitions
from orchestration.resources import PlanConfigResource, Warehouse
from orchestration.settings import draft_report_path
from planning.config import PlanConfig
from planning.marts import TableReader, index_of, inner_rows, read_columns, read_frame, take_or
from planning.publish import read_plan, reference_plan
from planning.report import write_report
from planning.territories import (
    MEASURE_COLUMNS,
    SolverOptions,
    TerritoryDesignError,
    assign_new_accounts,
    design_territories,
    staff_territories,
    territory_ids,
)
from planning.workload import account_workload, required_headcount


class PlanKindConfig(dg.Config):
    """yearly: full territory redesign; quarterly: keep every account's territory, place new ones only."""

    kind: str = "yearly"


SEGMENT_COLUMNS = ["account_id", "size_bucket", "coverage_role", "specialist_overlay"]


def read_reps(marts: TableReader, columns: list[str]) -> pd.DataFrame:
    """The reps (`staging.stg_crm__reps`, one row per rep) from where dbt built them, `rep_role` as
    `role`, in rep_id order: an engine's Parquet parts hold rows in no set order, and owners are handed
    out in this order."""
    reps = read_frame(marts, "staging.stg_crm__reps", columns).rename(columns={"rep_role": "role"})
    return reps.sort_values("rep_id", kind="stable", ignore_index=True)


@dg.asset(
    partitions_def=quarterly_partitions,
    backfill_policy=ONE_PLAN_PER_RUN,
    group_name="planning",
    deps=[account_segments, dg.AssetKey(["staging", "stg_crm__reps"])],
    kinds={"pandas", "duckdb"},
    metadata={"table": "planning.account_workload"},
)
def account_workload_hours(warehouse: Warehouse, plan_config: PlanConfigResource):
    """Selling hours a year per account from the service assumptions (plus its specialist overlay's
    hours), and headcount needed per coverage role and per overlay."""
    cfg = plan_config.load()
    with warehouse.readers() as (local, marts):
        segments = read_frame(local, "ml.account_segments", SEGMENT_COLUMNS)
        reps = read_reps(marts, ["rep_id", "rep_role"])
    workload = account_workload(segments, cfg.workload)
    headcount = required_headcount(workload, cfg.workload, reps)
    warehouse.write_table("planning", "account_workload", workload)
    warehouse.write_table("planning", "coverage_summary", headcount)
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(len(workload)),
            "total_hours": dg.MetadataValue.float(round(float(workload["workload_hours"].sum()), 1)),
            "overlay_hours": dg.MetadataValue.float(round(float(workload["overlay_hours"].sum()), 1)),
            "headcount": dg.MetadataValue.md(headcount.round(2).to_markdown(index=False)),
        }
    )


def design_inputs(warehouse: Warehouse) -> pd.DataFrame:
    """One row per account for territory design: its workload, location, value and potential.

    The join `planning.account_workload ⋈ marts.dim_accounts ⋈ marts.fct_account_value ⟕
    ml.account_scores`, ordered by account, done on Arrow-read numpy columns so the marts can come from
    DuckDB or from Spark's Parquet (`Warehouse.readers`); potential falls back to trailing revenue.
    """
    with warehouse.readers() as (local, marts):
        w = read_columns(
            local, "planning.account_workload", ["account_id", "coverage_role", "workload_hours"]
        )
        a = read_columns(marts, "marts.dim_accounts", ["account_id", "lat", "lon"])
        v = read_columns(marts, "marts.fct_account_value", ["account_id", "revenue_t12m"])
        s = read_columns(local, "ml.account_scores", ["account_id", "potential"])
    ids = w["account_id"]
    in_a = index_of(ids, a["account_id"], "marts.dim_accounts")
    in_v = index_of(ids, v["account_id"], "marts.fct_account_value")
    rows = inner_rows(ids, in_a, in_v)
    revenue = v["revenue_t12m"][in_v[rows]]
    in_s = index_of(ids[rows], s["account_id"], "ml.account_scores")
    return pd.DataFrame(
        {
            "account_id": ids[rows],
            "coverage_role": w["coverage_role"][rows],
            "workload_hours": w["workload_hours"][rows],
            "lat": a["lat"][in_a[rows]],
            "lon": a["lon"][in_a[rows]],
            "revenue_t12m": revenue,
            "potential": take_or(s["potential"], in_s, revenue),
        },
        copy=False,
    )


def solver_options(cfg: PlanConfig) -> SolverOptions:
    """The optimiser's knobs from `territories:` in config/plan.yaml (seeded from the plan seed)."""
    t = cfg.territories
    return SolverOptions(
        tolerance=t.balance_tolerance,
        target=min(t.balance_target, t.balance_tolerance),
        disruption_weight=t.disruption_weight,
        candidates=t.candidates,
        max_iterations=t.max_iterations,
        location_arcs_budget=t.location_arcs_budget,
        time_limit_seconds=t.time_limit_seconds,
        seed=cfg.seed,
        processes=t.processes,
    )


def rep_centres(reps: pd.DataFrame, roles: list[str]) -> dict[str, pd.DataFrame]:
    """Fixed centres: one territory per rep of each geographic role, centred on the rep's home base."""
    out = {}
    for role in roles:
        pool = reps[(reps["role"] == role) & reps["home_lat"].notna()].sort_values("rep_id")
        if len(pool):
            out[role] = pd.DataFrame(
                {
                    "territory_id": territory_ids(role, len(pool)),
                    "lat": pool["home_lat"].to_numpy(),
                    "lon": pool["home_lon"].to_numpy(),
                }
            )
    return out


def plan_built_on(
    warehouse: Warehouse, plan_config: PlanConfigResource, kind: str
) -> tuple[pd.DataFrame | None, str | None]:
    """The account_plan rows and plan_id of the published plan this run builds on: the newest one
    before the as-of date the marts were built for (a later quarter's plan never changes a backfill)."""
    with warehouse.readers() as (_, marts):
        as_of = pd.Timestamp(
            read_columns(marts, "marts.fct_account_value", ["as_of_date"])["as_of_date"].max()
        )
    plan_id = reference_plan(plan_config.published_dir(), as_of, kind)
    if plan_id is None:
        return None, None
    return read_plan(plan_config.published_dir(), "account_plan", plan_id), plan_id


@dg.asset(
    partitions_def=quarterly_partitions,
    backfill_policy=ONE_PLAN_PER_RUN,
    group_name="planning",
    deps=[
        account_workload_hours,
        dg.AssetKey(["marts", "dim_accounts"]),
        dg.AssetKey(["staging", "stg_crm__reps"]),
    ],
    kinds={"pandas", "duckdb"},
    metadata={"table": "planning.territory_assignment"},
    check_specs=[
        dg.AssetCheckSpec("every_account_assigned_once", asset="territory_design", blocking=True),
        dg.AssetCheckSpec("workload_within_tolerance", asset="territory_design", blocking=True),
        dg.AssetCheckSpec("locks_honoured", asset="territory_design", blocking=True),
    ],
)
def territory_design(
    context: dg.AssetExecutionContext,
    config: PlanKindConfig,
    warehouse: Warehouse,
    plan_config: PlanConfigResource,
):
    """Territories per coverage role, balanced on workload hours (field pools compact by location).
    Quarterly runs keep the assignments of the plan they build on (the newest published before their
    as-of date, `planning.publish.reference_plan`) and only place new accounts."""
    cfg = plan_config.load()
    accounts = design_inputs(warehouse)
    # overlay specialists support accounts across territories: only coverage roles get territories
    headcount = warehouse.query_df(
        "select role, headcount from planning.coverage_summary where kind = 'coverage_role'"
    )
    counts = {r: int(n) for r, n in zip(headcount["role"], headcount["headcount"], strict=True) if n > 0}
    counts.update(cfg.territories.count)
    previous, builds_on = plan_built_on(warehouse, plan_config, config.kind)
    context.log.info(f"{config.kind} plan as of the partition builds on published plan {builds_on}")
    opts = solver_options(cfg)
    measures = [MEASURE_COLUMNS[m] for m in cfg.territories.measures]
    locks = dict(cfg.territories.locks)
    with warehouse.readers() as (_, marts):
        reps = read_reps(marts, ["rep_id", "rep_role", "home_lat", "home_lon"])
    try:
        if config.kind == "quarterly" and previous is not None:
            design = assign_new_accounts(
                accounts,
                previous.rename(columns={"coverage_role": "role"}),
                cfg.territories.geographic_roles,
                cfg.territories.balance_tolerance,
                options=opts,
                measures=measures,
                locks=locks,
            )
        else:
            if config.kind == "quarterly":
                context.log.warning(
                    "quarterly run with no published plan to keep: designing territories from scratch"
                )
            centres = (
                rep_centres(reps, cfg.territories.geographic_roles) if cfg.territories.fixed_centres else None
            )
            design = design_territories(
                accounts,
                counts,
                cfg.territories.geographic_roles,
                cfg.territories.balance_tolerance,
                options=opts,
                measures=measures,
                previous=previous[["account_id", "territory_id"]] if previous is not None else None,
                locks=locks,
                centres=centres,
            )
    except TerritoryDesignError as exc:
        raise dg.Failure(description=str(exc)) from None
    assignment = design.assignment.assign(run_id=context.run.run_id)
    if previous is not None:
        prev = previous[["account_id", "territory_id"]].rename(
            columns={"territory_id": "previous_territory_id"}
        )
        assignment = assignment.merge(prev, on="account_id", how="left")
    else:
        assignment["previous_territory_id"] = None
    warehouse.write_table("planning", "territory_assignment", assignment)
    territories = staff_territories(design.territories, reps, cfg.territories.geographic_roles)
    warehouse.write_table("planning", "territories", territories.assign(run_id=context.run.run_id))
    metrics = pd.DataFrame([{**design.metrics, "run_id": context.run.run_id}])
    metrics["builds_on_plan_id"] = pd.Series([builds_on], dtype="string")
    warehouse.write_table("planning", "design_metrics", metrics)
    if design.metrics.get("time_limit_pools"):
        context.log.warning(
            f"territory design hit territories.time_limit_seconds ({cfg.territories.time_limit_seconds} s) in "
            f"pool(s) {design.metrics['time_limit_pools']}: the design is valid but may differ from a run on a "
            "faster or less busy machine; raise the limit for a reproducible plan"
        )
    # A draft per run beside the warehouse: the publish step promotes it to the published report.html
    # only when this run's plan becomes the plan in force (a scenario or a backfill never replaces it).
    report_path = draft_report_path(context.run.run_id)
    write_report(
        report_path,
        accounts=design.accounts,
        territories=territories,
        reps=reps,
        segments=warehouse.query_df(
            "select size_tier, coverage_tier, count(*) as accounts from ml.account_segments group by 1, 2"
        ),
        headcount=warehouse.query_df("select * from planning.coverage_summary order by role"),
        metrics=design.metrics,
        title=f"covplan {config.kind} plan — run {context.run.run_id[:8]}",
    )

    yield dg.MaterializeResult(
        metadata={
            **figures(design.metrics),
            "builds_on_plan_id": dg.MetadataValue.text(str(builds_on)),
            "vacant_territories": dg.MetadataValue.int(int(territories["owner_rep_id"].isna().sum())),
            "territories_table": dg.MetadataValue.md(preview(design.territories.round(3), rows=20)),
            "report_draft": dg.MetadataValue.text(
                f"{report_path} (published_plan keeps it as the plan's report)"
            ),
        }
    )
    n_assigned = assignment["account_id"].nunique()
    yield dg.AssetCheckResult(
        check_name="every_account_assigned_once",
        passed=bool(
            n_assigned == len(accounts) == len(assignment) and assignment["territory_id"].notna().all()
        ),
        metadata={
            "accounts": len(accounts),
            "assignment_rows": len(assignment),
            "distinct_assigned": n_assigned,
        },
    )
    worst = design.territories.loc[design.territories["balance_deviation"].abs().idxmax()]
    yield dg.AssetCheckResult(
        check_name="workload_within_tolerance",
        passed=bool(design.metrics["territories_outside_tolerance"] == 0),
        # a quarterly run may not move accounts to rebalance: imbalance there warns, it does not block
        severity=dg.AssetCheckSeverity.ERROR if config.kind == "yearly" else dg.AssetCheckSeverity.WARN,
        metadata={
            "tolerance": cfg.territories.balance_tolerance,
            "max_abs_deviation": float(abs(worst["balance_deviation"])),
            "worst_territory": str(worst["territory_id"]),
        },
        description=None
        if design.metrics["territories_outside_tolerance"] == 0
        else "territories outside the tolerance: raise territories.balance_tolerance or set territories.count in config/plan.yaml",
    )

    yield dg.AssetCheckResult(
        check_name="locks_honoured",
        passed=bool(design.metrics["locks_honoured"] == design.metrics["locks"] == len(locks)),
        metadata={"locks": len(locks), "honoured": int(design.metrics["locks_honoured"])},
    )


defs = dg.Definitions(assets=[account_workload_hours, territory_design])
