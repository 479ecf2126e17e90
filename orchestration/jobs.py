"""Jobs and their schedules: the yearly redesign and the quarterly refresh, crons from config/plan.yaml.

Both jobs run the whole graph for one quarterly partition (the plan's as-of date, see
`orchestration.partitions`); ingest is unpartitioned and always lands the latest extract. A schedule
tick runs the partition of the quarter it fires in, i.e. a plan as of that quarter's first day.
"""

from __future__ import annotations

import dagster as dg

from orchestration import settings
from orchestration.partitions import partition_of, quarterly_partitions
from planning.config import load_config

PLAN_ASSETS = dg.AssetSelection.all()


def kind_config(kind: str, scenario: str | None = None) -> dict:
    """Run config that tells the plan-kind-aware assets which kind of plan this run builds.

    `kind` is yearly (redesign) or quarterly (rescore with the yearly model, keep territories, re-goal
    the remaining quarters); a `scenario` name publishes the run as a scenario plan of that kind instead
    of the plan in force.
    """
    ops = {op: {"config": {"kind": kind}} for op in ("growth_scores", "territory_design", "territory_goals")}
    ops["published_plan"] = {
        "config": {"kind": "scenario" if scenario else kind, "scenario_name": scenario or ""}
    }
    return {"ops": ops}


yearly_plan = dg.define_asset_job(
    "yearly_plan",
    selection=PLAN_ASSETS,
    description="Full redesign: ingest, warehouse, rescore, segment, workload, new territories, goals, publish.",
    config=kind_config("yearly"),
    partitions_def=quarterly_partitions,
    executor_def=dg.in_process_executor,
)

quarterly_plan = dg.define_asset_job(
    "quarterly_plan",
    selection=PLAN_ASSETS,
    description="Quarterly refresh: rescore and re-goal the remaining quarters; accounts keep their "
    "territories, new ones are placed.",
    config=kind_config("quarterly"),
    partitions_def=quarterly_partitions,
    executor_def=dg.in_process_executor,
)


def _plan_schedule(name: str, job: dg.UnresolvedAssetJobDefinition, cron: str, timezone: str):
    @dg.schedule(name=name, job=job, cron_schedule=cron, execution_timezone=timezone)
    def _schedule(context: dg.ScheduleEvaluationContext):
        """Run the partition of the quarter the tick fires in (as of that quarter's first day)."""
        key = partition_of(context.scheduled_execution_time)
        if key is None:
            return dg.SkipReason(
                f"no quarterly partition yet: they start {quarterly_partitions.start:%Y-%m-%d} "
                "(schedules.first_as_of_date, or the first quarter the demo history supports)"
            )
        return dg.RunRequest(run_key=f"{name}:{key}", partition_key=key)

    return _schedule


def build_defs() -> dg.Definitions:
    cfg = load_config(settings.config_path())
    schedules = [
        _plan_schedule(
            "yearly_plan_schedule", yearly_plan, cfg.schedules.yearly_cron, cfg.schedules.timezone
        ),
        _plan_schedule(
            "quarterly_plan_schedule", quarterly_plan, cfg.schedules.quarterly_cron, cfg.schedules.timezone
        ),
    ]
    return dg.Definitions(jobs=[yearly_plan, quarterly_plan], schedules=schedules)
