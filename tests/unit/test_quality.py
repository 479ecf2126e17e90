"""The runner's SQL translation agrees with great-expectations: on a small table with edge cases (NULLs,
boundary values, duplicates, NaN-free floats), the rows DuckDB counts as failing each expectation are
exactly as many as GE finds when it validates the whole table itself. That is what lets the checks
scale: GE only ever sees the candidates SQL selects."""

import duckdb
import pandas as pd
import pytest

from data_quality.runner import _ge_expectation, _Validator, run_suite
from data_quality.suites import Expectation, Suite

FRAME = pd.DataFrame(
    {
        "k": ["a", "b", "b", "c", None, "d", "e", "e", "e", "f"],
        "x": [0.0, 1.0, -0.5, None, 1.0, 2.0, 0.999, 1.001, 0.0, -0.0],
        "y": [0.0, 2.0, -1.0, 1.0, None, 2.0, 1.0, 1.0, 0.1, 0.0],
        "s": ["web", "field", "Web", None, "web", "rfp ", "edi", "", "phone", "field"],
    }
)
EXPECTATIONS = [
    Expectation("ExpectColumnValuesToNotBeNull", {"column": "k"}),
    Expectation("ExpectColumnValuesToNotBeNull", {"column": "x"}),
    Expectation("ExpectColumnValuesToBeUnique", {"column": "k"}),
    Expectation("ExpectColumnValuesToBeBetween", {"column": "x", "min_value": 0, "max_value": 1}),
    Expectation("ExpectColumnValuesToBeBetween", {"column": "x", "min_value": 0, "strict_min": True}),
    Expectation("ExpectColumnValuesToBeBetween", {"column": "y", "max_value": 1, "strict_max": True}),
    Expectation(
        "ExpectColumnValuesToBeInSet", {"column": "s", "value_set": ["web", "field", "edi", "phone", "rfp"]}
    ),
    Expectation(
        "ExpectColumnPairValuesAToBeGreaterThanB", {"column_A": "y", "column_B": "x", "or_equal": True}
    ),
    Expectation("ExpectColumnPairValuesAToBeGreaterThanB", {"column_A": "y", "column_B": "x"}),
]


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    c.execute("create schema t")
    c.register("frame", FRAME)
    c.execute("create table t.edge as select * from frame")
    yield c
    c.close()


@pytest.fixture(scope="module")
def sql_result(con):
    return run_suite(con, Suite("edge", "t.edge", EXPECTATIONS, keys={"t.edge": "k"}), sample_rows=20)


@pytest.fixture(scope="module")
def ge_counts(con):
    """GE on the whole table, no SQL involved."""
    v = _Validator("whole")
    df = FRAME.copy()
    results = v.validate(
        "whole", df, [_ge_expectation(v.gx, e, df, con, i) for i, e in enumerate(EXPECTATIONS)]
    )
    return [(r.success, (r.result or {}).get("unexpected_count")) for r in results]


@pytest.mark.parametrize("i", range(len(EXPECTATIONS)))
def test_sql_counts_match_ge_on_the_whole_table(con, ge_counts, i):
    e = EXPECTATIONS[i]
    res = run_suite(con, Suite(f"edge{i}", "t.edge", [e], keys={"t.edge": "k"}), sample_rows=20)
    ge_success, ge_count = ge_counts[i]
    assert res.success == ge_success
    if not ge_success:
        (failure,) = res.failures
        assert failure.unexpected_count == ge_count
        assert "SQL counted" not in failure.why  # GE agreed with every row SQL selected


def test_known_answers(sql_result):
    by = {(f.expectation, f.column): f for f in sql_result.failures}
    unique = by[("expect_column_values_to_be_unique", "k")]
    assert unique.unexpected_count == 5 and unique.examples == ["b", "e"]
    in_set = by[("expect_column_values_to_be_in_set", "s")]
    assert in_set.unexpected_count == 3 and sorted(in_set.examples) == ["", "Web", "rfp "]
    assert by[("expect_column_values_to_not_be_null", "k")].unexpected_count == 1
