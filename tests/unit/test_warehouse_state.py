"""When the warehouse asset may skip `dbt build`: only when the last attempt succeeded on the same raw
tables, dbt project, vars and selection; anything else (or fresh, or another dbt target) builds."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from orchestration import warehouse_state as state
from orchestration.dbt_project import DBT_DIR

VARS = {"lapsed_after_days": 365, "as_of_date": "2026-10-01"}
SELECTED = ["marts/fct_a", "marts/fct_a:not_null_x"]


@pytest.fixture
def con():
    c = duckdb.connect()
    c.execute("create schema raw")
    for table in state.RAW_TABLES:
        c.execute(
            f"create table raw.{table} as select range as id, 'load-1' as _run_id, "
            "timestamp '2026-11-01 10:00:00' as _loaded_at from range(10)"
        )
    yield c
    c.close()


@pytest.fixture
def project(tmp_path):
    """A copy of the dbt project's source files (not target/): edited by one test."""
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return copy


def _built(con, project, run_id="build-1", vars_=VARS, checks=None):
    inputs = state.build_inputs(con, project, vars_, SELECTED)
    started = state.record_start(con, run_id, inputs)
    state.record_success(con, run_id, started, checks or {"marts/fct_a:not_null_x": {"passed": True}})
    return inputs


def test_unchanged_inputs_skip_and_replay_the_check_outcomes(con, project, monkeypatch):
    monkeypatch.delenv("DBT_TARGET", raising=False)
    _built(con, project)
    skip = state.decide(con, state.build_inputs(con, project, dict(VARS), list(SELECTED)), fresh=False)
    assert skip.run_id == "build-1" and skip.recorded == {"marts/fct_a:not_null_x": {"passed": True}}


def test_changed_vars_raw_tables_or_project_build_again(con, project, monkeypatch):
    monkeypatch.delenv("DBT_TARGET", raising=False)
    _built(con, project)
    other_vars = state.build_inputs(con, project, {**VARS, "as_of_date": "2026-07-01"}, SELECTED)
    assert state.decide(con, other_vars, fresh=False).run_id is None

    (project / "models" / "marts" / "extra_note.yml").write_text("version: 2\n")
    edited = state.build_inputs(con, project, VARS, SELECTED)
    assert "changed" in state.decide(con, edited, fresh=False).reason
    (project / "models" / "marts" / "extra_note.yml").unlink()
    assert state.decide(con, state.build_inputs(con, project, VARS, SELECTED), fresh=False).run_id

    con.execute("update raw.transactions set _run_id = 'load-2'")  # a new load of the same size
    assert state.decide(con, state.build_inputs(con, project, VARS, SELECTED), fresh=False).run_id is None


def test_an_unfinished_build_fresh_or_another_target_always_build(con, project, monkeypatch):
    monkeypatch.delenv("DBT_TARGET", raising=False)
    inputs = _built(con, project)
    assert state.decide(con, inputs, fresh=True).run_id is None
    state.record_start(con, "build-2", inputs)  # started, then failed: never marked success
    skip = state.decide(con, inputs, fresh=False)
    assert skip.run_id is None and "did not finish" in skip.reason
    monkeypatch.setenv("DBT_TARGET", "postgres")
    assert "not tracked" in state.decide(con, inputs, fresh=False).reason


def test_no_earlier_build_means_build(con, project, monkeypatch):
    monkeypatch.delenv("DBT_TARGET", raising=False)
    skip = state.decide(con, state.build_inputs(con, project, VARS, SELECTED), fresh=False)
    assert skip.run_id is None and skip.reason == "no earlier build recorded in this warehouse"


def test_a_dbt_run_outside_the_plan_forces_the_next_build(con, project, monkeypatch):
    """A hand `dbt run` with other vars logs itself in state.dbt_invocations (the project's on-run-start
    hook): the marts may no longer be what the last build left, so the next plan builds."""
    monkeypatch.delenv("DBT_TARGET", raising=False)
    inputs = _built(con, project)
    assert state.decide(con, inputs, fresh=False).run_id == "build-1"
    con.execute(f"insert into {state.DBT_INVOCATIONS} values ('by-hand')")
    skip = state.decide(con, inputs, fresh=False)
    assert skip.run_id is None and "dbt ran on this warehouse outside the plan" in skip.reason


def test_a_dropped_mart_forces_the_next_build(con, project, monkeypatch):
    monkeypatch.delenv("DBT_TARGET", raising=False)
    con.execute("create schema marts")
    con.execute("create table marts.fct_a as select 1 as x")
    inputs = _built(con, project)
    assert state.decide(con, inputs, fresh=False).run_id == "build-1"
    con.execute("drop table marts.fct_a")
    skip = state.decide(con, inputs, fresh=False)
    assert skip.run_id is None and "tables or views of the dbt schemas changed" in skip.reason


def test_the_hook_logs_every_invocation_with_the_table_the_state_counts(tmp_path):
    """The on-run-start macro writes the same table `decide` counts (names kept in step by this test)."""
    macro = (project_dir := DBT_DIR / "macros" / "invocations.sql").read_text()
    assert "create table if not exists state.dbt_invocations (invocation_id varchar not null)" in macro
    assert state.DBT_INVOCATIONS == "state.dbt_invocations"
    assert "log_dbt_invocation()" in (project_dir.parent.parent / "dbt_project.yml").read_text()
