"""Raw suites on a good and a bad fixture: the hand-made raw warehouse (tests/dbt/make_fixture.py) passes
every suite; each mutation fails exactly the expectation meant, and the result names the failing values."""

import shutil
import sys
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dbt"))
from make_fixture import write_fixture  # noqa: E402

from data_quality.checks import failures_markdown, result_metadata  # noqa: E402
from data_quality.load_log import accept_latest_load, record_loads  # noqa: E402
from data_quality.runner import run_suite  # noqa: E402
from data_quality.suites import RAW_ENTITIES, RawLimits, raw_suite  # noqa: E402

LIMITS = RawLimits(as_of=date(2025, 1, 31), max_age_days=120, min_ratio=0.5, max_ratio=2.0)


@pytest.fixture(scope="module")
def good_file(tmp_path_factory) -> Path:
    path = write_fixture(tmp_path_factory.mktemp("dq") / "good.duckdb")
    with duckdb.connect(str(path)) as con:
        # the dbt fixture keeps one owner outside the reps extract (landing would quarantine that row)
        con.execute("update raw.accounts set owner_rep_id = 'R0002' where owner_rep_id = 'R0099'")
        record_loads(con, list(RAW_ENTITIES), "run-1", datetime(2025, 1, 31), "files")
    return path


@pytest.fixture
def bad_con(good_file, tmp_path):
    path = tmp_path / "bad.duckdb"
    shutil.copy(good_file, path)
    con = duckdb.connect(str(path))
    yield con
    con.close()


@pytest.mark.parametrize("entity", RAW_ENTITIES)
def test_good_fixture_passes_every_raw_suite(good_file, entity):
    with duckdb.connect(str(good_file)) as con:
        res = run_suite(con, raw_suite(entity, LIMITS))
    assert res.success, res.failures
    assert res.evaluated == len(raw_suite(entity, LIMITS).expectations)
    assert res.rows_checked[f"raw.{entity}"] > 0


# entity, mutation SQL, (expectation, table or frame, column), a failing value the result must name, count
BAD = [
    (
        "accounts",
        "update raw.accounts set account_id = 'A0000001' where account_id = 'A0000002'",
        ("expect_column_values_to_be_unique", "raw.accounts", "account_id"),
        "A0000001",
        2,
    ),
    (
        "accounts",
        "update raw.accounts set owner_rep_id = 'R9999' where account_id = 'A0000003'",
        ("expect_column_values_to_be_in_set", "raw.accounts", "owner_rep_id"),
        "R9999",
        1,
    ),
    (
        "accounts",
        "update raw.accounts set parent_account_id = 'A0000404' where account_id = 'A0000003'",
        ("expect_column_values_to_be_in_set", "raw.accounts", "parent_account_id"),
        "A0000404",
        1,
    ),
    (
        "accounts",
        "update raw.accounts set lat = 123.5 where account_id = 'A0000003'",
        ("expect_column_values_to_be_between", "raw.accounts", "lat"),
        "123.5",
        1,
    ),
    (
        "accounts",
        "update raw.accounts set status = 'zombie'",
        ("expect_column_values_to_be_in_set", "raw.accounts", "status"),
        "zombie",
        None,  # every row
    ),
    (
        "contacts",
        "update raw.contacts set account_id = 'A404' where rowid = 0",
        ("expect_column_values_to_be_in_set", "raw.contacts", "account_id"),
        "A404",
        1,
    ),
    (
        "contacts",
        "update raw.contacts set role = 'astronaut' where rowid = 0",
        ("expect_column_values_to_be_in_set", "raw.contacts", "role"),
        "astronaut",
        1,
    ),
    (
        "reps",
        "update raw.reps set capacity_hours = 9000 where rep_id = 'R0002'",
        ("expect_column_values_to_be_between", "raw.reps", "capacity_hours"),
        "9000.0",
        1,
    ),
    (
        "reps",
        "update raw.reps set rep_id = null where rep_id = 'R0002'",
        ("expect_column_values_to_not_be_null", "raw.reps", "rep_id"),
        None,
        1,
    ),
    (
        "opportunities",
        "update raw.opportunities set amount = -5 where rowid = 0",
        ("expect_column_values_to_be_between", "raw.opportunities", "amount"),
        "-5.0",
        1,
    ),
    (
        "opportunities",
        "update raw.opportunities set stage = 'won?' where rowid = 0",
        ("expect_column_values_to_be_in_set", "raw.opportunities", "stage"),
        "won?",
        1,
    ),
    (
        "transactions",
        "update raw.transactions set discount = 1.5 where transaction_id = 'T03'",
        ("expect_column_values_to_be_between", "raw.transactions", "discount"),
        "1.5",
        1,
    ),
    (
        "transactions",
        "update raw.transactions set channel = 'carrier pigeon' where transaction_id = 'T03'",
        ("expect_column_values_to_be_in_set", "raw.transactions", "channel"),
        "carrier pigeon",
        1,
    ),
    (
        "transactions",
        "update raw.transactions set account_id = 'A0000099' where transaction_id in ('T03', 'T04')",
        ("expect_column_values_to_be_in_set", "raw.transactions", "account_id"),
        "A0000099",
        2,
    ),
    (
        "transactions",
        "update raw.transactions set transaction_id = 'T01' where transaction_id = 'T02'",
        ("expect_column_values_to_be_unique", "raw.transactions", "transaction_id"),
        "T01",
        2,
    ),
    (
        "transactions",
        "alter table raw.transactions alter quantity type varchar",
        ("expect_column_values_to_be_in_set", "types", "column_type"),
        "quantity: VARCHAR",
        1,
    ),
    (
        "transactions",
        "alter table raw.transactions drop column channel",
        ("expect_column_values_to_be_in_set", "types", "column_type"),
        "channel: missing",
        1,
    ),
    (
        "transactions",  # the latest order is 2024-12-31; pretend the extract is a year old
        "delete from raw.transactions where order_date > date '2024-01-31'",
        ("expect_column_values_to_be_between", "freshness", "age_days"),
        "396",  # latest order left: 2023-12-31
        1,
    ),
    (
        "transactions",  # a previous load of the same source had three times the rows
        "insert into raw._load_history select 'transactions', rows * 3, timestamp '2024-12-31', 'run-0', 'files', true "
        "from raw._load_history where entity = 'transactions'",
        ("expect_column_values_to_be_between", "row_count", "change_ratio"),
        "0.333333",
        1,
    ),
]


@pytest.mark.parametrize(
    ("entity", "mutation", "failure", "value", "count"), BAD, ids=[f"{b[0]}-{b[2][2]}-{b[3]}" for b in BAD]
)
def test_bad_fixture_fails_on_the_meant_expectation(bad_con, entity, mutation, failure, value, count):
    bad_con.execute(mutation)
    res = run_suite(bad_con, raw_suite(entity, LIMITS))
    assert not res.success
    found = {(f.expectation, f.where, f.column): f for f in res.failures}
    assert failure in found, found.keys()
    if "drop column" not in mutation:
        assert set(found) == {failure}, found.keys()
    f = found[failure]
    if count is not None:
        assert f.unexpected_count == count
    if value is not None:
        assert f.examples[0].startswith(value), f.examples
        assert value in failures_markdown(res)
    assert f.rows, "a sample of failing rows is shown"


def test_a_dropped_column_fails_its_types_and_its_value_expectations(bad_con):
    bad_con.execute("alter table raw.transactions drop column channel")
    res = run_suite(bad_con, raw_suite("transactions", LIMITS))
    found = {(f.where, f.column): f for f in res.failures}
    assert set(found) == {("types", "column_type"), ("raw.transactions", "channel")}
    assert "missing" in found[("raw.transactions", "channel")].why


def test_counts_come_from_sql_and_the_sample_is_capped(bad_con):
    bad_con.execute("update raw.transactions set discount = 2.0")  # all 16 rows
    res = run_suite(bad_con, raw_suite("transactions", LIMITS), sample_rows=3)
    (f,) = res.failures
    assert f.unexpected_count == 16
    assert len(f.rows) == 3 and f.examples == ["2.0"]
    meta = result_metadata(res)
    assert meta["failing_rows"].value == 16
    sample = meta["failing_samples"].value[0]
    assert sample["column"] == "discount" and sample["values"] == ["2.0"]
    assert {"transaction_id", "discount"} <= set(sample["rows"][0])


def test_row_count_change_inside_the_band_and_first_loads_pass(bad_con):
    bad_con.execute("delete from raw._load_history")
    # another source's bigger load is not compared; the same source's previous load is 1.5x: inside
    bad_con.execute(
        "insert into raw._load_history values ('transactions', 160, timestamp '2024-12-01', 'r-a', 'demo', true), "
        "('transactions', 24, timestamp '2024-12-02', 'r-b', 'files', true)"
    )
    bad_con.execute(
        "insert into raw._load_history values ('transactions', 16, timestamp '2025-02-01', 'r-c', 'files', false)"
    )
    assert run_suite(bad_con, raw_suite("transactions", LIMITS)).success
    bad_con.execute("delete from raw._load_history")
    assert run_suite(bad_con, raw_suite("transactions", LIMITS)).success


def test_the_row_count_band_is_configurable(bad_con):
    bad_con.execute("delete from raw._load_history")
    bad_con.execute(
        "insert into raw._load_history values ('transactions', 100, timestamp '2024-12-01', 'r-a', 'files', true), "
        "('transactions', 16, timestamp '2025-02-01', 'r-b', 'files', false)"
    )
    assert not run_suite(bad_con, raw_suite("transactions", LIMITS)).success
    loose = RawLimits(LIMITS.as_of, LIMITS.max_age_days, min_ratio=0.1, max_ratio=None)
    assert run_suite(bad_con, raw_suite("transactions", loose)).success


def test_a_rejected_load_never_becomes_the_baseline(bad_con):
    """A bad extract (100 rows after 16) was rejected; rerunning it compares with the last accepted load,
    so it keeps failing; the good extract after it compares with the accepted one and passes."""
    bad_con.execute("delete from raw._load_history")
    bad_con.execute(
        "insert into raw._load_history values ('transactions', 16, timestamp '2025-01-01', 'r-a', 'files', true), "
        "('transactions', 100, timestamp '2025-01-02', 'r-b', 'files', false)"
    )
    # r-a was accepted, r-b (100 rows) rejected
    bad_con.execute(
        "insert into raw._load_history values ('transactions', 100, timestamp '2025-01-03', 'r-c', 'files', false)"
    )
    res = run_suite(bad_con, raw_suite("transactions", LIMITS))
    assert [f.where for f in res.failures] == ["row_count"]
    assert res.failures[0].rows[0]["previous_run_id"] == "r-a"
    bad_con.execute(
        "insert into raw._load_history values ('transactions', 16, timestamp '2025-01-04', 'r-d', 'files', false)"
    )
    assert run_suite(bad_con, raw_suite("transactions", LIMITS)).success


def test_accepting_marks_only_the_latest_load_of_the_entity(bad_con):
    bad_con.execute("delete from raw._load_history")
    record_loads(bad_con, ["transactions", "accounts"], "r-1", datetime(2025, 1, 1), "files")
    record_loads(bad_con, ["transactions", "accounts"], "r-2", datetime(2025, 1, 2), "files")
    accept_latest_load(bad_con, "transactions")
    rows = bad_con.execute(
        "select entity, run_id, rows, accepted from raw._load_history order by entity, run_id"
    ).fetchall()
    assert rows == [
        ("accounts", "r-1", 9, False),
        ("accounts", "r-2", 9, False),
        ("transactions", "r-1", 16, False),
        ("transactions", "r-2", 16, True),
    ]


def test_a_missing_table_fails_without_a_stack_trace(bad_con):
    bad_con.execute("drop table raw.contacts")
    res = run_suite(bad_con, raw_suite("contacts", LIMITS))
    assert not res.success and res.failures[0].where == "raw.contacts"
