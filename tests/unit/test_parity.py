"""The comparison behind the engine parity tests and benchmarks/compare_warehouses.py, on hand-made tables
with known answers: what passes, and that every failure names the table, a key and the column."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd

from data_quality.parity import TABLE_KEYS, rows_frame, table_differences

MODELS = Path(__file__).resolve().parents[2] / "dbt_project" / "models"
KEYS = ["account_id", "quarter_start"]
NAMES = ["account_id", "quarter_start", "revenue", "orders", "segment"]
ROWS = [
    ("A1", date(2025, 1, 1), 1000.0, 3, "core"),
    ("A1", date(2025, 4, 1), 0.0, 0, None),
    ("A2", date(2025, 1, 1), 123456.789, 12, "growth"),
]


def frame(rows=ROWS) -> pd.DataFrame:
    return rows_frame(NAMES, rows)


def with_row(i: int, **changes) -> list[tuple]:
    rows = [list(r) for r in ROWS]
    for name, value in changes.items():
        rows[i][NAMES.index(name)] = value
    return [tuple(r) for r in rows]


def test_equal_tables_in_any_row_order_pass():
    assert table_differences("fct_x", frame(), frame(ROWS[::-1]), KEYS) == []


def test_doubles_within_the_tolerance_and_engine_number_types_pass():
    near = with_row(2, revenue=123456.789 * (1 + 5e-10))
    assert table_differences("fct_x", frame(), frame(near), KEYS) == []
    # PostgreSQL numeric arrives as Decimal, an integer may arrive as Decimal too
    decimals = [(a, q, Decimal(str(rev)), Decimal(n), seg) for a, q, rev, n, seg in ROWS]
    assert table_differences("fct_x", frame(), frame(decimals), KEYS) == []


def test_a_relative_difference_of_1e_8_fails_naming_table_key_and_column():
    off = with_row(2, revenue=123456.789 * (1 + 1e-8))
    [problem] = table_differences("fct_x", frame(), frame(off), KEYS, sides=("duckdb", "spark"))
    assert problem.startswith("fct_x: column revenue differs in 1 of 3 rows")
    assert "key (account_id=A2, quarter_start=2025-01-01)" in problem
    assert "duckdb 123456.789" in problem and "spark 123456.79" in problem


def test_the_absolute_tolerance_only_near_zero():
    tiny = with_row(1, revenue=1e-13)
    assert table_differences("fct_x", frame(), frame(tiny), KEYS, atol=1e-12) == []
    [problem] = table_differences("fct_x", frame(), frame(tiny), KEYS)  # default atol 0
    assert "column revenue" in problem and "quarter_start=2025-04-01" in problem


def test_a_null_equals_only_a_null():
    assert table_differences("fct_x", frame(), frame(with_row(0, segment=None)), KEYS) == [
        "fct_x: column segment differs in 1 of 3 rows, e.g. key (account_id=A1, quarter_start=2025-01-01): "
        "left 'core', right null"
    ]
    nan = with_row(0, revenue=float("nan"))
    assert table_differences("fct_x", frame(nan), frame(nan), KEYS) == []
    assert "column revenue" in table_differences("fct_x", frame(), frame(nan), KEYS)[0]


def test_a_missing_row_fails_naming_its_key():
    assert table_differences("fct_x", frame(), frame(ROWS[:2]), KEYS, sides=("duckdb", "postgres")) == [
        "fct_x: 1 rows only in duckdb, e.g. key (account_id=A2, quarter_start=2025-01-01)"
    ]
    swapped = [*ROWS[:2], ("A3", date(2025, 1, 1), 123456.789, 12, "growth")]
    assert table_differences("fct_x", frame(), frame(swapped), KEYS) == [
        "fct_x: 1 rows only in left, e.g. key (account_id=A2, quarter_start=2025-01-01)",
        "fct_x: 1 rows only in right, e.g. key (account_id=A3, quarter_start=2025-01-01)",
    ]


def test_a_repeated_key_fails_even_when_both_sides_repeat_it():
    doubled = [*ROWS, ROWS[0]]
    problems = table_differences("fct_x", frame(doubled), frame(doubled), KEYS)
    assert problems == [
        "fct_x: (account_id, quarter_start) is not a key of the left table: 2 rows share a key, "
        "e.g. (account_id=A1, quarter_start=2025-01-01)",
        "fct_x: (account_id, quarter_start) is not a key of the right table: 2 rows share a key, "
        "e.g. (account_id=A1, quarter_start=2025-01-01)",
    ]


def test_other_columns_fail():
    renamed = frame().rename(columns={"orders": "order_count"})
    [problem] = table_differences("fct_x", frame(), renamed, KEYS)
    assert problem.startswith("fct_x: columns differ") and "order_count" in problem


def test_text_against_a_double_differs_rather_than_failing_to_compare():
    as_text = frame().assign(revenue=lambda d: d["revenue"].astype(str))
    [problem] = table_differences("fct_x", frame(), as_text, KEYS)
    assert "column revenue differs in 3 of 3 rows" in problem


def test_every_intermediate_and_mart_model_has_a_key():
    models = {p.stem for layer in ("intermediate", "marts") for p in (MODELS / layer).rglob("*.sql")}
    assert sorted(models) == sorted(TABLE_KEYS)
