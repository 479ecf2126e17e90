"""The ready dashboard: bi/superset/covplan_dashboard imports into Superset through the API and every
chart returns rows through /api/v1/chart/data."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import duckdb
import pytest
import yaml

pytestmark = pytest.mark.bi
ROOT = Path(__file__).resolve().parents[2]
CHARTS = {
    "territory_balance",
    "goals_by_quarter",
    "coverage_matrix",
    "headcount_by_role",
    "moved_accounts",
}


def _bundle_module():
    spec = importlib.util.spec_from_file_location("covplan_bundle", ROOT / "bi" / "superset" / "bundle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundle_datasets_list_the_published_columns(demo_plan):
    """A column added to the contract shows up in the dashboard's datasets (with its description)."""
    folder = ROOT / "bi" / "superset" / "covplan_dashboard" / "datasets" / "covplan"
    with duckdb.connect(str(demo_plan / "published" / "plan.duckdb"), read_only=True) as con:
        for path in sorted(folder.glob("*.yaml")):
            dataset = yaml.safe_load(path.read_text())
            published = [r[0] for r in con.execute(f'describe "{dataset["table_name"]}"').fetchall()]
            assert [c["column_name"] for c in dataset["columns"]] == published, path.name
            assert all(c["description"] for c in dataset["columns"]), path.name


def test_the_dashboard_imports_and_every_chart_returns_rows(superset, demo_plan, tmp_path):
    bundle = _bundle_module()
    values = bundle.connection(str(demo_plan / "published" / "plan.duckdb"), None, None)
    archive = bundle.write_bundle(tmp_path / "covplan_dashboard.zip", values)
    superset.call(
        "POST",
        "/api/v1/dashboard/import/",
        files={"formData": str(archive)},
        form={"overwrite": "true"},
    )
    dashboard = superset.call("GET", "/api/v1/dashboard/covplan")["result"]
    charts = superset.call("GET", f"/api/v1/dashboard/{dashboard['id']}/charts")["result"]
    by_uuid = {
        yaml.safe_load(p.read_text())["slice_name"]: p.stem
        for p in (ROOT / "bi/superset/covplan_dashboard/charts").glob("*.yaml")
    }
    assert {by_uuid[c["slice_name"]] for c in charts} == CHARTS

    rows = {}
    for chart in charts:
        saved = superset.call("GET", f"/api/v1/chart/{chart['id']}")["result"]
        results = superset.call("POST", "/api/v1/chart/data", json=json.loads(saved["query_context"]))[
            "result"
        ]
        assert all(not r.get("error") for r in results), (chart["slice_name"], results)
        rows[by_uuid[chart["slice_name"]]] = results[0]["data"]
    assert all(len(data) > 0 for data in rows.values()), {k: len(v) for k, v in rows.items()}

    # spot-check figures against the published plan
    with duckdb.connect(str(demo_plan / "published" / "plan.duckdb"), read_only=True) as con:
        quarters = con.execute(
            "select count(distinct quarter_start), sum(goal) from latest_territory_goals"
        ).fetchall()[0]
        roles = dict(con.execute("select role, headcount from latest_coverage_summary").fetchall())
    assert len(rows["goals_by_quarter"]) == quarters[0]
    assert round(sum(r["goal"] for r in rows["goals_by_quarter"]), 2) == float(quarters[1])
    assert {r["role"]: r["planned headcount"] for r in rows["headcount_by_role"]} == roles
    assert sum(r["accounts"] for r in rows["coverage_matrix"]) == 2000
