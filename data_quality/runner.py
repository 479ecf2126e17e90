"""Run an expectation suite against the DuckDB warehouse without loading a large table into pandas.

Row expectations: DuckDB counts, in one scan per table, the rows that break each expectation and
selects up to `sample_rows` of them; great-expectations then validates the frame of those candidate
rows and is the judge of pass/fail, while the count comes from SQL (GE only sees the sample). A clean
table therefore costs one aggregate query and a GE run on an empty frame, whatever its size.
Frame expectations: GE validates the small frame the suite's SQL computes, and counts itself.

great_expectations takes 5–10 s to import, so it is imported here, inside the call, never at module
load; its analytics and progress bars are switched off.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from data_quality.suites import Expectation, Suite


@dataclass(frozen=True)
class Failure:
    expectation: str  # snake_case GE type, e.g. expect_column_values_to_be_unique
    where: str  # table or frame
    column: str | None
    unexpected_count: int | None
    examples: list[str]  # distinct failing values
    rows: list[dict]  # a sample of failing rows: key, column(s)
    why: str = ""


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    success: bool
    evaluated: int
    failures: list[Failure] = field(default_factory=list)
    rows_checked: dict[str, int] = field(default_factory=dict)  # table -> rows

    @property
    def failed(self) -> int:
        return len(self.failures)


def _q(identifier: str) -> str:
    """A quoted identifier; names come from the suites (code), never from data."""
    if '"' in identifier:
        raise ValueError(f"identifier {identifier!r} contains a double quote")
    return ".".join(f'"{part}"' for part in identifier.split("."))


def _predicate(e: Expectation, table: str, i: int, params: dict[str, Any]) -> str:
    """SQL that is true exactly for the rows of `table` (alias t) that break `e` (GE ignores NULLs in
    value expectations, so NULLs never match here either). Values travel as parameters."""
    c = f"t.{_q(e.kwargs['column'])}" if "column" in e.kwargs else ""
    if e.ref:
        ref_table, ref_col = e.ref
        return f"{c} is not null and {c} not in (select {_q(ref_col)} from {_q(ref_table)} where {_q(ref_col)} is not null)"
    if e.type == "ExpectColumnValuesToNotBeNull":
        return f"{c} is null"
    if e.type == "ExpectColumnValuesToBeUnique":
        col = _q(e.kwargs["column"])
        return f"{c} in (select {col} from {_q(table)} where {col} is not null group by {col} having count(*) > 1)"
    if e.type == "ExpectColumnValuesToBeBetween":
        parts = []
        if e.kwargs.get("min_value") is not None:
            params[f"lo{i}"] = e.kwargs["min_value"]
            parts.append(f"{c} {'<=' if e.kwargs.get('strict_min') else '<'} $lo{i}")
        if e.kwargs.get("max_value") is not None:
            params[f"hi{i}"] = e.kwargs["max_value"]
            parts.append(f"{c} {'>=' if e.kwargs.get('strict_max') else '>'} $hi{i}")
        return " or ".join(parts) or "false"
    if e.type == "ExpectColumnValuesToBeInSet":
        params[f"set{i}"] = [str(v) for v in e.kwargs["value_set"]]
        return f"{c} is not null and not list_contains($set{i}, {c}::varchar)"
    if e.type == "ExpectColumnPairValuesAToBeGreaterThanB":
        a, b = f"t.{_q(e.kwargs['column_A'])}", f"t.{_q(e.kwargs['column_B'])}"
        # GE's default ignores a row only when both values are missing; one missing value fails it
        return f"(({a} is null) <> ({b} is null) or {a} {'<' if e.kwargs.get('or_equal') else '<='} {b})"
    raise ValueError(f"no SQL translation for row expectation {e.type}")


def _columns(e: Expectation) -> list[str]:
    return [e.kwargs[k] for k in ("column", "column_A", "column_B") if k in e.kwargs]


def _snake(name: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in name).lstrip("_")


def _ge_expectation(
    gx: Any, e: Expectation, frame: pd.DataFrame, con: duckdb.DuckDBPyConnection, position: int
):
    """The GE expectation of `e`; `position` (in meta) maps GE's results, which it reorders, back to `e`."""
    kwargs = dict(e.kwargs)
    if e.ref:  # the allowed values: those of the candidates' values that the referenced table holds
        ref_table, ref_col = e.ref
        values = frame[kwargs["column"]].dropna().astype(str).unique().tolist()
        found = con.execute(
            f"select distinct {_q(ref_col)}::varchar from {_q(ref_table)} "
            f"where {_q(ref_col)}::varchar in (select unnest($v::varchar[]))",
            {"v": values},
        ).fetchall()
        kwargs["value_set"] = [v for (v,) in found]
        frame[kwargs["column"]] = frame[kwargs["column"]].astype("object")
    if e.type == "ExpectColumnValuesToBeInSet" and not e.ref:
        frame[kwargs["column"]] = (
            frame[kwargs["column"]].astype("object").where(frame[kwargs["column"]].notna())
        )
    return getattr(gx.expectations, e.type)(**kwargs, meta={"position": position})


class _Validator:
    """One ephemeral GE context per suite run; validates one pandas frame at a time."""

    def __init__(self, name: str) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        with warnings.catch_warnings():
            # With the optional `spark` extra installed, great-expectations probes pyspark on import and
            # pyspark warns that it does not support pandas 3; the suites never use Spark, so the
            # warning only misleads the person reading the CLI output.
            warnings.filterwarnings("ignore", message="PySpark does not yet", category=FutureWarning)
            import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.gx = gx
        self.ctx = gx.get_context(mode="ephemeral")
        self.ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.source = self.ctx.data_sources.add_pandas(f"{name}_source")
        self.name = name

    def validate(self, frame_name: str, df: pd.DataFrame, expectations: list) -> list:
        batch_def = self.source.add_dataframe_asset(frame_name).add_batch_definition_whole_dataframe("all")
        suite = self.ctx.suites.add(
            self.gx.ExpectationSuite(name=f"{self.name}.{frame_name}", expectations=expectations)
        )
        result = batch_def.get_batch(batch_parameters={"dataframe": df}).validate(
            suite, result_format="COMPLETE"
        )
        return sorted(result.results, key=lambda r: r.expectation_config.meta["position"])


def _failing_rows(df: pd.DataFrame, res: dict, show: list[str], n: int) -> list[dict]:
    idx = res.get("unexpected_index_list") or []
    if not idx:
        return []
    if isinstance(idx[0], dict):  # some GE versions give {column: value, ...} per row
        return [{k: _plain(v) for k, v in r.items()} for r in idx[:n]]
    cols = [c for c in show if c in df.columns]
    return [{k: _plain(v) for k, v in r.items()} for r in df.loc[idx[:n], cols].to_dict("records")]


def _plain(v: Any) -> Any:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return None
    if isinstance(v, int | float | str | bool):
        return v
    return str(v)


def _examples(res: dict, n: int) -> list[str]:
    values = res.get("unexpected_list")
    if values is None:
        values = res.get("partial_unexpected_list") or []
    out: list[str] = []
    for v in values:
        s = str(_plain(v))
        if s not in out:
            out.append(s)
        if len(out) >= n:
            break
    return out


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    schema, name = table.split(".")
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()
    return {c for (c,) in rows}


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


def run_suite(con: duckdb.DuckDBPyConnection, suite: Suite, sample_rows: int = 10) -> SuiteResult:
    """Validate `suite` against the warehouse behind `con`; every expectation runs, each failure carries
    its count, failing values and a sample of failing rows."""
    validator = _Validator(suite.name)
    failures: list[Failure] = []
    rows_checked: dict[str, int] = {}
    by_table: dict[str, list[Expectation]] = {}
    for e in suite.expectations:
        if e.frame is None:
            by_table.setdefault(e.table or suite.table, []).append(e)
    missing = [
        t for t in {*by_table, *(e.ref[0] for e in suite.expectations if e.ref)} if not _table_exists(con, t)
    ]
    if missing:
        return SuiteResult(
            suite.name,
            False,
            len(suite.expectations),
            [
                Failure("table exists", t, None, None, [], [], "the table to check is missing")
                for t in sorted(missing)
            ],
        )
    for table, exps in by_table.items():
        rows_checked[table] = int(con.execute(f"select count(*) from {_q(table)}").fetchone()[0])
        have = _table_columns(con, table)
        absent = [e for e in exps if not set(_columns(e)) <= have]
        failures += [
            Failure(_snake(e.type), table, e.column, None, [], [], "the column is missing from the table")
            for e in absent
        ]
        exps = [e for e in exps if e not in absent]
        if exps:
            failures += _run_rows(con, validator, suite, table, exps, sample_rows)
    for frame_name, sql in suite.frames.items():
        exps = [e for e in suite.expectations if e.frame == frame_name]
        if not exps:
            continue
        params = {k: v for k, v in suite.params.items() if f"${k}" in sql}
        df = con.execute(sql, params).df()
        for e, r in zip(
            exps,
            validator.validate(
                frame_name, df, [_ge_expectation(validator.gx, e, df, con, i) for i, e in enumerate(exps)]
            ),
            strict=True,
        ):
            if not r.success:
                res = r.result or {}
                failures.append(
                    Failure(
                        r.expectation_config.type,
                        frame_name,
                        e.column,
                        res.get("unexpected_count"),
                        _examples(res, sample_rows),
                        _failing_rows(df, res, list(df.columns), sample_rows),
                        e.why,
                    )
                )
    return SuiteResult(suite.name, not failures, len(suite.expectations), failures, rows_checked)


def _run_rows(
    con, validator: _Validator, suite: Suite, table: str, exps: list[Expectation], n: int
) -> list[Failure]:
    """Count each expectation's violations in one query, sample the violating rows, let GE judge them."""
    params: dict[str, Any] = {}
    preds = [_predicate(e, table, i, params) for i, e in enumerate(exps)]
    counts_sql = ", ".join(f"count(*) filter (where {p})" for p in preds)
    counts = con.execute(f"select {counts_sql} from {_q(table)} t", params).fetchone()
    key = suite.keys.get(table)
    wanted = list(dict.fromkeys([*([key] if key else []), *(c for e in exps for c in _columns(e))]))
    select = ", ".join(f"t.{_q(c)}" for c in wanted)
    samples = []
    for e, p, n_bad in zip(exps, preds, counts, strict=True):
        if not n_bad:
            continue
        used = {k: v for k, v in params.items() if f"${k}" in p}
        order = f"t.{_q(e.kwargs['column'])}, " if e.type == "ExpectColumnValuesToBeUnique" else ""
        samples.append(
            con.execute(
                f"select t.rowid as _rowid, {select} from {_q(table)} t where {p} order by {order}t.rowid limit {int(n) * 2}",
                used,
            ).df()
        )
    empty = con.execute(f"select t.rowid as _rowid, {select} from {_q(table)} t limit 0").df()
    frame = pd.concat([empty, *samples], ignore_index=True) if samples else empty
    frame = frame.drop_duplicates("_rowid").reset_index(drop=True).drop(columns="_rowid")
    results = validator.validate(
        table.replace(".", "__"),
        frame,
        [_ge_expectation(validator.gx, e, frame, con, i) for i, e in enumerate(exps)],
    )
    out = []
    for e, r, n_bad in zip(exps, results, counts, strict=True):
        if r.success and not n_bad:
            continue
        res = r.result or {}
        why = e.why
        if r.success:  # SQL found rows that GE accepts: the translation is wrong; say so, don't hide it
            why = (
                f"{why} (SQL counted {n_bad} rows that great-expectations accepts: check the SQL translation)"
            )
        out.append(
            Failure(
                r.expectation_config.type,
                table,
                e.column,
                int(n_bad) if n_bad else res.get("unexpected_count"),
                _examples(res, n),
                _failing_rows(frame, res, list(dict.fromkeys(c for c in [key, *_columns(e)] if c)), n),
                why,
            )
        )
    return out
