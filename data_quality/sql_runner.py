"""The same expectation suites evaluated inside DuckDB, for tables too big to load into pandas.

great-expectations' pandas engine needs the whole table as a DataFrame: at 50M order lines that is
gigabytes and most of an hour. The four expectation kinds the suites use are one aggregate each, so
for large tables they run as SQL over the warehouse table and report the same figures as
`run_suite` (expectation name, column, unexpected count, up to five example values). An expectation
kind without a SQL form raises, so the check never silently skips one.
"""

from __future__ import annotations

import re

import duckdb

from data_quality.runner import SuiteResult
from data_quality.suites import Suite

SQL_EXPECTATIONS = (
    "ExpectColumnValuesToNotBeNull",
    "ExpectColumnValuesToBeUnique",
    "ExpectColumnValuesToBeBetween",
    "ExpectColumnValuesToBeInSet",
)


def supports_sql(suite: Suite) -> bool:
    return all(kind in SQL_EXPECTATIONS for kind, _ in suite.expectations)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: object) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _snake(kind: str) -> str:
    """ExpectColumnValuesToBeUnique -> expect_column_values_to_be_unique (great-expectations' type name)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()


def _unexpected_sql(kind: str, kw: dict, table: str) -> str:
    """A query selecting the unexpected values of one expectation (NULLs are only unexpected for
    NotBeNull, as in great-expectations)."""
    col = _q(kw["column"])
    if kind == "ExpectColumnValuesToNotBeNull":
        return f"select {col} as v from {table} where {col} is null"
    if kind == "ExpectColumnValuesToBeUnique":
        return (
            f"select {col} as v from {table} where {col} in "
            f"(select {col} from {table} where {col} is not null group by 1 having count(*) > 1)"
        )
    if kind == "ExpectColumnValuesToBeBetween":
        bounds = []
        if kw.get("min_value") is not None:
            bounds.append(f"{col} {'<=' if kw.get('strict_min') else '<'} {_lit(kw['min_value'])}")
        if kw.get("max_value") is not None:
            bounds.append(f"{col} {'>=' if kw.get('strict_max') else '>'} {_lit(kw['max_value'])}")
        return (
            f"select {col} as v from {table} where {col} is not null and ({' or '.join(bounds) or 'false'})"
        )
    if kind == "ExpectColumnValuesToBeInSet":
        values = ", ".join(_lit(v) for v in kw["value_set"])
        return f"select {col} as v from {table} where {col} is not null and {col} not in ({values})"
    raise ValueError(f"expectation {kind} has no SQL form; run the suite with great-expectations")


def run_suite_sql(con: duckdb.DuckDBPyConnection, table: str, suite: Suite) -> SuiteResult:
    """Validate the warehouse table `table` against `suite` in DuckDB."""
    present = {d[0] for d in con.execute(f"select * from {table} limit 0").description}
    missing = sorted({kw["column"] for _, kw in suite.expectations if "column" in kw} - present)
    if missing:
        failures = [
            {"expectation": "column exists", "column": c, "unexpected_count": None, "examples": []}
            for c in missing
        ]
        return SuiteResult(suite.name, False, len(suite.expectations), len(missing), failures)
    failures = []
    for kind, kw in suite.expectations:
        sql = _unexpected_sql(kind, kw, table)
        count = con.execute(f"select count(*) from ({sql})").fetchall()[0][0]
        if count:
            examples = [str(r[0]) for r in con.execute(f"{sql} limit 5").fetchall()]
            failures.append(
                {
                    "expectation": _snake(kind),
                    "column": kw["column"],
                    "unexpected_count": int(count),
                    "examples": examples,
                }
            )
    return SuiteResult(suite.name, not failures, len(suite.expectations), len(failures), failures)
