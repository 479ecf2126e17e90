"""Jobs and their schedules: the yearly redesign and the quarterly refresh, crons from config/plan.yaml."""

from __future__ import annotations

import dagster as dg

from orchestration import settings
from planning.config import load_config

PLAN_ASSETS = dg.AssetSelection.all()


def kind_config(kind: str) -> dict:
    """Run config that tells the plan-kind-aware assets which kind of plan this run builds."""
    ops = {op: {"config": {"kind": kind}} for op in ("territory_design", "published_plan")}
    return {"ops": ops}


yearly_plan = dg.define_asset_job(
    "yearly_plan",
    selection=PLAN_ASSETS,
    description="Full redesign: ingest, warehouse, rescore, segment, workload, new territories, goals, publish.",
    config=kind_config("yearly"),
    executor_def=dg.in_process_executor,
)

quarterly_plan = dg.define_asset_job(
    "quarterly_plan",
    selection=PLAN_ASSETS,
    description="Quarterly refresh: rescore and re-goal; accounts keep their territories, new ones are placed.",
    config=kind_config("quarterly"),
    executor_def=dg.in_process_executor,
)


def build_defs() -> dg.Definitions:
    cfg = load_config(settings.config_path())
    schedules = [
        dg.ScheduleDefinition(
            name="yearly_plan_schedule",
            job=yearly_plan,
            cron_schedule=cfg.schedules.yearly_cron,
            execution_timezone=cfg.schedules.timezone,
        ),
        dg.ScheduleDefinition(
            name="quarterly_plan_schedule",
            job=quarterly_plan,
            cron_schedule=cfg.schedules.quarterly_cron,
            execution_timezone=cfg.schedules.timezone,
        ),
    ]
    return dg.Definitions(jobs=[yearly_plan, quarterly_plan], schedules=schedules)
