"""Export one published plan for people who live in spreadsheets: a CSV per table, or one workbook.

Reads the published DuckDB file (any kept plan, or `latest` for the plan in force) and writes every
published table filtered to that plan. CSV goes straight from DuckDB (`COPY`), so a 500,000-account
plan exports in seconds; the workbook goes through openpyxl, which is slower and limited by Excel to
1,048,576 rows a sheet (checked before writing, with the table named).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from planning import published_schema
from planning.publish import IN_FORCE_SQL, PUBLISHED_TABLES, PublishError, sql_literal

EXCEL_MAX_ROWS = 1_048_575  # one row of the sheet holds the header


@dataclass(frozen=True)
class Exported:
    plan_id: str
    files: list[Path]
    row_counts: dict[str, int]


def _resolve_plan(con: duckdb.DuckDBPyConnection, path: Path, plan: str) -> str:
    kept = [r[0] for r in con.execute("select plan_id from plan_runs order by created_at desc").fetchall()]
    plan_id = next(iter(con.execute(IN_FORCE_SQL).fetchall()), [None])[0] if plan == "latest" else plan
    if plan_id is None or plan_id not in kept:
        what = "no plan in force" if plan == "latest" else f"plan {plan!r} is not kept there"
        raise PublishError(f"{path}: {what}; kept plans: {', '.join(kept) or 'none'}")
    return plan_id


def _descriptions_sheet(tables: dict[str, list[str]]) -> pd.DataFrame:
    """table, column, description of every exported column: the spreadsheet's data dictionary."""
    rows = [
        (t, c, published_schema.column_descriptions(t).get(c, "")) for t, cols in tables.items() for c in cols
    ]
    return pd.DataFrame(rows, columns=["table", "column", "description"])


def export_plan(published_dir: str | Path, plan: str, fmt: str, out_dir: str | Path) -> Exported:
    """Write the published tables of `plan` (a plan_id or `latest`) as `out_dir/<table>.csv` (fmt
    "csv") or as `out_dir/<plan_id>.xlsx` with a sheet per table and a `columns` sheet (fmt "xlsx")."""
    if fmt not in ("csv", "xlsx"):
        raise PublishError(f"export format {fmt!r}: use csv or xlsx")
    path = Path(published_dir) / "plan.duckdb"
    if not path.exists():
        raise PublishError(f"{path}: no published plan yet; run `covplan plan` first")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=True)
    try:
        plan_id = _resolve_plan(con, path, plan)
        counts = {
            t: con.execute(f'select count(*) from "{t}" where plan_id = ?', [plan_id]).fetchall()[0][0]
            for t in PUBLISHED_TABLES
        }
        if fmt == "csv":
            files = []
            for t in PUBLISHED_TABLES:
                target = out / f"{t}.csv"
                con.execute(
                    f'copy (select * from "{t}" where plan_id = $plan) to {sql_literal(str(target))} '
                    "(format csv, header true)",
                    {"plan": plan_id},
                )
                files.append(target)
            return Exported(plan_id, files, counts)
        too_big = {t: n for t, n in counts.items() if n > EXCEL_MAX_ROWS}
        if too_big:
            raise PublishError(
                f"{path}: plan {plan_id}: {', '.join(f'{t} has {n:,} rows' for t, n in too_big.items())}; "
                f"an Excel sheet holds at most {EXCEL_MAX_ROWS:,}: export --format csv instead"
            )
        frames = {
            t: con.execute(f'select * from "{t}" where plan_id = ?', [plan_id]).df() for t in PUBLISHED_TABLES
        }
    finally:
        con.close()
    target = out / f"{plan_id}.xlsx"
    with pd.ExcelWriter(target, engine="openpyxl") as xl:
        for t, df in frames.items():
            df.to_excel(xl, sheet_name=t, index=False)
        _descriptions_sheet({t: list(df.columns) for t, df in frames.items()}).to_excel(
            xl, sheet_name="columns", index=False
        )
    return Exported(plan_id, [target], counts)
