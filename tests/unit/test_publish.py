"""Versioned publishing: kept plans, `latest_` views, atomic swaps (DuckDB) and one-transaction PostgreSQL."""

import os
import threading
import time
from datetime import date, datetime

import duckdb
import pandas as pd
import pytest

import planning.publish as pub
from planning import published_schema
from planning.publish import PublishError, publish_plan, publish_postgres, read_plan, read_published

# The real contract selects read a whole warehouse; these stand-ins keep the publish mechanics under test.
SIMPLE_SQL = {
    "plan_runs": pub.CONTRACT_SQL["plan_runs"],
    "account_plan": "select m.plan_id, a.account_id, a.territory_id, a.goal from acc a cross join plan_meta m",
    "territories": "select m.plan_id, a.territory_id, sum(a.goal) as goal from acc a cross join plan_meta m group by all",
    "territory_goals": "select m.plan_id, a.territory_id, date '2026-10-01' as quarter_start, 2026 as fiscal_year, "
    "4 as fiscal_quarter, sum(a.goal) as goal, m.plan_id as set_in_plan_id from acc a cross join plan_meta m group by all",
    "coverage_summary": "select m.plan_id, 'field' as role, count(*) as headcount from acc a cross join plan_meta m group by all",
}


@pytest.fixture
def warehouse(monkeypatch):
    monkeypatch.setattr(pub, "CONTRACT_SQL", SIMPLE_SQL)
    con = duckdb.connect()
    yield con
    con.close()


def _publish(
    con, out, plan_id, kind="yearly", as_of=date(2026, 10, 1), accounts=3, keep_last=8, created=None
):
    con.execute(
        f"create or replace table acc as select 'A' || i as account_id, 'T' || (i % 2) as territory_id, "
        f"cast(i * 10 as decimal(18, 2)) as goal from range({accounts}) t(i)"
    )
    meta = {
        "plan_id": plan_id,
        "kind": kind,
        "as_of_date": as_of,
        "created_at": created or datetime.now(),
        "dagster_run_id": "run-" + plan_id,
        "code_version": "test",
        "config_hash": "abc",
        "company_target_cents": 100,
        "input_row_counts": {"accounts": accounts},
        "model_metrics": {},
        "territory_metrics": {},
        "scenario_name": "s1" if kind == "scenario" else None,
    }
    return publish_plan(con, meta, out, keep_last=keep_last)


def test_plans_are_kept_and_latest_views_show_the_plan_in_force(warehouse, tmp_path):
    _publish(warehouse, tmp_path, "y1", accounts=3, created=datetime(2026, 1, 1))
    first = read_published(tmp_path, "account_plan")
    assert set(first["plan_id"]) == {"y1"} and len(first) == 3
    _publish(
        warehouse,
        tmp_path,
        "q1",
        kind="quarterly",
        as_of=date(2027, 1, 1),
        accounts=4,
        created=datetime(2026, 2, 1),
    )
    # a scenario and a backfilled past quarter are kept but do not become the plan in force
    _publish(
        warehouse,
        tmp_path,
        "s1",
        kind="scenario",
        as_of=date(2027, 1, 1),
        accounts=5,
        created=datetime(2026, 3, 1),
    )
    out = _publish(
        warehouse, tmp_path, "b1", as_of=date(2026, 4, 1), accounts=6, created=datetime(2026, 4, 1)
    )
    assert out.in_force == "q1" and out.row_counts["account_plan"] == 6
    with duckdb.connect(str(tmp_path / "plan.duckdb"), read_only=True) as con:
        rows = dict(con.execute("select plan_id, count(*) from account_plan group by 1").fetchall())
        latest = con.execute("select distinct plan_id from latest_account_plan").fetchall()
        history = con.execute("select plan_id, in_force from plan_history").fetchall()
    assert rows == {"y1": 3, "q1": 4, "s1": 5, "b1": 6}
    assert latest == [("q1",)]
    assert history == [("b1", False), ("s1", False), ("q1", True), ("y1", False)]
    parquet = pd.read_parquet(tmp_path / "parquet" / "account_plan.parquet")
    assert set(parquet["plan_id"]) == {"q1"} and len(parquet) == 4
    assert len(pd.read_parquet(tmp_path / "parquet" / "plan_history.parquet")) == 4
    assert len(read_plan(tmp_path, "account_plan", "s1")) == 5
    with pytest.raises(PublishError, match="kept plans: b1, s1, q1, y1"):
        read_plan(tmp_path, "account_plan", "nope")


def test_a_run_builds_on_the_newest_plan_before_its_as_of_date(warehouse, tmp_path):
    from planning.publish import read_goals_in_force, reference_plan

    q2, q3, q4 = date(2026, 4, 1), date(2026, 7, 1), date(2026, 10, 1)
    assert reference_plan(tmp_path, q2, "quarterly") is None  # nothing published yet
    _publish(warehouse, tmp_path, "y-q2", as_of=q2, accounts=3, created=datetime(2026, 4, 1))
    _publish(warehouse, tmp_path, "q-q3", "quarterly", as_of=q3, accounts=4, created=datetime(2026, 7, 1))
    _publish(warehouse, tmp_path, "s-q3", "scenario", as_of=q3, accounts=5, created=datetime(2026, 7, 2))
    # published last, as of a later quarter: it must not change a backfill of Q2 or Q3
    _publish(warehouse, tmp_path, "y-q4", as_of=q4, accounts=6, created=datetime(2026, 10, 1))
    assert reference_plan(tmp_path, q3, "quarterly") == "y-q2"  # not the later y-q4, not the scenario
    assert reference_plan(tmp_path, q4, "quarterly") == "y-q4"  # the redesign its quarter starts from
    assert reference_plan(tmp_path, q4, "yearly") == "q-q3"  # a rerun of y-q4 never builds on itself
    assert reference_plan(tmp_path, q2, "yearly") is None  # a Q2 backfill starts fresh, as Q2 did
    assert reference_plan(tmp_path, date(2027, 1, 1), "quarterly") == "y-q4"
    # a backfill of Q3 published now reads y-q2's goals, and does not displace the plan in force
    goals = read_goals_in_force(tmp_path, "y-q2")
    assert goals.company_target_cents == 100 and set(goals.territory_goals["goal_cents"]) == {1000, 2000}
    assert read_goals_in_force(tmp_path, None) is None
    out = _publish(warehouse, tmp_path, "q-q3-again", "quarterly", as_of=q3, created=datetime(2026, 11, 1))
    assert out.in_force == "y-q4"
    assert set(read_published(tmp_path, "account_plan")["plan_id"]) == {"y-q4"}
    assert reference_plan(tmp_path, q3, "quarterly") == "y-q2"  # and reruns of Q3 still build on y-q2


def test_keep_last_drops_the_oldest_but_never_the_plan_in_force(warehouse, tmp_path):
    _publish(warehouse, tmp_path, "y1", as_of=date(2027, 1, 1), created=datetime(2026, 1, 1), keep_last=2)
    _publish(warehouse, tmp_path, "s1", kind="scenario", created=datetime(2026, 2, 1), keep_last=2)
    _publish(warehouse, tmp_path, "s2", kind="scenario", created=datetime(2026, 3, 1), keep_last=2)
    out = _publish(warehouse, tmp_path, "s3", kind="scenario", created=datetime(2026, 4, 1), keep_last=2)
    assert out.kept_plans == ["s3", "s2", "y1"] and out.dropped_plans == ["s1"] and out.in_force == "y1"
    with duckdb.connect(str(tmp_path / "plan.duckdb"), read_only=True) as con:
        ids = {r[0] for r in con.execute("select distinct plan_id from territory_goals").fetchall()}
    assert ids == {"s3", "s2", "y1"}


def test_an_empty_plan_is_refused_and_the_published_file_untouched(warehouse, tmp_path):
    _publish(warehouse, tmp_path, "y1")
    before = (tmp_path / "plan.duckdb").read_bytes()
    with pytest.raises(PublishError, match="no accounts"):
        _publish(warehouse, tmp_path, "y2", accounts=0)
    assert (tmp_path / "plan.duckdb").read_bytes() == before
    assert not list(tmp_path.glob(".plan.duckdb.tmp-*"))


def test_reader_holding_the_old_file_keeps_its_snapshot(warehouse, tmp_path):
    import subprocess
    import sys

    _publish(warehouse, tmp_path, "y1", accounts=3)
    # a reader in another process opens the file, we publish, it still reads the old plan consistently
    script = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect(r'{tmp_path / 'plan.duckdb'}', read_only=True)\n"
        "print(con.execute('select count(*) from latest_account_plan').fetchall()[0][0], flush=True)\n"
        "sys.stdin.readline()\n"
        "print(con.execute('select count(*), min(plan_id) from latest_account_plan').fetchall()[0], flush=True)\n"
    )
    reader = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert reader.stdout.readline().strip() == "3"
    _publish(warehouse, tmp_path, "y2", accounts=7, as_of=date(2027, 1, 1))
    reader.stdin.write("\n")
    reader.stdin.flush()
    assert reader.stdout.readline().strip() == "(3, 'y1')"
    reader.wait(timeout=30)
    assert set(read_published(tmp_path, "account_plan")["plan_id"]) == {"y2"}


def _parquet_plans(out) -> dict[str, set[str]]:
    return {
        name: set(pd.read_parquet(out / "parquet" / f"{name}.parquet")["plan_id"])
        for name in [*pub.PUBLISHED_TABLES, "plan_history"]
    }


def test_parquet_files_are_swapped_as_one_set(warehouse, tmp_path, monkeypatch):
    _publish(warehouse, tmp_path, "y1", accounts=3, created=datetime(2026, 1, 1))
    assert (tmp_path / "parquet").is_symlink()
    first = os.readlink(tmp_path / "parquet")
    assert _parquet_plans(tmp_path)["account_plan"] == {"y1"}

    # killed at the Parquet swap: the DuckDB file holds the new plan, every Parquet file the old one
    def crash(*args):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(pub, "_swap_parquet", crash)
    with pytest.raises(KeyboardInterrupt):
        _publish(warehouse, tmp_path, "y2", accounts=4, as_of=date(2027, 1, 1), created=datetime(2026, 2, 1))
    monkeypatch.undo()
    monkeypatch.setattr(pub, "CONTRACT_SQL", SIMPLE_SQL)
    assert set(read_published(tmp_path, "account_plan")["plan_id"]) == {"y2"}
    assert {name: ids for name, ids in _parquet_plans(tmp_path).items() if name != "plan_history"} == {
        name: {"y1"} for name in pub.PUBLISHED_TABLES
    }
    assert os.readlink(tmp_path / "parquet") == first

    # the next publish swaps the whole set and removes the dead folders, keeping the one it replaced
    _publish(warehouse, tmp_path, "y3", accounts=5, as_of=date(2027, 4, 1), created=datetime(2026, 3, 1))
    assert {name: ids for name, ids in _parquet_plans(tmp_path).items() if name != "plan_history"} == {
        name: {"y3"} for name in pub.PUBLISHED_TABLES
    }
    assert len(pd.read_parquet(tmp_path / "parquet" / "account_plan.parquet")) == 5
    folders = sorted(p.name for p in tmp_path.glob(".parquet-*"))
    assert folders == sorted([first, os.readlink(tmp_path / "parquet")])
    _publish(warehouse, tmp_path, "y4", accounts=6, as_of=date(2027, 7, 1), created=datetime(2026, 4, 1))
    assert first not in {p.name for p in tmp_path.glob(".parquet-*")}
    assert len(list(tmp_path.glob(".parquet-*"))) == 2


def test_a_parquet_folder_from_before_the_link_is_migrated(warehouse, tmp_path):
    _publish(warehouse, tmp_path, "y1", accounts=3, created=datetime(2026, 1, 1))
    # the layout of earlier versions: `parquet` a real folder holding the files
    legacy = tmp_path / "parquet"
    target = tmp_path / os.readlink(legacy)
    legacy.unlink()
    target.rename(legacy)
    (legacy / "stale_table.parquet").write_bytes(b"not the plan")
    _publish(warehouse, tmp_path, "y2", accounts=4, as_of=date(2027, 1, 1), created=datetime(2026, 2, 1))
    assert legacy.is_symlink()
    assert _parquet_plans(tmp_path)["account_plan"] == {"y2"}
    assert not (legacy / "stale_table.parquet").exists()
    # the old folder is kept whole under a versioned name, for readers still inside it ...
    (kept,) = [p for p in tmp_path.glob(".parquet-*") if p.name != os.readlink(legacy)]
    assert (kept / "stale_table.parquet").read_bytes() == b"not the plan"
    assert set(pd.read_parquet(kept / "account_plan.parquet")["plan_id"]) == {"y1"}
    # ... until the next publish
    _publish(warehouse, tmp_path, "y3", accounts=5, as_of=date(2027, 4, 1), created=datetime(2026, 3, 1))
    assert not kept.exists() and len(list(tmp_path.glob(".parquet-*"))) == 2


def test_a_file_system_without_links_is_refused_before_anything_is_written(warehouse, tmp_path, monkeypatch):
    _publish(warehouse, tmp_path, "y1", accounts=3, created=datetime(2026, 1, 1))
    before = (tmp_path / "plan.duckdb").read_bytes()

    def no_links(*args, **kwargs):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(pub.os, "symlink", no_links)
    with pytest.raises(PublishError, match="does not support symbolic links"):
        _publish(warehouse, tmp_path, "y2", accounts=4, as_of=date(2027, 1, 1), created=datetime(2026, 2, 1))
    assert (tmp_path / "plan.duckdb").read_bytes() == before
    assert not list(tmp_path.glob(".plan.duckdb.tmp-*"))


def test_postgres_publish_swaps_in_one_transaction(warehouse, tmp_path, pg_database):
    import sqlalchemy as sa

    plans = []
    for i in range(4):  # four plan files, of different sizes, to publish in turn
        out = tmp_path / f"p{i}"
        _publish(warehouse, out, f"y{i}", accounts=2000 * (i + 1), as_of=date(2026 + i, 1, 1))
        plans.append(out / "plan.duckdb")
    expected = {f"y{i}": 2000 * (i + 1) for i in range(4)}
    publish_postgres(plans[0], pg_database, schema="covplan")

    engine = sa.create_engine(pg_database)
    seen, errors, stop = [], [], threading.Event()

    def read_loop():
        try:
            with engine.connect() as con:
                while not stop.is_set():
                    # one statement = one snapshot: the plan in force, the ids and the rows of its accounts
                    row = con.execute(
                        sa.text(
                            "select (select plan_id from covplan.latest_plan_runs), "
                            "(select count(distinct plan_id) from covplan.latest_account_plan), "
                            "(select min(plan_id) from covplan.latest_account_plan), "
                            "(select count(*) from covplan.latest_account_plan)"
                        )
                    ).one()
                    con.commit()
                    seen.append(tuple(row))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    reader = threading.Thread(target=read_loop)
    reader.start()
    for path in plans[1:]:
        time.sleep(0.2)
        publish_postgres(path, pg_database, schema="covplan")
    time.sleep(0.3)
    stop.set()
    reader.join(timeout=60)
    engine.dispose()
    assert not errors, errors
    assert len(seen) > 10
    for run_plan, n_ids, account_plan, n_rows in seen:
        assert n_ids == 1 and account_plan == run_plan and n_rows == expected[run_plan]
    assert {s[0] for s in seen} >= {"y0", "y3"}
    with sa.create_engine(pg_database).connect() as con:
        final = con.execute(sa.text("select plan_id, in_force from covplan.plan_history")).all()
        goal = con.execute(sa.text("select sum(goal) from covplan.account_plan")).scalar()
    assert final == [("y3", True)]
    assert goal == sum(i * 10 for i in range(8000))


def test_postgres_publish_failure_rolls_back_and_keeps_the_old_plan(warehouse, tmp_path, pg_database):
    import sqlalchemy as sa

    _publish(warehouse, tmp_path / "a", "y1", accounts=3)
    _publish(warehouse, tmp_path / "b", "y2", accounts=5, as_of=date(2027, 1, 1))
    publish_postgres(tmp_path / "a" / "plan.duckdb", pg_database)
    engine = sa.create_engine(pg_database)
    with engine.begin() as con:  # a BI user's own view on the table blocks dropping it
        con.execute(sa.text("create view public.my_report as select * from covplan.account_plan"))
    with pytest.raises(PublishError, match="rolled back"):
        publish_postgres(tmp_path / "b" / "plan.duckdb", pg_database)
    with engine.connect() as con:
        rows = con.execute(
            sa.text("select plan_id, count(*) from covplan.latest_account_plan group by 1")
        ).all()
        leftovers = con.execute(
            sa.text("select count(*) from information_schema.tables where table_name like '%%__new'")
        ).scalar()
    engine.dispose()
    assert rows == [("y1", 3)] and leftovers == 0


def test_every_latest_view_shows_the_plan_in_force_and_plan_history_the_kept_plans(warehouse, tmp_path):
    """Stable names for BI: each `latest_<table>` holds only the plan in force (a newer scenario or a
    backfilled past plan does not take over), and `plan_history` exactly the kept plans."""
    _publish(warehouse, tmp_path, "y1", accounts=3, created=datetime(2026, 1, 1), keep_last=2)
    _publish(
        warehouse,
        tmp_path,
        "y2",
        accounts=4,
        as_of=date(2027, 1, 1),
        created=datetime(2026, 2, 1),
        keep_last=2,
    )
    _publish(
        warehouse,
        tmp_path,
        "s1",
        kind="scenario",
        as_of=date(2027, 4, 1),
        created=datetime(2026, 3, 1),
        keep_last=2,
    )
    out = _publish(
        warehouse, tmp_path, "b1", as_of=date(2026, 1, 1), created=datetime(2026, 4, 1), keep_last=2
    )
    assert out.in_force == "y2" and out.kept_plans == ["b1", "s1", "y2"]  # y1: beyond keep_last
    with duckdb.connect(str(tmp_path / "plan.duckdb"), read_only=True) as con:
        for name in pub.PUBLISHED_TABLES:
            ids = con.execute(f"select distinct plan_id from latest_{name}").fetchall()
            assert ids == [("y2",)], name
        assert con.execute("select count(*) from latest_account_plan").fetchall() == [(4,)]
        history = con.execute("select plan_id, kind, in_force from plan_history").fetchall()
    assert history == [("b1", "yearly", False), ("s1", "scenario", False), ("y2", "yearly", True)]


def test_storage_version_is_written_and_a_bad_one_refused(warehouse, tmp_path):
    _publish(warehouse, tmp_path / "a", "y1")
    with duckdb.connect(str(tmp_path / "a" / "plan.duckdb"), read_only=True) as con:
        version = con.execute(
            "select tags['storage_version'] from duckdb_databases() where database_name = 'plan'"
        )
        assert version.fetchall()[0][0] == "v1.0.0+"  # DuckDB's tag: readable by 1.0 and later
        comment = con.execute(
            "select comment from duckdb_columns() where table_name = 'account_plan' and column_name = 'goal'"
        )
        assert comment.fetchall()[0][0].startswith("Revenue goal this plan sets for the account")
    meta = {"plan_id": "x", "kind": "yearly", "as_of_date": date(2026, 10, 1), "created_at": datetime.now(),
            "company_target_cents": 1}  # fmt: skip
    with pytest.raises(PublishError, match="storage_compatibility_version 'v9.9.9'"):
        publish_plan(warehouse, meta, tmp_path / "b", storage_compatibility_version="v9.9.9")


def test_postgres_tables_views_and_columns_carry_the_comments(warehouse, tmp_path, pg_database):
    import sqlalchemy as sa

    _publish(warehouse, tmp_path, "y1")
    publish_postgres(tmp_path / "plan.duckdb", pg_database, schema="covplan")
    engine = sa.create_engine(pg_database)
    with engine.connect() as con:
        table = con.execute(sa.text("select obj_description('covplan.account_plan'::regclass)")).scalar()
        view = con.execute(
            sa.text("select obj_description('covplan.latest_account_plan'::regclass)")
        ).scalar()
        column = con.execute(
            sa.text("select col_description('covplan.account_plan'::regclass, 4)")  # goal: 4th column
        ).scalar()
    engine.dispose()
    assert table == published_schema.table_comment("account_plan")
    assert view == published_schema.table_comment("latest_account_plan")
    assert column == published_schema.COLUMN_DESCRIPTIONS["account_plan"]["goal"]


def test_the_dbt_tables_of_the_plan_can_come_from_an_engines_parquet(warehouse, tmp_path, monkeypatch):
    """With the marts on another engine (Spark's Parquet), publishing reads them there: the same plan as
    from the warehouse's own tables, and nothing of them needs to exist in the warehouse."""
    from planning.marts import ParquetTables

    monkeypatch.setattr(
        pub,
        "CONTRACT_SQL",
        {
            **SIMPLE_SQL,
            "account_plan": SIMPLE_SQL["account_plan"].replace("from acc a", "from {marts.acc} a"),
        },
    )
    warehouse.execute(
        "create schema marts; create table marts.acc as select 'A' || i as account_id, "
        "'T' || (i % 2) as territory_id, cast(i * 10 as decimal(18, 2)) as goal from range(3) t(i)"
    )
    warehouse.execute("create table acc as select * from marts.acc")  # _publish replaces it: same rows
    _publish(warehouse, tmp_path / "duck", "y1")
    folder = tmp_path / "spark" / "marts.db" / "acc"
    folder.mkdir(parents=True)
    warehouse.execute(f"copy marts.acc to '{folder}/part-00000.parquet' (format parquet)")
    warehouse.execute("drop table marts.acc")
    meta = {"plan_id": "y1", "kind": "yearly", "as_of_date": date(2026, 10, 1), "created_at": datetime.now(),
            "dagster_run_id": "run-y1", "code_version": "test", "config_hash": "abc", "company_target_cents": 100,
            "input_row_counts": {}, "model_metrics": {}, "territory_metrics": {}}  # fmt: skip
    publish_plan(warehouse, meta, tmp_path / "parquet", marts=ParquetTables(tmp_path / "spark"))
    cols = ["plan_id", "account_id", "territory_id", "goal"]
    from_duck = read_published(tmp_path / "duck", "account_plan")[cols]
    from_parquet = read_published(tmp_path / "parquet", "account_plan")[cols]
    pd.testing.assert_frame_equal(from_parquet, from_duck)
    assert len(from_duck) == 3
    with pytest.raises(duckdb.CatalogException):  # not vacuous: the warehouse has no marts.acc any more
        warehouse.execute("select * from marts.acc")
