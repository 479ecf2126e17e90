"""Plan-output suites on a good and a bad fixture: a hand-made four-account plan (two territories, one
quarter carried from the plan in force) passes every suite; each mutation fails the expectation meant."""

import duckdb
import pytest

from data_quality.checks import failures_markdown
from data_quality.runner import run_suite
from data_quality.suites import assignment_suite, capacity_suite, goals_suite, scores_suite, segments_suite

SUITES = {
    "scores": scores_suite,
    "segments": segments_suite,
    "capacity": capacity_suite,
    "assignment": assignment_suite,
    "goals": goals_suite,
}


def _plan(con: duckdb.DuckDBPyConnection) -> None:
    """Accounts A1, A2 (field territory F1) and A3, A4 (inside territory I1); goals in cents: A1 10,000,
    A2 5,000 (F1 15,000), A3 3,001, A4 1,999 (I1 5,000) over Q2-Q4; Q1 (F1 4,000, I1 1,000) is carried.
    Company target 25,000 = 15,000 + 5,000 + 5,000."""
    for schema in ("raw", "ml", "planning"):
        con.execute(f"create schema {schema}")
    con.execute("create table raw.accounts as select unnest(['A1', 'A2', 'A3', 'A4']) as account_id")
    con.execute("""
        create table ml.account_scores as select * from (values
            ('A1', 900.0, 1000.0, 2000.0, 1100.0), ('A2', 500.0, 500.0, 500.0, 0.0),
            ('A3', 0.0, 0.0, 300.0, 300.0), ('A4', 100.0, 150.0, 150.0, 50.0))
        t(account_id, revenue_t12m, expected_revenue_next_4q, potential, headroom)""")
    con.execute("""
        create table ml.account_segments as select * from (values
            ('A1', 'field_farmer', 'field', 0.45), ('A2', 'field_farmer', 'field', 1.0),
            ('A3', 'inside_sales', 'inside', 0.0), ('A4', 'inside_sales', 'inside', 0.67))
        t(account_id, coverage_tier, coverage_role, share_of_wallet)""")
    con.execute("""
        create table planning.account_workload as select * from (values
            ('A1', 'field', 40.0), ('A2', 'field', 20.0), ('A3', 'inside', 5.0), ('A4', 'inside', 6.5))
        t(account_id, coverage_role, workload_hours)""")
    con.execute("""
        create table planning.coverage_summary as select * from (values
            ('field', 2, 60.0, 1300.0, 1), ('inside', 2, 11.5, 1600.0, 1), ('digital', 0, 0.0, 1700.0, 0))
        t(role, accounts, workload_hours, capacity_hours_per_rep, headcount)""")
    con.execute(
        "create table planning.territories as select * from (values ('F1', 'field'), ('I1', 'inside')) "
        "t(territory_id, role)"
    )
    con.execute("""
        create table planning.territory_assignment as select * from (values
            ('A1', 'F1', 'field'), ('A2', 'F1', 'field'), ('A3', 'I1', 'inside'), ('A4', 'I1', 'inside'))
        t(account_id, territory_id, role)""")
    con.execute("""
        create table planning.account_goals as select account_id, territory_id, goal_cents::bigint as goal_cents
        from (values ('A1', 'F1', 10000), ('A2', 'F1', 5000), ('A3', 'I1', 3001), ('A4', 'I1', 1999))
        t(account_id, territory_id, goal_cents)""")
    con.execute("""
        create table planning.territory_goals as
        select quarter_start::date as quarter_start, territory_id, goal_cents::bigint as goal_cents, carried
        from (values
            ('2026-01-01', 'F1', 4000, true), ('2026-01-01', 'I1', 1000, true),
            ('2026-04-01', 'F1', 5000, false), ('2026-07-01', 'F1', 5000, false),
            ('2026-10-01', 'F1', 5000, false), ('2026-04-01', 'I1', 2000, false),
            ('2026-07-01', 'I1', 1500, false), ('2026-10-01', 'I1', 1500, false))
        t(quarter_start, territory_id, goal_cents, carried)""")
    con.execute("create table planning.goal_metrics as select 25000::bigint as company_target_cents")


@pytest.fixture
def con():
    c = duckdb.connect()
    _plan(c)
    yield c
    c.close()


@pytest.mark.parametrize("name", SUITES)
def test_good_plan_passes_every_suite(con, name):
    res = run_suite(con, SUITES[name]())
    assert res.success, res.failures
    assert res.evaluated == len(SUITES[name]().expectations)


# suite, mutation, failures meant {(expectation, table or frame, column)}, a failing value named
BAD = [
    (
        "scores",
        "update ml.account_scores set potential = 400 where account_id = 'A2'",
        {("expect_column_pair_values_a_to_be_greater_than_b", "ml.account_scores", "potential")},
        "A2",
    ),
    (
        "scores",
        "update ml.account_scores set expected_revenue_next_4q = -1 where account_id = 'A3'",
        {("expect_column_values_to_be_between", "ml.account_scores", "expected_revenue_next_4q")},
        "-1.0",
    ),
    (
        "scores",
        "insert into ml.account_scores values ('A4', 1, 1, 1, 0)",
        {("expect_column_values_to_be_unique", "ml.account_scores", "account_id")},
        "A4",
    ),
    (
        "segments",
        "update ml.account_segments set share_of_wallet = 1.2 where account_id = 'A4'",
        {("expect_column_values_to_be_between", "ml.account_segments", "share_of_wallet")},
        "1.2",
    ),
    (
        "segments",
        "update ml.account_segments set coverage_role = 'wizard' where account_id = 'A4'",
        {("expect_column_values_to_be_in_set", "ml.account_segments", "coverage_role")},
        "wizard",
    ),
    (
        "capacity",
        "update planning.coverage_summary set headcount = 0 where role = 'inside'",
        {("expect_column_values_to_be_between", "roles_with_workload", "headcount")},
        "0",
    ),
    (
        "capacity",
        "delete from planning.coverage_summary where role = 'inside'",
        {("expect_column_values_to_be_in_set", "planning.account_workload", "coverage_role")},
        "inside",
    ),
    (
        "assignment",
        "delete from planning.territory_assignment where account_id = 'A3'",
        {("expect_column_values_to_be_in_set", "planning.account_workload", "account_id")},
        "A3",
    ),
    (
        "assignment",
        "insert into planning.territory_assignment values ('A1', 'I1', 'inside')",
        {("expect_column_values_to_be_unique", "planning.territory_assignment", "account_id")},
        "A1",
    ),
    (
        "assignment",
        "update planning.territory_assignment set territory_id = 'X9' where account_id = 'A4'",
        {("expect_column_values_to_be_in_set", "planning.territory_assignment", "territory_id")},
        "X9",
    ),
    (
        "assignment",  # inside accounts but no inside territory
        "delete from planning.territories where role = 'inside'; "
        "delete from planning.territory_assignment where role = 'inside'",
        {
            ("expect_column_values_to_be_in_set", "planning.account_workload", "account_id"),
            ("expect_column_values_to_be_in_set", "planning.account_workload", "coverage_role"),
        },
        "A3",
    ),
    (
        "goals",  # one cent too many in one quarter of F1
        "update planning.territory_goals set goal_cents = goal_cents + 1 "
        "where territory_id = 'F1' and quarter_start = date '2026-07-01'",
        {
            ("expect_column_values_to_be_between", "company_total", "diff_cents"),
            ("expect_column_values_to_be_between", "territory_vs_accounts", "diff_cents"),
        },
        "1",
    ),
    (
        "goals",
        "update planning.goal_metrics set company_target_cents = 24999",
        {("expect_column_values_to_be_between", "company_total", "diff_cents")},
        "1",
    ),
    (
        "goals",  # sums kept, one quarter negative
        "update planning.territory_goals set goal_cents = case quarter_start "
        "when date '2026-07-01' then -100 when date '2026-10-01' then 3100 else goal_cents end "
        "where territory_id = 'I1'",
        {("expect_column_values_to_be_between", "planning.territory_goals", "goal_cents")},
        "-100",
    ),
    (
        "goals",
        "update planning.account_goals set territory_id = 'F1' where account_id = 'A3'",
        {("expect_column_values_to_be_between", "territory_vs_accounts", "diff_cents")},
        "-3001",
    ),
]


@pytest.mark.parametrize(
    ("name", "mutation", "meant", "value"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)]
)
def test_bad_plan_fails_on_the_meant_expectation(con, name, mutation, meant, value):
    for statement in mutation.split("; "):
        con.execute(statement)
    res = run_suite(con, SUITES[name]())
    assert not res.success
    assert {(f.expectation, f.where, f.column) for f in res.failures} == meant
    named = " ".join([failures_markdown(res), *(str(r) for f in res.failures for r in f.rows)])
    assert value in named
    assert all(f.unexpected_count for f in res.failures)


def test_goal_failure_names_the_territory_and_both_sums(con):
    con.execute(
        "update planning.territory_goals set goal_cents = goal_cents + 1 "
        "where territory_id = 'F1' and quarter_start = date '2026-07-01'"
    )
    res = run_suite(con, goals_suite())
    (terr,) = [f for f in res.failures if f.where == "territory_vs_accounts"]
    assert terr.rows == [
        {"territory_id": "F1", "territory_goal_cents": 15001, "account_goal_cents": 15000, "diff_cents": 1}
    ]
    (total,) = [f for f in res.failures if f.where == "company_total"]
    assert total.rows == [{"goal_cents": 25001, "company_target_cents": 25000, "diff_cents": 1}]
