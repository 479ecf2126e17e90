"""Publish group: the plan contract to data/published (DuckDB swapped in atomically, and Parquet)."""

import json
import os
import re
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version

import dagster as dg
import pandas as pd

from orchestration.assets.goals import territory_goals
from orchestration.assets.planning import territory_design
from orchestration.metadata import preview
from orchestration.partitions import ONE_PLAN_PER_RUN, quarterly_partitions
from orchestration.resources import PlanConfigResource, Warehouse
from orchestration.settings import draft_report_path
from planning.config import PROJECT_ROOT
from planning.marts import fill_relations
from planning.publish import PUBLISHED_TABLES, publish_plan, publish_postgres, scalar
from planning.report import promote_report

RAW_TABLES = ["accounts", "contacts", "reps", "opportunities", "transactions"]


def code_version() -> str:
    """The git commit of the checkout when there is one, else the installed package version."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        return f"git:{sha}"
    except (OSError, subprocess.SubprocessError):
        return f"covplan=={version('covplan')}"


PG_URL_ENV = "COVPLAN_PUBLISH_PG_URL"


class PublishKindConfig(dg.Config):
    """yearly | quarterly: the plan in force; scenario: a what-if plan, kept beside it under its name."""

    kind: str = "yearly"
    scenario_name: str = ""


def make_plan_id(kind: str, as_of, run_id: str, scenario: str = "") -> str:
    """Readable and unique: kind (and scenario name), as-of date and the Dagster run that built it."""
    name = re.sub(r"[^a-z0-9]+", "-", scenario.lower()).strip("-")
    prefix = f"scenario-{name}" if kind == "scenario" and name else kind
    return f"{prefix}-{as_of:%Y%m%d}-{run_id[:8]}"


@dg.asset(
    partitions_def=quarterly_partitions,
    backfill_policy=ONE_PLAN_PER_RUN,
    group_name="publish",
    deps=[territory_design, territory_goals],
    kinds={"duckdb", "parquet", "postgres"},
    metadata={"tables": ", ".join(PUBLISHED_TABLES)},
)
def published_plan(
    context: dg.AssetExecutionContext,
    config: PublishKindConfig,
    warehouse: Warehouse,
    plan_config: PlanConfigResource,
):
    """The versioned plan tables (plan_runs, account_plan, territories, territory_goals, coverage_summary)
    with the last plans kept and `latest_` views on the plan in force, written to a new DuckDB file
    swapped over data/published/plan.duckdb, to Parquet, and to PostgreSQL when COVPLAN_PUBLISH_PG_URL
    is set."""
    if config.kind not in ("yearly", "quarterly", "scenario"):
        raise dg.Failure(f"published_plan: kind {config.kind!r} is not yearly, quarterly or scenario")
    if config.kind == "scenario" and not config.scenario_name:
        raise dg.Failure(
            "published_plan: a scenario plan needs a scenario_name (covplan plan --scenario NAME)"
        )
    cfg = plan_config.load()
    run_id = context.run.run_id
    with warehouse.connection() as con, warehouse.readers() as (_, marts):
        as_of = scalar(con, fill_relations("select max(as_of_date) from {marts.fct_account_value}", marts))
        counts = {t: scalar(con, f"select count(*) from raw.{t}") for t in RAW_TABLES}
        model = con.execute("select * from ml.model_metrics").df().iloc[0].to_dict()
        design = con.execute("select * from planning.design_metrics").df().iloc[0].to_dict()
        target = scalar(con, "select sum(goal_cents) from planning.territory_goals")
        goal_metrics = con.execute("select * from planning.goal_metrics").df().iloc[0].to_dict()
        meta = {
            "plan_id": make_plan_id(config.kind, as_of, run_id, config.scenario_name),
            "kind": config.kind,
            "as_of_date": as_of,
            "created_at": datetime.now(UTC).replace(tzinfo=None),
            "dagster_run_id": run_id,
            "code_version": code_version(),
            "config_hash": cfg.config_hash(),
            "company_target_cents": int(target),
            "input_row_counts": counts,
            "model_metrics": model,
            "territory_metrics": design,
            "goal_metrics": goal_metrics,
            "scenario_name": config.scenario_name or None,
            "config_overrides": json.loads(plan_config.overrides_json),
        }
        out = publish_plan(
            con,
            meta,
            plan_config.published_dir(),
            keep_last=cfg.publish.keep_last,
            storage_compatibility_version=cfg.publish.storage_compatibility_version,
            duckdb_config=warehouse.connection_config,
            marts=marts,
        )
    context.log.info(f"published plan {meta['plan_id']} to {out.duckdb_path}")
    report = promote_report(
        draft_report_path(run_id), plan_config.published_dir(), meta["plan_id"], out.in_force
    )
    postgres = "not configured (set COVPLAN_PUBLISH_PG_URL)"
    if os.environ.get(PG_URL_ENV):
        import sqlalchemy as sa

        publish_postgres(
            out.duckdb_path,
            os.environ[PG_URL_ENV],
            cfg.publish.postgres_schema,
            duckdb_config=warehouse.connection_config,
            marts=marts,
        )
        postgres = f"{sa.engine.make_url(os.environ[PG_URL_ENV]).render_as_string()} schema {cfg.publish.postgres_schema}"
        context.log.info(f"published to PostgreSQL: {postgres}")
    return dg.MaterializeResult(
        metadata={
            "plan_id": meta["plan_id"],
            "kind": config.kind,
            "as_of_date": str(as_of),
            "dagster_run_id": run_id,
            "code_version": meta["code_version"],
            "config_hash": meta["config_hash"],
            "company_target": dg.MetadataValue.float(int(target) / 100),
            "plan_in_force": str(out.in_force),
            "report": dg.MetadataValue.path(str(report))
            if report
            else "no report drafted by territory_design",
            "kept_plans": dg.MetadataValue.json(out.kept_plans),
            "dropped_plans": dg.MetadataValue.json(out.dropped_plans),
            "postgres": postgres,
            "duckdb": dg.MetadataValue.path(str(out.duckdb_path)),
            "parquet": dg.MetadataValue.path(str(out.parquet_dir)),
            "row_counts": dg.MetadataValue.json(out.row_counts),
            "input_row_counts": dg.MetadataValue.json(json.loads(json.dumps(counts, default=int))),
            "tables": dg.MetadataValue.md(
                preview(
                    pd.DataFrame(
                        {"table": PUBLISHED_TABLES, "rows": [out.row_counts[t] for t in PUBLISHED_TABLES]}
                    )
                )
            ),
        }
    )


defs = dg.Definitions(assets=[published_plan])
