"""deploy/dagster.yaml against a real PostgreSQL: `quarterly_plan` runs on an instance built from the
committed file, and its run and asset events are then found by SQL in Dagster's own tables.

The job runs through `covplan plan` in a subprocess (the CLI opens `DagsterInstance.get()` from
DAGSTER_HOME), so the instance is exactly what a server with that file and environment would get.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from planning.config import PROJECT_ROOT

DEPLOY_YAML = PROJECT_ROOT / "deploy" / "dagster.yaml"
# The plan assets whose materializations must be in PostgreSQL's event log after a quarterly run.
PLAN_ASSETS = {
    dg.AssetKey("account_workload_hours"),
    dg.AssetKey("territory_design"),
    dg.AssetKey("territory_goals"),
    dg.AssetKey("published_plan"),
}


def _instance_env(pg_url: str, home, logs) -> dict[str, str]:
    """The environment deploy/dagster.yaml reads its connection (and compute-log folder) from."""
    pg = sa.engine.make_url(pg_url)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": pg.host,
        "DAGSTER_PG_PORT": str(pg.port or 5432),
        "DAGSTER_PG_DB": pg.database,
        "DAGSTER_PG_USER": pg.username,
        "DAGSTER_PG_PASSWORD": pg.password or "",
        "DAGSTER_COMPUTE_LOGS_DIR": str(logs),
        # the plan's own warehouse, never the checkout's data/warehouse.duckdb (a developer's plan)
        "COVPLAN_WAREHOUSE": str(Path(logs).parent / "warehouse.duckdb"),
    }
    env.pop("COVPLAN_PUBLISH_PG_URL", None)  # this test is about Dagster's storage, not the BI publish
    return env


def test_quarterly_plan_run_and_asset_events_land_in_postgres(tmp_path, pg_database):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_YAML, home / "dagster.yaml")
    env = _instance_env(pg_database, home, tmp_path / "compute_logs")
    cmd = [sys.executable, "-m", "orchestration.cli", "plan", "--size", "small", "--kind", "quarterly"]
    proc = subprocess.run(
        [*cmd, "--out", str(tmp_path)], env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not (home / "history").exists()  # nothing fell back to SQLite storage under the home

    engine = sa.create_engine(pg_database)
    try:
        with engine.connect() as con:
            runs = con.execute(
                sa.text("select run_id, pipeline_name, status, partition from runs")
            ).fetchall()
            assert [(r.pipeline_name, r.status) for r in runs] == [("quarterly_plan", "SUCCESS")]
            run_id, partition = runs[0].run_id, runs[0].partition
            assert run_id[:8] in proc.stdout  # the run the CLI reported is the one in PostgreSQL
            events = con.execute(
                sa.text(
                    "select asset_key, partition from event_logs "
                    "where run_id = :run and dagster_event_type = 'ASSET_MATERIALIZATION'"
                ),
                {"run": run_id},
            ).fetchall()
            steps = con.execute(
                sa.text(
                    "select count(*) from event_logs "
                    "where run_id = :run and dagster_event_type = 'STEP_SUCCESS'"
                ),
                {"run": run_id},
            ).scalar_one()
    finally:
        engine.dispose()
    materialized = {dg.AssetKey.from_db_string(key): part for key, part in events}
    assert set(materialized) >= PLAN_ASSETS
    assert {materialized[k] for k in PLAN_ASSETS} == {partition}  # one quarterly partition, as run
    assert partition is not None and steps >= len(PLAN_ASSETS)
