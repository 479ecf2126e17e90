"""Publish group: the plan contract to data/published (DuckDB swapped in atomically, and Parquet)."""

import json
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version

import dagster as dg
import pandas as pd

from orchestration.assets.goals import territory_goals
from orchestration.assets.planning import PlanKindConfig, territory_design
from orchestration.metadata import preview
from orchestration.resources import PlanConfigResource, Warehouse
from planning.config import PROJECT_ROOT
from planning.publish import PUBLISHED_TABLES, publish_plan, scalar

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


def make_plan_id(kind: str, as_of, run_id: str) -> str:
    """Readable and unique: kind, as-of date and the Dagster run that built it."""
    return f"{kind}-{as_of:%Y%m%d}-{run_id[:8]}"


@dg.asset(group_name="publish", deps=[territory_design, territory_goals], kinds={"duckdb", "parquet"})
def published_plan(
    context: dg.AssetExecutionContext,
    config: PlanKindConfig,
    warehouse: Warehouse,
    plan_config: PlanConfigResource,
):
    """The versioned plan tables (plan_runs, account_plan, territories, territory_goals, coverage_summary),
    written to a new DuckDB file swapped over data/published/plan.duckdb, and to Parquet."""
    cfg = plan_config.load()
    run_id = context.run.run_id
    with warehouse.connection() as con:
        as_of = scalar(con, "select max(as_of_date) from marts.fct_account_value")
        counts = {t: scalar(con, f"select count(*) from raw.{t}") for t in RAW_TABLES}
        model = con.execute("select * from ml.model_metrics").df().iloc[0].to_dict()
        design = con.execute("select * from planning.design_metrics").df().iloc[0].to_dict()
        target = scalar(con, "select sum(goal_cents) from planning.account_goals")
        meta = {
            "plan_id": make_plan_id(config.kind, as_of, run_id),
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
        }
        out = publish_plan(con, meta, plan_config.published_dir())
    context.log.info(f"published plan {meta['plan_id']} to {out.duckdb_path}")
    return dg.MaterializeResult(
        metadata={
            "plan_id": meta["plan_id"],
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
