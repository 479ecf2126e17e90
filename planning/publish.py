"""Publish a plan: a DuckDB file swapped in atomically for BI readers, Parquet, and optionally PostgreSQL.

The published contract (DESIGN.md) is assembled inside DuckDB from the warehouse's `ml` and `planning`
tables, straight into a new database file beside the old one; the rows of the plans kept from the old
file (the newest `keep_last`, and always the plan in force) are copied in, and the new file is then
`os.replace`d over the old: a reader that has the old file open keeps a consistent snapshot, a new
reader sees the whole new file, never half of one.

Every table holds the rows of several plans, told apart by `plan_id`. The views `latest_<table>` show
the plan in force: the non-scenario plan with the latest as-of date (the newest run on ties), so a
backfilled past quarter or a scenario never replaces the current plan. `plan_history` lists the kept
plans. Parquet holds the plan in force only (`parquet/<table>.parquet`, one file per table, like the
`latest_` views) plus `parquet/plan_history.parquet`; readers wanting older plans use the DuckDB file.
`parquet` is a symbolic link to a versioned folder (`.parquet-<pid>-<ns>`): a publish writes every file
of the new plan into a new folder and then replaces the link in one `os.replace`, so a crash never
leaves a table of the new plan beside one of the old, and a reader that resolves the link once
(`os.path.realpath`) reads one plan's files. The folder the link left is kept until the next publish
starts, for readers still inside it. Swaps and clean-up hold `.publish.lock` (flock: one machine or a
file system that honours it).

For BI readers: the DuckDB file is written in the storage format of `storage_compatibility_version`
(config publish.storage_compatibility_version), so drivers built on an older DuckDB open it; tables,
views and columns carry `COMMENT`s, and Parquet files key-value metadata, from the descriptions in
`planning.published_schema` (documented in docs/published_schema.md).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from planning import published_schema
from planning.marts import DuckDBTables, TableReader, fill_relations

PUBLISHED_TABLES = ["plan_runs", "account_plan", "territories", "territory_goals", "coverage_summary"]

# Each published table as a select over the warehouse; `plan_meta` is a one-row temp table with the
# plan's id and run facts. Money is DECIMAL(18,2) so published goals sum exactly.
CONTRACT_SQL: dict[str, str] = {
    "plan_runs": """
        select plan_id, kind, as_of_date, created_at, dagster_run_id, code_version, config_hash,
               cast(company_target_cents * 0.01 as decimal(18, 2)) as company_target,
               input_row_counts, model_metrics, territory_metrics,
               scenario_name, config_overrides, goal_metrics
        from plan_meta""",
    "account_plan": """
        select m.plan_id, m.dagster_run_id as run_id, a.account_id, a.account_name, a.industry, a.city, a.state,
               a.lat, a.lon, a.status, s.lifecycle, a.parent_account_id,
               v.revenue_t12m, v.gross_margin_t12m, v.yoy_growth, v.size_bucket,
               s.expected_revenue_next_4q, s.potential, s.headroom, s.share_of_wallet,
               s.size_tier, s.quadrant, s.behaviour, s.coverage_tier, s.coverage_role,
               s.coverage_reason, s.reason_codes,
               s.specialist_overlay, s.specialist_reason,
               -- all-NULL columns from pandas land with DuckDB type NULL, which PostgreSQL and later
               -- copies of the kept plans cannot take: publish them as text
               cast(s.override_field as varchar) as override_field,
               cast(s.original_value as varchar) as original_value,
               cast(s.override_reason as varchar) as override_reason,
               cast(s.override_author as varchar) as override_author,
               w.workload_hours, w.overlay_hours, t.territory_id, tr.owner_rep_id, a.owner_rep_id as current_owner_rep_id,
               cast(t.previous_territory_id as varchar) as previous_territory_id,
               (t.previous_territory_id is not null and t.previous_territory_id <> t.territory_id) as changed,
               -- goal: the quarters this plan sets (the whole year in a yearly plan, the remaining
               -- quarters in a quarterly one); goal_elapsed: its share of the kept elapsed quarters
               cast(g.goal_cents * 0.01 as decimal(18, 2)) as goal,
               cast(g.goal_elapsed_cents * 0.01 as decimal(18, 2)) as goal_elapsed,
               cast((g.goal_cents + g.goal_elapsed_cents) * 0.01 as decimal(18, 2)) as goal_year
        from {marts.dim_accounts} a
        cross join plan_meta m
        join {marts.fct_account_value} v on v.account_id = a.account_id
        join ml.account_segments s on s.account_id = a.account_id
        join planning.account_workload w on w.account_id = a.account_id
        join planning.territory_assignment t on t.account_id = a.account_id
        join planning.territories tr on tr.territory_id = t.territory_id
        join planning.account_goals g on g.account_id = a.account_id
        order by a.account_id""",
    "territories": """
        select m.plan_id, t.territory_id, t.role, t.owner_rep_id, t.accounts, t.workload_hours,
               t.revenue_t12m, t.potential, t.balance_deviation, t.centre_lat, t.centre_lon,
               t.mean_travel_km, t.max_travel_km,
               -- the same spans as account_plan: goal = sum of its accounts' goal, goal_elapsed = sum
               -- of their goal_elapsed (the quarters kept from the plan that set them), goal_year both
               cast(coalesce(g.set_cents, 0) * 0.01 as decimal(18, 2)) as goal,
               cast(coalesce(g.elapsed_cents, 0) * 0.01 as decimal(18, 2)) as goal_elapsed,
               cast(coalesce(g.set_cents + g.elapsed_cents, 0) * 0.01 as decimal(18, 2)) as goal_year,
               t.revenue_t12m_deviation as value_deviation, t.potential_deviation, t.accounts_deviation,
               t.total_travel_km, t.diameter_km, t.accounts_moved, t.value_moved, t.locked_accounts
        from planning.territories t
        cross join plan_meta m
        left join (
            select territory_id,
                   coalesce(sum(goal_cents) filter (where not carried), 0) as set_cents,
                   coalesce(sum(goal_cents) filter (where carried), 0) as elapsed_cents
            from planning.territory_goals group by 1) g
          on g.territory_id = t.territory_id
        order by t.territory_id""",
    "territory_goals": """
        select m.plan_id, g.territory_id, g.fiscal_year, g.fiscal_quarter, g.quarter_start,
               cast(g.goal_cents * 0.01 as decimal(18, 2)) as goal,
               coalesce(g.set_in_plan_id, m.plan_id) as set_in_plan_id
        from planning.territory_goals g cross join plan_meta m
        order by g.territory_id, g.quarter_start""",
    "coverage_summary": """
        select m.plan_id, c.role, c.accounts, c.workload_hours, c.capacity_hours_per_rep, c.required_fte,
               c.headcount, c.reps_on_staff, c.hiring_gap, c.kind
        from planning.coverage_summary c cross join plan_meta m
        order by c.role""",
}


# The plan in force: the newest as-of date among yearly and quarterly plans, then the newest run.
IN_FORCE_SQL = """
    select plan_id from plan_runs where kind <> 'scenario'
    order by as_of_date desc, created_at desc limit 1"""

VIEWS_SQL: dict[str, str] = {
    **{
        f"latest_{name}": f'select * from "{name}" where plan_id = ({IN_FORCE_SQL})'
        for name in PUBLISHED_TABLES
    },
    "plan_history": f"""
        select plan_id, kind, scenario_name, as_of_date, created_at, dagster_run_id, code_version,
               config_hash, company_target, plan_id = ({IN_FORCE_SQL}) as in_force
        from plan_runs order by created_at desc""",
}


# Columns left out of a table's content hash because they name the run, not the plan's content: the
# plan and run ids (territory_goals.set_in_plan_id is hashed as "set in this plan" yes/no instead).
HASH_EXCLUDED = {
    "account_plan": ("plan_id", "run_id"),
    "territories": ("plan_id",),
    "territory_goals": ("plan_id", "set_in_plan_id"),
    "coverage_summary": ("plan_id",),
}
TMP_PREFIX = ".plan.duckdb.tmp-"


def sql_literal(text: str | Path) -> str:
    """`text` (a path or name from the user) as a SQL string literal, quotes doubled: for the few
    statements that take no parameters (ATTACH, COPY ... TO)."""
    return "'" + str(text).replace("'", "''") + "'"


def scalar(con: duckdb.DuckDBPyConnection, sql: str):
    """The single value of `sql`, with its result fully consumed (DuckDB refuses new work on a
    connection that still holds an unfinished result)."""
    return con.execute(sql).fetchall()[0][0]


class PublishError(RuntimeError):
    """The plan could not be published; the previous published plan is untouched."""


@dataclass(frozen=True)
class Published:
    duckdb_path: Path
    parquet_dir: Path
    row_counts: dict[str, int]  # rows of the new plan per table
    kept_plans: list[str] = field(default_factory=list)  # every plan_id in the file, newest first
    in_force: str | None = None
    dropped_plans: list[str] = field(default_factory=list)


def _column_types(con: duckdb.DuckDBPyConnection, catalog: str, table: str) -> dict[str, str]:
    """Column name -> data type, in the table's column order."""
    return dict(
        con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_catalog = ? and table_name = ? order by ordinal_position",
            [catalog, table],
        ).fetchall()
    )


def _columns(con: duckdb.DuckDBPyConnection, catalog: str, table: str) -> list[str]:
    return list(_column_types(con, catalog, table))


def _plans_to_keep(con: duckdb.DuckDBPyConnection, keep_last: int) -> list[str]:
    """The newest `keep_last` plans of `pub.plan_runs` by run time, plus the plan in force."""
    runs = con.execute(
        "select plan_id, kind, as_of_date, created_at from pub.plan_runs order by created_at desc"
    ).df()
    keep = runs["plan_id"].head(keep_last).tolist()
    current = runs[runs["kind"] != "scenario"].sort_values(["as_of_date", "created_at"], ascending=False)
    if len(current) and current["plan_id"].iloc[0] not in keep:
        keep.append(current["plan_id"].iloc[0])
    return keep


# The oldest DuckDB storage format that holds what we publish (decimals, timestamps, comments, views):
# DuckDB 1.0 and 1.1 readers open it (tests/bi/test_compat.py). v1.4.0 writes newer compression
# (the small demo plan: 1.85 MB instead of 2.37 MB) but only DuckDB >= 1.4 opens it.
DEFAULT_STORAGE_VERSION = "v1.0.0"


def _comment_duckdb(con: duckdb.DuckDBPyConnection, catalog: str, names: list[str]) -> None:
    """COMMENT ON every table/view and column of `names` in `catalog`. A column without a description
    (only the stand-in tables of unit tests have one) is left uncommented: the completeness of the real
    contract is checked by tests/bi/test_compat.py on the demo plan, not at publish time."""
    for name in names:
        kind = "view" if name in VIEWS_SQL else "table"
        con.execute(
            f'comment on {kind} {catalog}."{name}" is {sql_literal(published_schema.table_comment(name))}'
        )
        described = published_schema.column_descriptions(name)
        for col in _columns(con, catalog, name):
            if col in described:
                con.execute(f'comment on column {catalog}."{name}"."{col}" is {sql_literal(described[col])}')


def _parquet_metadata(name: str, columns: list[str]) -> str:
    """KV_METADATA of a Parquet file: the table's description, schema version and column descriptions."""
    described = published_schema.column_descriptions(name)
    pairs = {
        "covplan.table": name,
        "covplan.description": published_schema.table_comment(name),
        "covplan.schema_version": str(published_schema.SCHEMA_VERSION),
        "covplan.column_descriptions": json.dumps({c: described[c] for c in columns if c in described}),
    }
    return "{" + ", ".join(f"{sql_literal(k)}: {sql_literal(v)}" for k, v in pairs.items()) + "}"


def publish_plan(
    con: duckdb.DuckDBPyConnection,
    plan_meta: dict,
    out_dir: str | Path,
    keep_last: int = 8,
    storage_compatibility_version: str = DEFAULT_STORAGE_VERSION,
    duckdb_config: dict | None = None,
    marts: TableReader | None = None,
) -> Published:
    """Write the plan contract from the warehouse behind `con` to `out_dir/plan.duckdb` and `out_dir/parquet/`.

    `plan_meta`: plan_id, kind, as_of_date, created_at, dagster_run_id, code_version, config_hash,
    company_target_cents, scenario_name and the dicts input_row_counts, model_metrics,
    territory_metrics, goal_metrics, config_overrides (stored as JSON). Plans already published are
    kept (the newest `keep_last` in all, and always the plan in force). The file is written in the
    storage format of `storage_compatibility_version` (e.g. "v1.0.0") so older DuckDB readers open it.
    `duckdb_config`: the run's DuckDB limits (config `warehouse:`) for the connection that exports the
    Parquet files. `marts`: where the dbt tables are read from (the warehouse behind `con` when None, or
    an engine's Parquet; `{schema.table}` placeholders in CONTRACT_SQL, planning.marts.fill_relations).
    """
    dbt_tables = marts or DuckDBTables.on(con)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    link = out / "parquet"
    target = out / "plan.duckdb"
    tmp = out / f"{TMP_PREFIX}{os.getpid()}"
    _check_symlinks(out)
    with _publish_lock(out):
        _remove_stale_files(out)

    meta = {"scenario_name": None, "config_overrides": {}, "goal_metrics": {}, **plan_meta}
    meta = {
        k: (json.dumps(v, sort_keys=True, default=str) if isinstance(v, dict) else v) for k, v in meta.items()
    }
    con.register("plan_meta_df", pd.DataFrame([meta]))
    con.execute(
        "create or replace temp table plan_meta as select * replace (cast(scenario_name as varchar) "
        "as scenario_name) from plan_meta_df"
    )
    con.unregister("plan_meta_df")
    try:
        con.execute(
            f"attach {sql_literal(tmp)} as pub (storage_version {sql_literal(storage_compatibility_version)})"
        )
    except duckdb.Error as exc:
        con.execute("drop table if exists plan_meta")
        raise PublishError(
            f"publish.storage_compatibility_version {storage_compatibility_version!r}: DuckDB "
            f"{duckdb.__version__} cannot write that storage format ({exc})"
        ) from None
    try:
        counts = {}
        for name in PUBLISHED_TABLES:
            con.execute(f'create table pub."{name}" as {fill_relations(CONTRACT_SQL[name], dbt_tables)}')
            counts[name] = scalar(con, f'select count(*) from pub."{name}"')
        if counts["account_plan"] == 0:
            raise PublishError("the plan has no accounts; the previous published plan is kept")
        hashes = {name: content_hash(con, f'pub."{name}"', HASH_EXCLUDED[name]) for name in HASH_EXCLUDED}
        con.execute("alter table pub.plan_runs add column content_hashes varchar")
        con.execute("update pub.plan_runs set content_hashes = ?", [json.dumps(hashes, sort_keys=True)])
        dropped = _copy_kept_plans(con, target, meta["plan_id"], keep_last)
        for name, sql in VIEWS_SQL.items():
            con.execute(f'create view pub."{name}" as {sql}')
        _comment_duckdb(con, "pub", [*PUBLISHED_TABLES, *VIEWS_SQL])
        kept = [r[0] for r in con.execute("select plan_id from pub.plan_history").fetchall()]
        in_force = next(
            iter(con.execute("select plan_id from pub.plan_history where in_force").fetchall()), [None]
        )[0]
        con.execute("checkpoint pub")
    except BaseException:
        con.execute("detach database if exists pub")
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        con.execute("drop table if exists plan_meta")
    con.execute("detach database if exists pub")

    # Parquet first, from the new file before it is swapped in: the two swaps then follow each other
    # with nothing between them, so a crash leaves the Parquet of the previous plan for one rename at most
    version = out / _version_name()
    try:
        _export_parquet(tmp, version, duckdb_config)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        shutil.rmtree(version, ignore_errors=True)
        raise

    # The swaps and the clean-up run under a lock, so another publisher can neither swap between this
    # one's reading the link and removing folders, nor remove the folder this one just swapped in.
    with _publish_lock(out):
        # A .wal left by a crashed writer of the old file would not match the new file: drop it first.
        Path(f"{target}.wal").unlink(missing_ok=True)
        os.replace(tmp, target)
        previous = _swap_parquet(link, version)
        _remove_old_versions(out, keep={version.name, previous})
    return Published(target, link, counts, kept, in_force, dropped)


@contextmanager
def _publish_lock(out: Path) -> Iterator[None]:
    """An exclusive lock on `out/.publish.lock` (released by the kernel if the holder dies)."""
    with open(out / ".publish.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_symlinks(out: Path) -> None:
    """PublishError, before anything is written, when `out` cannot hold the `parquet` link."""
    probe = out / f".symlink-probe-{os.getpid()}"
    try:
        probe.unlink(missing_ok=True)
        os.symlink(".", probe)
        probe.unlink()
    except OSError as exc:
        raise PublishError(
            f"{out}: the file system does not support symbolic links ({exc.strerror}); the Parquet set "
            "is published behind a `parquet` link: set publish.dir to a local folder"
        ) from None


PARQUET_VERSION_PREFIX = ".parquet-"
LINK_TMP_PREFIX = ".parquet.link-tmp-"


def _version_name() -> str:
    """A new Parquet folder's name: the writer's PID (how clean-up tells a live writer) and the time."""
    return f"{PARQUET_VERSION_PREFIX}{os.getpid()}-{time.time_ns()}"


def _export_parquet(plan_file: Path, folder: Path, duckdb_config: dict | None) -> None:
    """Every Parquet file of the plan in force in `plan_file` (its `latest_` views, and plan_history)
    into the new folder `folder`."""
    folder.mkdir()
    reader = duckdb.connect(str(plan_file), read_only=True, config=dict(duckdb_config or {}))
    try:
        for name in [*PUBLISHED_TABLES, "plan_history"]:
            source = "plan_history" if name == "plan_history" else f"latest_{name}"
            cols = [r[0] for r in reader.execute(f'describe "{source}"').fetchall()]
            kv = _parquet_metadata(name, cols)
            part = sql_literal(folder / f"{name}.parquet")
            reader.execute(f'copy (select * from "{source}") to {part} (format parquet, kv_metadata {kv})')
    finally:
        reader.close()


def _swap_parquet(link: Path, version: Path) -> str | None:
    """Point `link` at `version` in one rename; returns the name of the folder it pointed at before.

    A `parquet` folder from before versioned folders (a real directory) is first renamed to a versioned
    name: one rename with no `parquet` at all, once per output folder."""
    tmp_link = link.with_name(f"{LINK_TMP_PREFIX}{os.getpid()}")
    tmp_link.unlink(missing_ok=True)
    os.symlink(version.name, tmp_link)
    previous = None
    if link.is_symlink():
        previous = os.readlink(link)
    elif link.is_dir():
        previous = _version_name()
        os.rename(link, link.with_name(previous))
    os.replace(tmp_link, link)
    return previous


HASH_SIGNIFICANT_DIGITS = 10


def content_hash(con: duckdb.DuckDBPyConnection, table: str, excluded: tuple[str, ...] = ()) -> str:
    """MD5 of a table's rows, each printed as text (column names and values), sorted: the same content
    gives the same hash whatever the row order; `excluded` columns (run ids) are left out. A
    `set_in_plan_id` column is hashed as whether it names the row's own plan.

    Floating-point columns are printed to HASH_SIGNIFICANT_DIGITS significant digits: DuckDB's parallel
    sums of doubles may combine partial sums in another order from run to run, which moves the last
    bits (about 1e-16 relative) of revenue figures and of what is computed from them. Money that
    matters to the plan (goals) is DECIMAL and hashed exactly."""
    catalog, _, name = table.replace('"', "").rpartition(".")
    catalog = catalog or "memory"
    every = _column_types(con, catalog, name)
    select = [
        f'printf(\'%.{HASH_SIGNIFICANT_DIGITS}g\', "{c}") as "{c}"'
        if kind in ("DOUBLE", "FLOAT", "REAL")
        else f'"{c}"'
        for c, kind in every.items()
        if c not in excluded
    ]
    if "set_in_plan_id" in excluded and "set_in_plan_id" in every:
        select.append("set_in_plan_id = plan_id as set_in_this_plan")
    rows = f"select {', '.join(select)} from {table}"
    return scalar(
        con,
        f"select md5(coalesce(string_agg(cast(r as varchar), chr(10) order by cast(r as varchar)), '')) "
        f"from ({rows}) r",
    )


def _remove_stale_files(out: Path) -> None:
    """Half-written files of publishers that died (SIGKILL, power loss) before their swap: a temp plan
    file (and its .wal), a temp link or a Parquet folder whose process is gone. Never the published
    files nor the Parquet folder in force."""
    for path in [*out.glob(f"{TMP_PREFIX}*"), *out.glob(f"{LINK_TMP_PREFIX}*")]:
        pid = path.name.split("tmp-", 1)[1].removesuffix(".wal")
        if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
            path.unlink(missing_ok=True)
    link = out / "parquet"
    _remove_old_versions(out, keep={os.readlink(link) if link.is_symlink() else None})


def _remove_old_versions(out: Path, keep: set[str | None]) -> None:
    """Remove the Parquet folders not in `keep` that no live publisher is still writing: those of dead
    processes, and this process's own older ones. After a swap `keep` holds the folder in force and the
    one it replaced (for readers still inside it), so that one lives until the next publish starts."""
    for path in out.glob(f"{PARQUET_VERSION_PREFIX}*"):
        if path.name in keep or path.is_symlink() or not path.is_dir():
            continue
        pid = path.name.removeprefix(PARQUET_VERSION_PREFIX).split("-", 1)[0]
        if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _copy_kept_plans(
    con: duckdb.DuckDBPyConnection, target: Path, new_plan: str, keep_last: int
) -> list[str]:
    """Copy the rows of the plans to keep from the current published file into `pub`; returns the
    plan_ids dropped. Columns are matched by name: a column the old file lacks is left empty."""
    if not target.exists():
        return []
    try:
        con.execute(f"attach {sql_literal(target)} as old (read_only)")
    except duckdb.Error as exc:
        raise PublishError(
            f"{target}: cannot open the published plan to carry its history ({exc}); "
            "move the file away to start a new history"
        ) from None
    try:
        old_tables = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_catalog = 'old'"
            ).fetchall()
        }
        if "plan_runs" not in old_tables:
            return []
        old_plans = [r[0] for r in con.execute("select distinct plan_id from old.plan_runs").fetchall()]
        old_plans = [p for p in old_plans if p != new_plan]
        new_cols = _columns(con, "pub", "plan_runs")
        common = [c for c in _columns(con, "old", "plan_runs") if c in new_cols]
        cols = ", ".join(f'"{c}"' for c in common)
        con.execute(
            f"insert into pub.plan_runs ({cols}) select {cols} from old.plan_runs where plan_id <> ?",
            [new_plan],
        )
        keep = _plans_to_keep(con, keep_last)
        con.execute("delete from pub.plan_runs where not list_contains(?, plan_id)", [keep])
        for name in PUBLISHED_TABLES[1:]:
            if name not in old_tables:
                continue
            new_cols = _columns(con, "pub", name)
            common = [c for c in _columns(con, "old", name) if c in new_cols]
            cols = ", ".join(f'"{c}"' for c in common)
            con.execute(
                f'insert into pub."{name}" ({cols}) select {cols} from old."{name}" '
                "where list_contains(?, plan_id) and plan_id <> ?",
                [keep, new_plan],
            )
        return sorted(set(old_plans) - set(keep))
    finally:
        con.execute("detach old")


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = con.execute(
        "select count(*) from information_schema.tables where table_name = ?", [name]
    ).fetchall()
    return bool(rows[0][0])


# The plan a run as of date D builds on (its "current plan": territories to keep, disruption, the
# elapsed quarters' goals): the newest yearly or quarterly plan published before D, or, for a quarterly
# run, a yearly plan as of D itself (the redesign that quarter starts from). Plans as of later
# quarters, and earlier runs of the same kind for D, are never read, so a rerun or a backfill of a
# past quarter reproduces that quarter's plan whatever was published since. Parameters: D, D, kind.
REFERENCE_SQL = """
    select plan_id from plan_runs
    where kind in ('yearly', 'quarterly')
      and (as_of_date < ? or (as_of_date = ? and kind = 'yearly' and ? = 'quarterly'))
    order by as_of_date desc, created_at desc limit 1"""


def reference_plan(out_dir: str | Path, as_of, kind: str) -> str | None:
    """The plan_id a `kind` run as of `as_of` builds on (REFERENCE_SQL), or None when there is none."""
    path = Path(out_dir) / "plan.duckdb"
    if not path.exists():
        return None
    con = duckdb.connect(str(path), read_only=True)
    try:
        if not _has_table(con, "plan_runs"):
            return None
        day = pd.Timestamp(as_of).date()
        row = con.execute(REFERENCE_SQL, [day, day, kind]).fetchall()
    finally:
        con.close()
    return row[0][0] if row else None


def read_published(out_dir: str | Path, table: str) -> pd.DataFrame | None:
    """The published table of the plan in force (its `latest_` view), or None when nothing has been
    published yet."""
    path = Path(out_dir) / "plan.duckdb"
    if not path.exists():
        return None
    con = duckdb.connect(str(path), read_only=True)
    try:
        name = f"latest_{table}" if _has_table(con, f"latest_{table}") else table
        return con.execute(f'select * from "{name}"').df()
    finally:
        con.close()


def read_plan(out_dir: str | Path, table: str, plan_id: str) -> pd.DataFrame:
    """One published table of one kept plan; PublishError names the kept plans when it is not there."""
    path = Path(out_dir) / "plan.duckdb"
    if not path.exists():
        raise PublishError(f"{path}: no published plan yet; run `covplan plan` first")
    con = duckdb.connect(str(path), read_only=True)
    try:
        kept = [
            r[0] for r in con.execute("select plan_id from plan_runs order by created_at desc").fetchall()
        ]
        if plan_id == "latest":
            plan_id = next(iter(con.execute(IN_FORCE_SQL).fetchall()), [None])[0]
        if plan_id not in kept:
            raise PublishError(
                f"{path}: plan {plan_id!r} is not kept there; kept plans: {', '.join(kept) or 'none'}"
            )
        return con.execute(f'select * from "{table}" where plan_id = ?', [plan_id]).df()
    finally:
        con.close()


# DuckDB column types → PostgreSQL; anything else stops the publish with the column's name.
_PG_TYPES = {
    "VARCHAR": "text",
    "BOOLEAN": "boolean",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "HUGEINT": "numeric(38, 0)",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


def _pg_type(duck_type: str, where: str) -> str:
    if duck_type.startswith("DECIMAL"):
        return duck_type.replace("DECIMAL", "numeric")
    if duck_type in _PG_TYPES:
        return _PG_TYPES[duck_type]
    raise PublishError(f"{where}: DuckDB type {duck_type} has no PostgreSQL mapping in planning.publish")


def publish_postgres(
    duckdb_path: str | Path, url: str, schema: str = "covplan", duckdb_config: dict | None = None
) -> dict[str, int]:
    """Copy every table of the published DuckDB file (all kept plans) to PostgreSQL `schema`, and the
    `latest_` / `plan_history` views, in ONE transaction.

    Each table is loaded into `<table>__new`, then the old table is dropped and the new one renamed,
    all before the commit: a reader sees the previous plan set or the new one, never a mix (PostgreSQL
    DDL is transactional; a reader blocked on the swap reads the new table after the commit).
    `url`: a SQLAlchemy or libpq URL. Returns the rows copied per table.
    """
    import psycopg
    import sqlalchemy as sa

    conninfo = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    src = duckdb.connect(str(duckdb_path), read_only=True, config=dict(duckdb_config or {}))
    counts: dict[str, int] = {}
    tmpdir = tempfile.mkdtemp(prefix="covplan-pg-")
    try:
        with psycopg.connect(conninfo) as pg, pg.transaction():
            pg.execute(f'create schema if not exists "{schema}"')
            for view in VIEWS_SQL:
                pg.execute(f'drop view if exists "{schema}"."{view}"')
            for name in PUBLISHED_TABLES:
                cols = src.execute(f'describe "{name}"').fetchall()
                ddl = ", ".join(f'"{c[0]}" {_pg_type(c[1], f"{name}.{c[0]}")}' for c in cols)
                pg.execute(f'drop table if exists "{schema}"."{name}__new"')
                pg.execute(f'create table "{schema}"."{name}__new" ({ddl})')
                csv = Path(tmpdir) / f"{name}.csv"
                src.execute(f'copy "{name}" to {sql_literal(csv)} (format csv, header false)')
                sql = f'copy "{schema}"."{name}__new" from stdin (format csv)'
                with pg.cursor().copy(sql) as copy, open(csv, "rb") as fh:
                    while block := fh.read(1 << 20):
                        copy.write(block)
                counts[name] = src.execute(f'select count(*) from "{name}"').fetchall()[0][0]
            for name in PUBLISHED_TABLES:
                pg.execute(f'drop table if exists "{schema}"."{name}"')
                pg.execute(f'alter table "{schema}"."{name}__new" rename to "{name}"')
            pg.execute(f'set local search_path to "{schema}"')
            for view, sql in VIEWS_SQL.items():
                pg.execute(f'create view "{schema}"."{view}" as {sql}')
            _comment_postgres(pg, src, schema)
    except psycopg.Error as exc:
        raise PublishError(
            f"PostgreSQL publish to schema {schema!r} failed and was rolled back ({exc}); "
            "check COVPLAN_PUBLISH_PG_URL, the role's rights, and that no view of your own depends on "
            "the published tables (drop it, publish, then recreate it)"
        ) from None
    finally:
        src.close()
        shutil.rmtree(tmpdir, ignore_errors=True)
    return counts


def _comment_postgres(pg, src: duckdb.DuckDBPyConnection, schema: str) -> None:
    """COMMENT ON the PostgreSQL tables, views and columns, the same texts as in the DuckDB file."""
    for name in [*PUBLISHED_TABLES, *VIEWS_SQL]:
        kind = "view" if name in VIEWS_SQL else "table"
        pg.execute(
            f'comment on {kind} "{schema}"."{name}" is {sql_literal(published_schema.table_comment(name))}'
        )
        described = published_schema.column_descriptions(name)
        for (col,) in src.execute(f'select column_name from (describe "{name}")').fetchall():
            if col in described:
                pg.execute(f'comment on column "{schema}"."{name}"."{col}" is {sql_literal(described[col])}')


def read_goals_in_force(out_dir: str | Path, plan_id: str | None):
    """The territory goals (in cents) and company target of the published plan `plan_id` (the plan a
    quarterly run builds on, see `reference_plan`), for that run to keep the elapsed quarters; None
    when there is no such plan."""
    from planning.goals import GoalsInForce

    path = Path(out_dir) / "plan.duckdb"
    if plan_id is None or not path.exists():
        return None
    con = duckdb.connect(str(path), read_only=True)
    try:
        goals = con.execute(
            "select quarter_start, fiscal_year, fiscal_quarter, territory_id, "
            "cast(round(goal * 100) as bigint) as goal_cents, set_in_plan_id from territory_goals "
            "where plan_id = ?",
            [plan_id],
        ).df()
        target = con.execute(
            "select cast(round(company_target * 100) as bigint) from plan_runs where plan_id = ?", [plan_id]
        ).fetchall()
    finally:
        con.close()
    if not len(goals) or not target:
        return None
    return GoalsInForce(goals, int(target[0][0]))
