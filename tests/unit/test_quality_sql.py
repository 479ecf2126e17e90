"""The DuckDB form of the expectation suites gives great-expectations' answers (both run for real)."""

import duckdb
import pytest

from data_quality.runner import run_suite
from data_quality.sql_runner import run_suite_sql, supports_sql
from data_quality.suites import Suite, transactions_suite
from tests.unit.test_quality import _good


def _both(df, suite=None):
    suite = suite or transactions_suite()
    con = duckdb.connect()
    con.register("df", df)
    con.execute("create table t as select * from df")
    return run_suite(df, suite), run_suite_sql(con, "t", suite)


def _summary(res):
    return (
        res.success,
        res.evaluated,
        res.failed,
        sorted((f["expectation"], f["column"], f["unexpected_count"]) for f in res.failures),
    )


def test_good_table_passes_in_both_engines():
    gx, sql = _both(_good())
    assert _summary(sql) == _summary(gx) == (True, 10, 0, [])


def test_bad_table_gives_the_same_failures_and_examples():
    bad = _good()
    bad.loc[1, "transaction_id"] = "T1"  # duplicate key: both rows are unexpected
    bad.loc[2, "discount"] = 1.7
    bad.loc[0, "channel"] = "carrier pigeon"
    bad.loc[2, "unit_price"] = -3.0
    bad.loc[1, "account_id"] = None
    gx, sql = _both(bad)
    assert _summary(sql) == _summary(gx)
    assert {f["column"] for f in sql.failures} == {
        "transaction_id",
        "discount",
        "channel",
        "unit_price",
        "account_id",
    }
    examples = {f["column"]: f["examples"] for f in sql.failures}
    assert examples["channel"] == ["carrier pigeon"] and examples["discount"] == ["1.7"]
    assert sorted(examples["transaction_id"]) == ["T1", "T1"]


def test_missing_column_is_reported_not_raised():
    _, sql = _both(_good().drop(columns=["channel"]))
    assert not sql.success and sql.failures[0]["column"] == "channel"


def test_an_expectation_without_sql_form_is_refused():
    suite = Suite("s", "transactions", [("ExpectColumnValuesToMatchRegex", {"column": "x", "regex": "a"})])
    assert not supports_sql(suite)
    con = duckdb.connect()
    con.execute("create table t as select 'a' as x")
    with pytest.raises(ValueError, match="no SQL form"):
        run_suite_sql(con, "t", suite)
