"""Compare every table of some schemas between two DuckDB warehouses built from the same raw tables
(e.g. the dbt build of main and of a branch): same columns and types, same row count, and the same
rows after sorting, doubles equal within a relative tolerance. Used to show a model rewrite changes
no result.

    uv run python benchmarks/compare_warehouses.py OLD.duckdb NEW.duckdb [--schemas intermediate,marts]
        [--tables int_account_windows,fct_account_features] [--rtol 1e-9]

Exit status 1 when any table differs; one line per table either way.
"""

from __future__ import annotations

import argparse
import sys

import duckdb
import numpy as np
import pandas as pd


def tables(con: duckdb.DuckDBPyConnection, catalog: str, schemas: list[str]) -> set[tuple[str, str]]:
    """(schema, table) of the base tables in the given schemas of one attached warehouse."""
    rows = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = ? and table_type = 'BASE TABLE' and list_contains(?, table_schema)",
        [catalog, schemas],
    ).fetchall()
    return {(s, t) for s, t in rows}


def sorted_frame(con: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    """All rows of a table, sorted by every column (exact columns first, doubles last)."""
    df = con.execute(f"select * from {name}").df()
    floats = [c for c in df.columns if pd.api.types.is_float_dtype(df[c])]
    exact = [c for c in df.columns if c not in floats]
    key = df[exact].astype(str) if exact else pd.DataFrame(index=df.index)
    for c in floats:  # tie-break on rounded doubles so rows with equal keys still line up
        key[c] = df[c].round(6)
    order = key.sort_values(list(key.columns), kind="stable").index if len(key.columns) else df.index
    return df.loc[order].reset_index(drop=True)


def compare_table(con: duckdb.DuckDBPyConnection, schema: str, table: str, rtol: float) -> str | None:
    """None when equal, else what differs."""
    old = sorted_frame(con, f"old_wh.{schema}.{table}")
    new = sorted_frame(con, f"new_wh.{schema}.{table}")
    if list(old.columns) != list(new.columns):
        return f"columns differ: {list(old.columns)} vs {list(new.columns)}"
    if [str(t) for t in old.dtypes] != [str(t) for t in new.dtypes]:
        return f"types differ: {list(old.dtypes)} vs {list(new.dtypes)}"
    if len(old) != len(new):
        return f"{len(old)} rows vs {len(new)}"
    problems = []
    for c in old.columns:
        a, b = old[c], new[c]
        if pd.api.types.is_float_dtype(a):
            x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            both_nan = np.isnan(x) & np.isnan(y)
            scale = np.maximum(np.abs(x), np.abs(y))
            close = both_nan | (np.abs(x - y) <= rtol * scale)
            bad = int((~close).sum())
        else:
            bad = int((~((a == b) | (a.isna() & b.isna()))).sum())
        if bad:
            problems.append(f"{c}: {bad} rows")
    return "; ".join(problems) or None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--schemas", default="intermediate,marts")
    parser.add_argument("--rtol", type=float, default=1e-9, help="relative tolerance for doubles")
    parser.add_argument("--tables", default="", help="only these tables (comma-separated names)")
    args = parser.parse_args()
    schemas = [s.strip() for s in args.schemas.split(",") if s.strip()]
    con = duckdb.connect()
    con.execute(f"attach '{args.old}' as old_wh (read_only)")
    con.execute(f"attach '{args.new}' as new_wh (read_only)")
    old_t, new_t = tables(con, "old_wh", schemas), tables(con, "new_wh", schemas)
    if args.tables:
        keep = {t.strip() for t in args.tables.split(",")}
        old_t, new_t = {x for x in old_t if x[1] in keep}, {x for x in new_t if x[1] in keep}
    failed = 0
    for schema, table in sorted(old_t ^ new_t):
        print(f"MISSING {schema}.{table}: only in {'old' if (schema, table) in old_t else 'new'}")
        failed += 1
    for schema, table in sorted(old_t & new_t):
        rows = con.execute(f"select count(*) from old_wh.{schema}.{table}").fetchone()[0]
        diff = compare_table(con, schema, table, args.rtol)
        print(f"{'DIFF' if diff else 'same'} {schema}.{table} ({rows:,} rows){': ' + diff if diff else ''}")
        failed += diff is not None
    print(f"{len(old_t & new_t)} tables compared, {failed} differ (doubles within {args.rtol:g} relative)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
