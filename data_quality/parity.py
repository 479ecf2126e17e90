"""Whether two builds of the same table hold the same rows: the check behind every "same result" claim.

The dbt project must give the same tables on DuckDB, PostgreSQL and a Spark cluster (tests/dbt and
tests/spark), and a model rewrite must change no result (benchmarks/compare_warehouses.py). All of them
line the rows up by the table's key and compare column by column: exact values equal, doubles within a
relative tolerance (engines sum in different orders), nulls equal only to nulls. Vectorised, so the
benchmark can compare whole warehouses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

# The key of every table the dbt project builds in `intermediate` and `marts` (tests/unit/test_parity.py
# keeps it complete): what two builds' rows are lined up by.
TABLE_KEYS: dict[str, list[str]] = {
    "int_account_assortment": ["account_id", "cutoff_date"],
    "int_account_hierarchy": ["account_id"],
    "int_account_months": ["account_id", "month_start"],
    "int_account_quarter_sites": ["account_id", "quarter_start", "site_id"],
    "int_account_quarters": ["account_id", "quarter_start"],
    "int_account_windows": ["account_id", "cutoff_date"],
    "int_plan_calendar": ["cutoff_date"],
    "dim_accounts": ["account_id"],
    "dim_reps": ["rep_id"],
    "fct_account_value": ["account_id"],
    "fct_buying_behaviour": ["account_id"],
    "fct_account_features": ["account_id", "cutoff_date"],
    "fct_quarterly_revenue": ["account_id", "quarter_start"],
}
DEFAULT_RTOL = 1e-9
NUMBER_KINDS = {"floating", "integer", "decimal", "mixed-integer-float", "empty"}


def rows_frame(names: Sequence[str], rows: Sequence[tuple]) -> pd.DataFrame:
    """Rows fetched through a DB-API cursor as a frame (Python floats become float64, the rest keep
    their Python values), so two engines' results are typed alike before comparing."""
    return pd.DataFrame.from_records(list(rows), columns=list(names))


def table_differences(
    table: str,
    left: pd.DataFrame,
    right: pd.DataFrame,
    keys: Sequence[str],
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = 0.0,
    sides: tuple[str, str] = ("left", "right"),
) -> list[str]:
    """What differs between two builds of `table` (empty when they hold the same rows), one line per
    problem naming the table, a key and the column: other columns, a key that repeats, rows only on one
    side, or values that differ (doubles: |a - b| <= max(rtol * max(|a|, |b|), atol))."""
    keys = list(keys)
    if list(left.columns) != list(right.columns):
        return [f"{table}: columns differ: {sides[0]} {list(left.columns)}, {sides[1]} {list(right.columns)}"]
    problems = [
        p
        for df, side in zip((left, right), sides, strict=True)
        if (p := _repeated_key(table, df, keys, side))
    ]
    if problems:
        return problems
    left = left.sort_values(keys, kind="stable", ignore_index=True)
    right = right.sort_values(keys, kind="stable", ignore_index=True)
    problems = _unmatched_keys(table, left, right, keys, sides)
    if problems:
        return problems
    for column in left.columns:
        if column in keys:
            continue
        same = _same_values(left[column], right[column], rtol, atol)
        if not same.all():
            i = int(np.flatnonzero(~same)[0])
            problems.append(
                f"{table}: column {column} differs in {int((~same).sum()):,} of {len(same):,} rows, "
                f"e.g. key {_key_text(left.loc[i, keys])}: {sides[0]} {_value_text(left.at[i, column])}, "
                f"{sides[1]} {_value_text(right.at[i, column])}"
            )
    return problems


def _repeated_key(table: str, df: pd.DataFrame, keys: list[str], side: str) -> str | None:
    repeated = df.duplicated(keys, keep=False)
    if not repeated.any():
        return None
    first = df.loc[repeated, keys].iloc[0]
    return (
        f"{table}: ({', '.join(keys)}) is not a key of the {side} table: {int(repeated.sum()):,} rows share "
        f"a key, e.g. {_key_text(first)}"
    )


def _unmatched_keys(
    table: str, left: pd.DataFrame, right: pd.DataFrame, keys: list[str], sides: tuple[str, str]
) -> list[str]:
    """Keys present on one side only (the sides are sorted by key, so once none are, rows line up)."""
    both = left[keys].merge(right[keys], on=keys, how="outer", indicator=True)
    problems = []
    for flag, side in zip(("left_only", "right_only"), sides, strict=True):
        only = both.loc[both["_merge"] == flag, keys]
        if len(only):
            problems.append(f"{table}: {len(only):,} rows only in {side}, e.g. key {_key_text(only.iloc[0])}")
    return problems


def _same_values(a: pd.Series, b: pd.Series, rtol: float, atol: float) -> np.ndarray:
    """Per row: equal, both null, or (doubles on either side, numbers on both) within the tolerance."""
    both_null = a.isna().to_numpy() & b.isna().to_numpy()
    floats = pd.api.types.is_float_dtype(a) or pd.api.types.is_float_dtype(b)
    if floats and _numbers(a) and _numbers(b):
        x = pd.to_numeric(a).to_numpy(dtype=float)
        y = pd.to_numeric(b).to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):  # inf - inf
            close = np.abs(x - y) <= np.maximum(rtol * np.maximum(np.abs(x), np.abs(y)), atol)
        return both_null | (x == y) | close
    equal = (a == b).fillna(False).to_numpy(dtype=bool)  # text against a double: differs
    return both_null | equal


def _numbers(s: pd.Series) -> bool:
    """Numbers only (ints, doubles, Decimals as PostgreSQL gives numeric; nulls allowed), not digits as text."""
    return pd.api.types.infer_dtype(s, skipna=True) in NUMBER_KINDS


def _key_text(key: pd.Series) -> str:
    return "(" + ", ".join(f"{name}={value}" for name, value in key.items()) + ")"


def _value_text(value: object) -> str:
    """A cell as a person reads it: null for any missing value, numpy scalars as plain Python values."""
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return "null"
    return repr(value.item() if isinstance(value, np.generic) else value)
