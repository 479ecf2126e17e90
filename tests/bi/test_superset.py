"""A real BI tool reads the published plan: Apache Superset, through its REST API, on the DuckDB file
(read-only) and on the PostgreSQL publish target; its chart figures equal the warehouse's."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest
from superset_api import add_database, add_dataset, aggregate, duckdb_uri, postgres_uri

from planning.publish import publish_plan, publish_postgres

pytestmark = pytest.mark.bi


def _cents(values: dict) -> dict:
    return {k: round(float(v) * 100) for k, v in values.items()}


@pytest.fixture(scope="module")
def warehouse_figures(demo_plan) -> dict:
    """Goal per territory (cents) and accounts per coverage tier, straight from the warehouse tables."""
    with duckdb.connect(str(demo_plan / "warehouse.duckdb"), read_only=True) as con:
        goals = dict(
            con.execute(
                "select territory_id, sum(goal_cents) from planning.territory_goals group by 1"
            ).fetchall()
        )
        tiers = dict(
            con.execute("select coverage_tier, count(*) from ml.account_segments group by 1").fetchall()
        )
    return {"goal_by_territory": {k: int(v) for k, v in goals.items()}, "accounts_by_tier": tiers}


@pytest.fixture(scope="module")
def connected(superset, demo_plan, pg_session_url) -> dict:
    """Superset databases on the DuckDB file and on PostgreSQL, with the two datasets on each."""
    published = demo_plan / "published" / "plan.duckdb"
    publish_postgres(published, pg_session_url, schema="covplan")
    out = {}
    for engine, uri, schema in (
        ("duckdb", duckdb_uri(published), "main"),
        ("postgres", postgres_uri(pg_session_url), "covplan"),
    ):
        db = add_database(superset, f"covplan {engine}", uri)
        out[engine] = {
            "db": db,
            "plan": add_dataset(superset, db, schema, "latest_account_plan"),
            "goals": add_dataset(superset, db, schema, "latest_territory_goals"),
        }
    return out


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_chart_figures_equal_the_warehouse(superset, connected, warehouse_figures, demo_plan, engine):
    ds = connected[engine]
    goal_by_territory = aggregate(superset, ds["goals"], "territory_id", "SUM(goal)")
    accounts_by_tier = aggregate(superset, ds["plan"], "coverage_tier", "COUNT(*)")

    assert _cents(goal_by_territory) == warehouse_figures["goal_by_territory"]
    assert accounts_by_tier == warehouse_figures["accounts_by_tier"]
    assert sum(accounts_by_tier.values()) == 2000 and len(goal_by_territory) == 16
    # and the same aggregates over the published file itself
    with duckdb.connect(str(demo_plan / "published" / "plan.duckdb"), read_only=True) as con:
        published_goals = dict(
            con.execute("select territory_id, sum(goal) from latest_territory_goals group by 1").fetchall()
        )
    assert _cents(goal_by_territory) == _cents(published_goals)


def test_a_new_plan_shows_in_the_next_query_without_restarting_superset(
    superset, connected, demo_plan, pg_session_url
):
    published = demo_plan / "published"
    before = {e: aggregate(superset, connected[e]["plan"], "plan_id", "COUNT(*)") for e in connected}
    with duckdb.connect(str(published / "plan.duckdb"), read_only=True) as con:
        old = con.execute("select * from latest_plan_runs").df().iloc[0].to_dict()
    assert before["duckdb"] == before["postgres"] == {old["plan_id"]: 2000}

    meta = {**old, "plan_id": old["plan_id"] + "-again", "created_at": datetime.now()}
    meta["company_target_cents"] = round(float(meta.pop("company_target")) * 100)
    with duckdb.connect(str(demo_plan / "warehouse.duckdb")) as con:
        out = publish_plan(con, meta, published)
    assert out.in_force == meta["plan_id"]
    publish_postgres(published / "plan.duckdb", pg_session_url, schema="covplan")

    after = {e: aggregate(superset, connected[e]["plan"], "plan_id", "COUNT(*)") for e in connected}
    assert after["duckdb"] == after["postgres"] == {meta["plan_id"]: 2000}
