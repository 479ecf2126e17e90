"""The published files as a BI reader meets them: an old DuckDB opens the file, every column is described."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from planning import published_schema
from planning.publish import PUBLISHED_TABLES, VIEWS_SQL

pytestmark = pytest.mark.bi
ROOT = Path(__file__).resolve().parents[2]

READ_SCRIPT = """
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
rows, goal, plans = con.execute(
    "select count(*), cast(sum(goal) as varchar), list(distinct plan_id) from latest_account_plan").fetchall()[0]
comment = con.execute("select comment from duckdb_tables() where table_name = 'account_plan'").fetchall()[0][0]
print(json.dumps({"version": duckdb.__version__, "rows": rows, "goal": goal, "plans": plans, "comment": comment}))
"""


def _read_with(python: Path, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-c", READ_SCRIPT, str(path)], capture_output=True, text=True)


def test_the_oldest_supported_duckdb_reads_the_published_plan(demo_plan, old_duckdb_python, tmp_path):
    path = demo_plan / "published" / "plan.duckdb"
    proc = _read_with(old_duckdb_python, path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    old = json.loads(proc.stdout)
    with duckdb.connect(str(path), read_only=True) as con:
        rows, goal, plans = con.execute(
            "select count(*), cast(sum(goal) as varchar), list(distinct plan_id) from latest_account_plan"
        ).fetchall()[0]
    assert old["version"].startswith("1.0.")
    assert (old["rows"], old["goal"], old["plans"]) == (rows, goal, plans) and rows == 2000
    assert old["comment"] == published_schema.table_comment("account_plan")

    # the control: DuckDB's own newest format is refused by the same reader
    newest = tmp_path / "newest.duckdb"
    with duckdb.connect() as con:
        con.execute(f"attach '{newest}' as n (storage_version 'latest')")
        con.execute("create table n.latest_account_plan as select 1 as goal, 'p' as plan_id")
        con.execute("create table n.account_plan as select 1 as x")
        con.execute("detach n")
    refused = _read_with(old_duckdb_python, newest)
    assert refused.returncode != 0 and "version number" in refused.stderr


def _doc_columns() -> dict[str, set[str]]:
    """Columns per table from docs/published_schema.md: `| name | type | description |` rows under `### table`."""
    out: dict[str, set[str]] = {}
    table = None
    for line in (ROOT / "docs" / "published_schema.md").read_text().splitlines():
        if m := re.match(r"^### `?(\w+)`?", line):
            table = m.group(1)
            out[table] = set()
        elif table and (m := re.match(r"^\| `(\w+)` \|", line)):
            out[table].add(m.group(1))
    return out


def test_every_published_column_is_described_in_duckdb_parquet_and_the_docs(demo_plan):
    path = demo_plan / "published" / "plan.duckdb"
    with duckdb.connect(str(path), read_only=True) as con:
        columns = con.execute(
            "select table_name, column_name, comment from duckdb_columns() where database_name = 'plan'"
        ).df()
        table_comments = dict(
            con.execute(
                "select table_name, comment from duckdb_tables() union all "
                "select view_name, comment from duckdb_views() where not internal"
            ).fetchall()
        )
    names = [*PUBLISHED_TABLES, *VIEWS_SQL]
    assert set(columns["table_name"]) == set(names)
    undescribed = columns[columns["comment"].isna() | (columns["comment"] == "")]
    assert undescribed.empty, undescribed[["table_name", "column_name"]].to_string()
    assert all(table_comments[n] == published_schema.table_comment(n) for n in names)

    for name in [*PUBLISHED_TABLES, "plan_history"]:
        meta = pq.read_metadata(demo_plan / "published" / "parquet" / f"{name}.parquet")
        kv = {k.decode(): v.decode() for k, v in meta.metadata.items()}
        described = json.loads(kv["covplan.column_descriptions"])
        assert list(described) == meta.schema.names, name
        assert kv["covplan.schema_version"] == str(published_schema.SCHEMA_VERSION)

    documented = _doc_columns()
    for name in [*PUBLISHED_TABLES, "plan_history"]:
        published = set(columns.loc[columns["table_name"] == name, "column_name"])
        assert documented.get(name) == published, f"docs/published_schema.md, table {name}"
