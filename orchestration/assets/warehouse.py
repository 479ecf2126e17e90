"""Warehouse group: the dbt project (staging → intermediate → marts), built by one `dbt build`."""

import json
from collections.abc import Mapping
from graphlib import TopologicalSorter
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from orchestration import settings
from orchestration import warehouse_state as state
from orchestration.dbt_project import dbt_project
from orchestration.partitions import ONE_PLAN_PER_RUN, quarterly_partitions
from orchestration.progress import SHOWN
from orchestration.resources import PlanConfigResource
from sources.raw_parquet import spark_raw_location


class CovplanDbtTranslator(DagsterDbtTranslator):
    """Keys by dbt layer folder (staging/intermediate/marts), one `warehouse` group, owners from YAML meta."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        layer = dbt_resource_props["fqn"][1] if len(dbt_resource_props["fqn"]) > 2 else "models"
        return dg.AssetKey([layer, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "warehouse"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]):
        owner = (
            dbt_resource_props.get("config", {}).get("meta") or dbt_resource_props.get("meta") or {}
        ).get("owner")
        return [owner] if owner else super().get_owners(dbt_resource_props)


class DbtWarehouseConfig(dg.Config):
    """`fresh`: run `dbt build` even when nothing it depends on changed since the last build."""

    fresh: bool = False


translator = CovplanDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=translator,
    name="dbt_warehouse",
    partitions_def=quarterly_partitions,
    backfill_policy=ONE_PLAN_PER_RUN,
)
def dbt_warehouse(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    plan_config: PlanConfigResource,
    config: DbtWarehouseConfig,
):
    """All staging, intermediate and mart models and their tests in one `dbt build` (each call costs seconds),
    as of the partition's quarter start: the marts see no data on or after it. Skipped, saying so, when
    the raw tables, the dbt project, the vars and the selection equal those of the last successful build
    (orchestration/warehouse_state.py): the marts already hold what it would build."""
    cfg = plan_config.load()
    # The lifecycle rule in fct_account_value uses the same lapsed threshold as the segments.
    dbt_vars = {"lapsed_after_days": cfg.segments.lapsed_after_days}
    as_of = context.partition_key if context.has_partition_key else cfg.plan.as_of_date
    if as_of:
        dbt_vars["as_of_date"] = str(as_of)
    if location := spark_raw_location(cfg.warehouse.spark):  # read by the on-run-start hook on Spark only
        dbt_vars["spark_raw_location"] = location
    selected = [k.to_user_string() for k in context.selected_asset_keys] + [
        f"{k.asset_key.to_user_string()}:{k.name}" for k in context.selected_asset_check_keys
    ]
    # one short connection before and after dbt: dbt (another process) needs the file to itself
    with duckdb.connect(str(settings.warehouse_path())) as con:
        inputs = state.build_inputs(con, dbt_project.project_dir, dbt_vars, selected)
        skip = state.decide(con, inputs, config.fresh)
        if not skip.reuse:
            started = state.record_start(con, context.run_id, inputs)
    if skip.reuse:
        yield from _replayed(context, skip, inputs)
        return
    context.log.info(f"{SHOWN}warehouse: dbt build ({skip.reason})")
    checks = {}
    for event in dbt.cli(["build", "--vars", json.dumps(dbt_vars)], context=context).stream():
        if isinstance(event, dg.AssetCheckResult):
            key = f"{event.asset_key.to_user_string()}:{event.check_name}"
            checks[key] = {"passed": event.passed, "severity": event.severity.value}
        yield event
    with duckdb.connect(str(settings.warehouse_path())) as con:
        state.record_success(con, context.run_id, started, checks)


def _topological(context: dg.AssetExecutionContext) -> list[dg.AssetKey]:
    """The selected models, each after the models it reads (Dagster wants a multi-asset's outputs so)."""
    selected = set(context.selected_asset_keys)
    deps = context.assets_def.asset_deps
    graph = {key: {d for d in deps.get(key, ()) if d in selected} for key in selected}
    return list(TopologicalSorter(graph).static_order())


def _replayed(context: dg.AssetExecutionContext, skip: state.Decision, inputs: state.Fingerprint):
    """Materialisations (and the check outcomes of that build) saying the marts of build X stand."""
    note = (
        f"dbt build skipped: raw tables, dbt project, vars and selection unchanged since build "
        f"{skip.run_id} ({skip.made_at:%Y-%m-%d %H:%M:%S} UTC), inputs {inputs.short}; "
        "run with --fresh to rebuild"
    )
    context.log.info(f"{SHOWN}warehouse: {note}")
    meta = {
        "reused": True,
        "reused_from_build": skip.run_id,
        "build_inputs": inputs.short,
        "note": note,
    }
    for key in _topological(context):
        yield dg.MaterializeResult(asset_key=key, metadata=meta)
    for key in context.selected_asset_check_keys:
        outcome = skip.recorded.get(f"{key.asset_key.to_user_string()}:{key.name}")
        if outcome is None:  # selection is part of the inputs, so the build covered this check
            raise RuntimeError(f"build {skip.run_id} recorded no outcome for check {key}")
        yield dg.AssetCheckResult(
            asset_key=key.asset_key,
            check_name=key.name,
            passed=outcome["passed"],
            severity=dg.AssetCheckSeverity(outcome["severity"]),
            metadata={**meta, "note": f"outcome of build {skip.run_id}, data unchanged since"},
        )


defs = dg.Definitions(assets=[dbt_warehouse], resources={"dbt": DbtCliResource(project_dir=dbt_project)})
