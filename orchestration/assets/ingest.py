"""Ingest group: land the source entities as raw tables (schema `raw`) in the warehouse.

One multi-asset whose Config picks the source: the generated demo company, a file-drop folder or a SQL
database. Files and SQL go through the row rules (sources/landing.py): rows that break one land in
`quarantine.<entity>` and are counted in the metadata; the demo is clean by construction and lands
as generated. `demo_account_truth` only materialises for the demo (nothing downstream reads it).
"""

import os
import time
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from data_quality.load_log import record_loads
from orchestration.metadata import preview
from orchestration.partitions import check_demo_as_of, check_history
from orchestration.resources import PlanConfigResource, Warehouse
from planning.config import PROJECT_ROOT, PlanConfig
from sources.demo import DemoCompany, resolve_size
from sources.files import load_folder
from sources.landing import LoadReport, RowRules, empty_quarantine
from sources.sql import load_sql

RAW_ENTITIES = ["accounts", "contacts", "reps", "opportunities", "transactions"]
SOURCES = ("demo", "files", "sql")


class IngestConfig(dg.Config):
    """Where the raw tables come from. `source`: demo | files | sql; empty takes `sources.default` from
    config/plan.yaml (what scheduled runs ingest). `size` (demo): empty takes `demo.size`.
    `input_dir` (files): empty takes `sources.files.dir`."""

    source: str = ""
    size: str = ""
    input_dir: str = ""


def row_rules(cfg: PlanConfig, today: datetime) -> RowRules:
    """The configurable limits of the row rules; the as-of date defaults to the day of the load."""
    src = cfg.sources
    return RowRules(
        min_date=src.min_date,
        as_of_date=src.as_of_date or today.date(),
        max_future_years=src.max_future_years,
        rep_role=src.reps_from_owners.role,
        rep_roles=dict(src.reps_from_owners.roles),
        capacity_hours=dict(cfg.workload.capacity_hours),
    )


@dg.multi_asset(
    specs=[
        *[
            dg.AssetSpec(
                f"raw_{e}",
                group_name="ingest",
                description=f"Raw {e} as delivered by the source (schema raw), with provenance columns; "
                f"rows breaking a row rule are in quarantine.{e}.",
                kinds={"duckdb"},
                metadata={"table": f"raw.{e}"},
            )
            for e in RAW_ENTITIES
        ],
        dg.AssetSpec(
            "demo_account_truth",
            group_name="ingest",
            kinds={"duckdb"},
            description="Latent growth drivers of the demo company; read only by tests and benchmarks. "
            "Materialises only when the source is the demo.",
            metadata={"table": "demo_truth.account_truth"},
            skippable=True,
        ),
    ],
    can_subset=False,
)
def ingest_source(
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    warehouse: Warehouse,
    plan_config: PlanConfigResource,
):
    """Land the chosen source's entities as raw tables (and, for files/SQL, quarantine bad rows)."""
    cfg = plan_config.load()
    source = config.source or cfg.sources.default
    if source not in SOURCES:
        raise ValueError(f"ingest source must be one of {list(SOURCES)}, got {source!r}")
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    as_of = _run_as_of(context)
    if source == "demo":
        if as_of is not None:  # before generating anything: the demo's history is known from config
            check_demo_as_of(as_of, cfg)
        yield from _demo(context, config, cfg, warehouse, loaded_at)
        return
    rules = row_rules(cfg, loaded_at)
    started = time.perf_counter()
    with warehouse.connection() as con:
        if source == "files":
            folder = PROJECT_ROOT / Path(config.input_dir or cfg.sources.files.dir).expanduser()
            context.log.info(f"loading the file drop {folder}")
            report = load_folder(
                con,
                folder,
                cfg.sources.columns,
                rules,
                context.run_id,
                loaded_at,
                decimal=cfg.sources.files.decimal,
                date_order=cfg.sources.files.date_order,
            )
        else:
            report = load_sql(
                con,
                os.environ.get(cfg.sources.sql.url_env, ""),
                cfg.sources.sql,
                cfg.sources.columns,
                rules,
                context.run_id,
                loaded_at,
                url_env=cfg.sources.sql.url_env,
            )
        con.execute("drop table if exists demo_truth.account_truth")  # truth belongs to the demo only
        first_order = con.execute("select min(order_date) from raw.transactions").fetchall()[0][0]
        if as_of is not None and first_order is not None:  # before any dbt work
            check_history(as_of, pd.Timestamp(first_order).date(), cfg, source)
        record_loads(con, RAW_ENTITIES, context.run_id, loaded_at, source)
        previews = {e: con.execute(f"select * from quarantine.{e} limit 5").df() for e in RAW_ENTITIES}
    context.log.info(f"loaded {source} source in {time.perf_counter() - started:.1f} s")
    yield from _results(report, previews)


def _run_as_of(context: dg.AssetExecutionContext) -> date | None:
    """The plan's as-of date when this (unpartitioned) ingest runs inside a partitioned plan run."""
    key = context.run.tags.get("dagster/partition")
    return date.fromisoformat(key) if key else None


def _results(report: LoadReport, previews: dict[str, pd.DataFrame]):
    for entity in RAW_ENTITIES:
        r = report.entities[entity]
        rules_md = "\n".join(
            ["| rule | rows |", "|---|---|"]
            + [f"| {rule} | {n:,} |" for rule, n in sorted(r.by_rule.items())]
        )
        meta = {
            "rows": dg.MetadataValue.int(r.rows_loaded),
            "rows_read": dg.MetadataValue.int(r.rows_read),
            "quarantined_rows": dg.MetadataValue.int(r.rows_quarantined),
            "quarantine_by_rule": dg.MetadataValue.md(rules_md if r.by_rule else "none"),
            "quarantine_table": f"quarantine.{entity}",
            "source": r.source,
        }
        if r.rows_quarantined:
            meta["quarantine_preview"] = dg.MetadataValue.md(
                preview(previews[entity].drop(columns=["record"]))
            )
        if r.absent_columns:
            meta["absent_columns (NULL)"] = ", ".join(r.absent_columns)
        if r.ignored_columns:
            meta["ignored_columns"] = ", ".join(r.ignored_columns)
        if r.note:
            meta["note"] = r.note
        yield dg.MaterializeResult(asset_key=f"raw_{entity}", metadata=meta)


def _demo(context, config: IngestConfig, cfg: PlanConfig, warehouse: Warehouse, loaded_at: datetime):
    """Generate the deterministic demo company (seed and size from config) and land it as raw tables.

    The order lines never sit in pandas as a whole: DuckDB pulls them block by block from the generator
    as an Arrow stream into raw.transactions (no Parquet round trip)."""
    n_accounts = resolve_size(config.size or cfg.demo.size)
    started = time.perf_counter()
    company = DemoCompany(n_accounts, seed=cfg.seed, end_date=cfg.demo.end_date, years=cfg.demo.years)
    source = f"demo(seed={cfg.seed}, size={n_accounts})"
    stamp = {"_source": source, "_loaded_at": loaded_at, "_run_id": context.run_id}
    for entity, df in company.tables().items():
        dates = [c for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])]
        rows = warehouse.write_table("raw", entity, _with_provenance(df, stamp), date_columns=dates)
        yield _demo_result(warehouse, entity, rows, source, preview(df))
    with warehouse.connection() as con:
        lines = land_demo_transactions(con, company, source, loaded_at, context.run_id, _threads(warehouse))
        head = con.execute(
            "select * exclude (_source, _row_number, _loaded_at, _run_id) from raw.transactions limit 5"
        ).df()
    context.log.info(
        f"generated and landed {n_accounts:,} accounts and {lines:,} order lines "
        f"in {time.perf_counter() - started:.1f} s"
    )
    with warehouse.connection() as con:
        record_loads(con, RAW_ENTITIES, context.run_id, loaded_at, source)
    yield _demo_result(warehouse, "transactions", lines, source, preview(head))
    rows = warehouse.write_table("demo_truth", "account_truth", company.account_truth())
    yield dg.MaterializeResult(asset_key="demo_account_truth", metadata={"rows": dg.MetadataValue.int(rows)})


def land_demo_transactions(
    con: duckdb.DuckDBPyConnection,
    company: DemoCompany,
    source: str,
    loaded_at: datetime,
    run_id: str,
    threads: int,
) -> int:
    """Stream the demo's order lines from the generator straight into raw.transactions; returns the rows.

    One DuckDB thread for the insert: an insertion-ordered load with several threads writes every row
    group twice (once per thread, again when merged in order at the checkpoint), which doubled the load
    time and the warehouse file. The generator is single-threaded anyway. `threads` is restored after."""
    con.execute("set threads = 1")
    try:
        con.register("demo_order_lines", company.transaction_reader())
        con.execute(
            "create or replace table raw.transactions as "
            "select * exclude (_row_number), ? as _source, _row_number, cast(? as timestamp) as _loaded_at, "
            "? as _run_id from demo_order_lines",
            [source, loaded_at, run_id],
        )
        con.unregister("demo_order_lines")
    finally:
        con.execute(f"set threads = {int(threads)}")
    return int(con.execute("select count(*) from raw.transactions").fetchall()[0][0])


def _threads(warehouse: Warehouse) -> int:
    """The warehouse's configured DuckDB threads (default: one per core)."""
    return int(warehouse.connection_config.get("threads") or os.cpu_count() or 1)


def _demo_result(warehouse: Warehouse, entity: str, rows: int, source: str, table_preview: str):
    """The entity's (empty) quarantine table and its materialisation."""
    with warehouse.connection() as con:
        con.execute("create schema if not exists quarantine")
        empty_quarantine(con, entity)
    return dg.MaterializeResult(
        asset_key=f"raw_{entity}",
        metadata={
            "rows": dg.MetadataValue.int(rows),
            "quarantined_rows": dg.MetadataValue.int(0),
            "source": source,
            "preview": dg.MetadataValue.md(table_preview),
        },
    )


def _with_provenance(df: pd.DataFrame, stamp: dict) -> pd.DataFrame:
    """The demo frame plus the provenance columns every raw table carries (row number = frame order)."""
    out = df.assign(_source=stamp["_source"], _row_number=range(1, len(df) + 1))
    out["_loaded_at"] = pd.Timestamp(stamp["_loaded_at"])
    out["_run_id"] = stamp["_run_id"]
    return out
