"""Level 1: the code location loads and has every asset, check, job and schedule users rely on."""

import dagster as dg

from orchestration.definitions import defs


def _keys():
    return {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}


def test_assets_in_every_group():
    graph = defs.resolve_asset_graph()
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    assert {"ingest", "warehouse", "ml", "planning", "publish"} <= groups
    keys = _keys()
    for key in [
        "raw_accounts",
        "raw_transactions",
        "marts/fct_account_value",
        "marts/fct_buying_behaviour",
        "marts/fct_account_features",
        "growth_scores",
        "account_segments",
        "account_workload_hours",
        "territory_design",
        "territory_goals",
        "published_plan",
    ]:
        assert key in keys, key


def test_checks_include_blocking_quality_and_plan_invariants():
    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert ("raw_transactions", "raw_transactions_suite") in checks
    assert ("territory_design", "workload_within_tolerance") in checks
    assert ("territory_goals", "goals_sum_to_target") in checks
    assert any(a.startswith("marts/") for a, _ in checks), "dbt tests should show as asset checks"
    spec = next(
        s
        for s in defs.get_asset_checks_def(
            dg.AssetCheckKey(dg.AssetKey("raw_transactions"), "raw_transactions_suite")
        ).check_specs
    )
    assert spec.blocking


def test_every_raw_entity_and_plan_output_has_a_blocking_suite():
    graph = defs.resolve_asset_graph()
    suites = {
        ("raw_accounts", "raw_accounts_suite"),
        ("raw_contacts", "raw_contacts_suite"),
        ("raw_reps", "raw_reps_suite"),
        ("raw_opportunities", "raw_opportunities_suite"),
        ("raw_transactions", "raw_transactions_suite"),
        ("growth_scores", "plan_scores_suite"),
        ("account_segments", "plan_segments_suite"),
        ("account_workload_hours", "plan_capacity_suite"),
        ("territory_design", "plan_assignment_suite"),
        ("territory_goals", "plan_goals_suite"),
    }
    assert suites <= {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    for asset, name in suites:
        (spec,) = defs.get_asset_checks_def(dg.AssetCheckKey(dg.AssetKey(asset), name)).check_specs
        assert spec.blocking, name
        # every guarded asset is upstream of the publish, so a failure stops it
        assert dg.AssetKey("published_plan") in graph.get(dg.AssetKey(asset)).child_keys or any(
            dg.AssetKey("published_plan") in graph.get(c).child_keys
            for c in _descendants(graph, dg.AssetKey(asset))
        ), asset


def _descendants(graph, key):
    seen, todo = set(), [key]
    while todo:
        for child in graph.get(todo.pop()).child_keys:
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def test_jobs_and_schedules_from_config():
    from planning.config import load_config

    cfg = load_config()
    assert defs.resolve_job_def("yearly_plan") and defs.resolve_job_def("quarterly_plan")
    assert defs.resolve_schedule_def("yearly_plan_schedule").cron_schedule == cfg.schedules.yearly_cron
    assert defs.resolve_schedule_def("quarterly_plan_schedule").cron_schedule == cfg.schedules.quarterly_cron


def test_code_location_loads_the_way_dagster_loads_it():
    """`dagster dev` / the webserver load the module by autodiscovery, which is stricter than importing it
    (for example, exactly one Definitions object at module scope)."""
    import subprocess
    import sys
    from pathlib import Path

    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "orchestration.definitions"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Validation successful" in proc.stdout + proc.stderr
