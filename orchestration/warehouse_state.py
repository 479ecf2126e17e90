"""When `dbt build` can be skipped: the marts already hold exactly what it would build.

Every build attempt is logged in `state.dbt_builds` of the warehouse: first as `started`, then as
`success` with what it was built from: the raw tables in use (per raw table: rows, the load's run id and
load time), the dbt project (hash of its model, macro, test and config files, and the dbt versions), the
dbt vars and the selected models and checks, plus how each check came out, how many dbt invocations the
file had seen (`state.dbt_invocations`, written by the project's on-run-start hook on every dbt run) and
which relations the dbt schemas held. The next build is skipped only when the latest attempt succeeded,
all of these are equal, no dbt ran on the file since (a `dbt run` by hand with other vars changes the
marts without this log knowing) and the same relations exist; a failed or interrupted build (left as
`started`) always forces the next one. Only the DuckDB target is tracked: any other target always builds.
The inputs are a fingerprint and the outcome a reuse-or-redo decision, shared with the ingest's reuse
(sources/fingerprint.py).
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import duckdb

from sources.fingerprint import Decision, Fingerprint, redo
from sources.reuse import table_exists

DBT_BUILDS = "state.dbt_builds"
DBT_INVOCATIONS = "state.dbt_invocations"  # same DDL as dbt_project/macros/invocations.sql
DBT_SCHEMAS = ("staging", "intermediate", "marts")  # where the project's relations live
RAW_TABLES = ("accounts", "contacts", "reps", "opportunities", "transactions")
PROJECT_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".md", ".py"}
SKIPPED_DIRS = {"target", "logs", "dbt_packages", "dbt_modules"}


def project_hash(project_dir: Path) -> str:
    """Hash of the dbt project's source files (what the manifest is parsed from), the dbt versions."""
    h = hashlib.sha256()
    for path in sorted(project_dir.rglob("*")):
        rel = path.relative_to(project_dir)
        if not path.is_file() or path.suffix not in PROJECT_SUFFIXES or SKIPPED_DIRS & set(rel.parts):
            continue
        h.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    for lib in ("dbt-core", "dbt-duckdb"):
        h.update(f"{lib}={version(lib)}".encode())
    return h.hexdigest()[:32]


def raw_state(con: duckdb.DuckDBPyConnection) -> dict:
    """Per raw table: rows and the load(s) it came from (cheap: counts and min/max of constant columns)."""
    state = {}
    for table in RAW_TABLES:
        if not table_exists(con, "raw", table):
            state[table] = None
            continue
        rows, run_lo, run_hi, at_lo, at_hi = con.execute(
            f'select count(*), min(_run_id), max(_run_id), min(_loaded_at), max(_loaded_at) from raw."{table}"'
        ).fetchone()
        state[table] = [rows, run_lo, run_hi, str(at_lo), str(at_hi)]
    return state


def build_inputs(
    con: duckdb.DuckDBPyConnection, project_dir: Path, dbt_vars: dict, selected: list[str]
) -> Fingerprint:
    """What a build's result depends on (its digest is stored with the build)."""
    return Fingerprint(
        {
            "raw": raw_state(con),
            "project": project_hash(project_dir),
            "vars": dbt_vars,
            "selected": sorted(selected),
        }
    )


def tracked_target() -> bool:
    """Only the DuckDB target's marts live in the warehouse file where the state is kept."""
    return os.environ.get("DBT_TARGET", "dev") == "dev"


def ensure_state(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists state")
    con.execute(
        f"create table if not exists {DBT_BUILDS} (run_id varchar not null, started_at timestamp not null, "
        "status varchar not null, inputs varchar not null, parts json, checks json)"
    )
    con.execute(f"alter table {DBT_BUILDS} add column if not exists invocations bigint")
    con.execute(f"alter table {DBT_BUILDS} add column if not exists relations json")
    con.execute(f"create table if not exists {DBT_INVOCATIONS} (invocation_id varchar not null)")


def _invocations(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute(f"select count(*) from {DBT_INVOCATIONS}").fetchone()[0])


def _relations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables and views of the project's schemas, so a dropped mart is seen."""
    rows = con.execute(
        "select table_schema || '.' || table_name from information_schema.tables "
        f"where table_schema in ({', '.join('?' for _ in DBT_SCHEMAS)}) order by 1",
        list(DBT_SCHEMAS),
    ).fetchall()
    return [r[0] for r in rows]


def decide(con: duckdb.DuckDBPyConnection, inputs: Fingerprint, fresh: bool) -> Decision:
    if fresh:
        return redo("a fresh build was asked for (--fresh / dbt_warehouse config fresh)")
    if not tracked_target():
        return redo(f"dbt target {os.environ.get('DBT_TARGET')!r} is not tracked: always built")
    ensure_state(con)
    last = con.execute(
        f"select run_id, started_at, status, inputs, checks, invocations, relations from {DBT_BUILDS} "
        "order by started_at desc limit 1"
    ).fetchone()
    if last is None:
        return redo("no earlier build recorded in this warehouse")
    run_id, started_at, status, digest, checks, invocations, relations = last
    if status != "success":
        return redo(f"the last build ({run_id[:8]}) did not finish")
    if digest != inputs.digest:
        return redo(f"raw tables, dbt project or vars changed since build {run_id[:8]}")
    if invocations is None or _invocations(con) != invocations:
        return redo(f"dbt ran on this warehouse outside the plan since build {run_id[:8]}")
    if relations is None or _relations(con) != json.loads(relations):
        return redo(f"tables or views of the dbt schemas changed since build {run_id[:8]}")
    return Decision(run_id, started_at, "unchanged inputs", json.loads(checks or "{}"))


def record_start(con: duckdb.DuckDBPyConnection, run_id: str, inputs: Fingerprint) -> datetime:
    ensure_state(con)
    started = datetime.now(UTC).replace(tzinfo=None)
    con.execute(
        f"insert into {DBT_BUILDS} values (?, ?, 'started', ?, ?, null, null, null)",
        [run_id, started, inputs.digest, json.dumps(inputs.parts, default=str)],
    )
    return started


def record_success(con: duckdb.DuckDBPyConnection, run_id: str, started: datetime, checks: dict) -> None:
    con.execute(
        f"update {DBT_BUILDS} set status = 'success', checks = ?, invocations = ?, relations = ? "
        "where run_id = ? and started_at = ?",
        [json.dumps(checks), _invocations(con), json.dumps(_relations(con)), run_id, started],
    )
