"""Warehouse group: the dbt project (staging → intermediate → marts), built by one `dbt build`."""

import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from orchestration.dbt_project import dbt_project
from orchestration.partitions import ONE_PLAN_PER_RUN, quarterly_partitions
from orchestration.resources import PlanConfigResource


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


translator = CovplanDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=translator,
    name="dbt_warehouse",
    partitions_def=quarterly_partitions,
    backfill_policy=ONE_PLAN_PER_RUN,
)
def dbt_warehouse(context: dg.AssetExecutionContext, dbt: DbtCliResource, plan_config: PlanConfigResource):
    """All staging, intermediate and mart models and their tests in one `dbt build` (each call costs seconds),
    as of the partition's quarter start: the marts see no data on or after it."""
    cfg = plan_config.load()
    # The lifecycle rule in fct_account_value uses the same lapsed threshold as the segments.
    dbt_vars = {"lapsed_after_days": cfg.segments.lapsed_after_days}
    as_of = context.partition_key if context.has_partition_key else cfg.plan.as_of_date
    if as_of:
        dbt_vars["as_of_date"] = str(as_of)
    yield from dbt.cli(["build", "--vars", json.dumps(dbt_vars)], context=context).stream()


defs = dg.Definitions(assets=[dbt_warehouse], resources={"dbt": DbtCliResource(project_dir=dbt_project)})
