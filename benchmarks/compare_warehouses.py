"""Compare every table of some schemas between two DuckDB warehouses built from the same raw tables
(e.g. the dbt build of main and of a branch): same columns and types, and the same rows lined up by
the table's key (data_quality/parity.py; a table it does not know is keyed on its columns that are not
doubles), doubles equal within a relative tolerance. Used to show a model rewrite changes no result.

    uv run python benchmarks/compare_warehouses.py OLD.duckdb NEW.duckdb [--schemas intermediate,marts]
        [--tables int_account_windows,fct_account_features] [--rtol 1e-9]

Exit status 1 when any table differs; one line per table either way.
"""

from __future__ import annotations

import argparse
import sys

import duckdb
import pandas as pd

from data_quality.parity import TABLE_KEYS, table_differences


def tables(con: duckdb.DuckDBPyConnection, catalog: str, schemas: list[str]) -> set[tuple[str, str]]:
    """(schema, table) of the base tables in the given schemas of one attached warehouse."""
    rows = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = ? and table_type = 'BASE TABLE' and list_contains(?, table_schema)",
        [catalog, schemas],
    ).fetchall()
    return {(s, t) for s, t in rows}


def table_key(df: pd.DataFrame, table: str) -> list[str]:
    """The dbt table's key (data_quality/parity.py), else every column that is not a double."""
    return TABLE_KEYS.get(table) or [c for c in df.columns if not pd.api.types.is_float_dtype(df[c])]


def compare_table(con: duckdb.DuckDBPyConnection, schema: str, table: str, rtol: float) -> str | None:
    """None when equal, else what differs (rows lined up by key: data_quality/parity.py)."""
    old = con.execute(f"select * from old_wh.{schema}.{table}").df()
    new = con.execute(f"select * from new_wh.{schema}.{table}").df()
    types = [str(t) for t in old.dtypes], [str(t) for t in new.dtypes]
    if list(old.columns) == list(new.columns) and types[0] != types[1]:
        return f"types differ: {types[0]} vs {types[1]}"
    key = table_key(old, table)
    if not key:
        return "no key to line the rows up by (not a dbt table, and every column is a double)"
    problems = table_differences(table, old, new, key, rtol=rtol, sides=("old", "new"))
    return "; ".join(p.removeprefix(f"{table}: ") for p in problems) or None


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
