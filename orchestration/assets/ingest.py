"""Ingest group: land the source entities as raw tables (schema `raw`) in the warehouse.

One multi-asset whose Config picks the source: the generated demo company, a file-drop folder or a SQL
database. Files and SQL go through the row rules (sources/landing.py): rows that break one land in
`quarantine.<entity>` and are counted in the metadata; the demo is clean by construction and lands
as generated. `demo_account_truth` only materialises for the demo (nothing downstream reads it).
"""

import dataclasses
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
from orchestration.progress import SHOWN
from orchestration.resources import PlanConfigResource, Warehouse
from planning.config import PROJECT_ROOT, PlanConfig
from sources import reuse
from sources.demo import DemoCompany, resolve_size
from sources.files import load_folder
from sources.landing import LoadReport, RowRules, empty_quarantine
from sources.raw_parquet import export_if_configured
from sources.sql import load_sql

RAW_ENTITIES = ["accounts", "contacts", "reps", "opportunities", "transactions"]
SOURCES = ("demo", "files", "sql")


class IngestConfig(dg.Config):
    """Where the raw tables come from. `source`: demo | files | sql; empty takes `sources.default` from
    config/plan.yaml (what scheduled runs ingest). `size` (demo): empty takes `demo.size`.
    `input_dir` (files): empty takes `sources.files.dir`. `fresh`: never reuse the raw tables of an
    earlier load (see sources/reuse.py for when they are reused)."""

    source: str = ""
    size: str = ""
    input_dir: str = ""
    fresh: bool = False  # True: load in full even when the source is unchanged since the last load


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
        n_accounts = resolve_size(config.size or cfg.demo.size)
        fingerprint = reuse.demo_fingerprint(cfg.seed, n_accounts, cfg.demo.years, cfg.demo.end_date)
        decision = _decide(context, warehouse, fingerprint, config.fresh, with_truth=True)
        if decision.reuse:
            yield from _reused(context, warehouse, decision, fingerprint, cfg, with_truth=True)
            return
        yield from _demo(context, n_accounts, cfg, warehouse, loaded_at, decision, fingerprint)
        return
    rules = row_rules(cfg, loaded_at)
    folder = PROJECT_ROOT / Path(config.input_dir or cfg.sources.files.dir).expanduser()
    fingerprint = reuse.files_fingerprint(folder, _files_settings(cfg, rules)) if source == "files" else None
    decision = _decide(context, warehouse, fingerprint, config.fresh, with_truth=False)
    if decision.reuse:
        with warehouse.connection() as con:
            first_order = con.execute("select min(order_date) from raw.transactions").fetchall()[0][0]
        if as_of is not None and first_order is not None:
            check_history(as_of, pd.Timestamp(first_order).date(), cfg, source)
        yield from _reused(context, warehouse, decision, fingerprint, cfg, with_truth=False)
        return
    started = time.perf_counter()
    with warehouse.connection() as con:
        if source == "files":
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
        if fingerprint is not None:
            reuse.record_load(con, context.run_id, loaded_at, source, fingerprint)
        export_if_configured(con, cfg.warehouse.spark, RAW_ENTITIES)  # issue 11: raw Parquet for dbt on Spark
        previews = {e: con.execute(f"select * from quarantine.{e} limit 5").df() for e in RAW_ENTITIES}
    context.log.info(f"loaded {source} source in {time.perf_counter() - started:.1f} s")
    yield from _results(report, previews, _full_load_meta(decision, fingerprint))


def _files_settings(cfg: PlanConfig, rules: RowRules) -> dict:
    """Everything besides the files themselves that decides what a file-drop load lands."""
    return {
        "columns": cfg.sources.columns,
        "decimal": cfg.sources.files.decimal,
        "date_order": cfg.sources.files.date_order,
        "rules": dataclasses.asdict(rules),
    }


def _decide(
    context, warehouse: Warehouse, fingerprint: reuse.Fingerprint | None, fresh: bool, with_truth: bool
) -> reuse.Decision:
    """Reuse or full load (sources/reuse.py); the demo also needs its truth table to reuse."""
    with warehouse.connection() as con:
        decision = reuse.decide(con, fingerprint, RAW_ENTITIES, fresh)
        if decision.reuse and with_truth and not reuse.table_exists(con, "demo_truth", "account_truth"):
            decision = reuse.redo("demo_truth.account_truth is missing")
    if not decision.reuse:
        context.log.info(f"{SHOWN}ingest: full load ({decision.reason})")
    return decision


def _full_load_meta(decision: reuse.Decision, fingerprint: reuse.Fingerprint | None) -> dict:
    return {
        "reused": False,
        "full_load_reason": decision.reason,
        "fingerprint": fingerprint.short if fingerprint else "none (SQL source: always reloaded)",
    }


def _reused(
    context,
    warehouse: Warehouse,
    decision: reuse.Decision,
    fingerprint: reuse.Fingerprint,
    cfg: PlanConfig,
    with_truth: bool,
):
    """Materialisations that point at the raw tables of the earlier load instead of loading again."""
    note = (
        f"raw tables reused from load {decision.run_id} (loaded {decision.made_at:%Y-%m-%d %H:%M:%S} UTC), "
        f"fingerprint {fingerprint.short}: the source is unchanged; run with --fresh to reload"
    )
    context.log.info(f"{SHOWN}ingest: {note}")
    with warehouse.connection() as con:
        # the Parquet export is not part of the fingerprint (its folder may be new, moved or shared with
        # another warehouse), so a reused load writes it again from the tables it reuses
        export_if_configured(con, cfg.warehouse.spark, RAW_ENTITIES)
        quarantined = {
            e: int(con.execute(f"select count(distinct _row_number) from quarantine.{e}").fetchone()[0])
            for e in RAW_ENTITIES
        }
        source = con.execute("select any_value(_source) from raw.accounts").fetchone()[0]
    for entity in RAW_ENTITIES:
        yield dg.MaterializeResult(
            asset_key=f"raw_{entity}",
            metadata={
                "rows": dg.MetadataValue.int(decision.recorded[entity]),
                "quarantined_rows": dg.MetadataValue.int(quarantined[entity]),
                "quarantine_table": f"quarantine.{entity}",
                "source": str(source),
                "reused": True,
                "reused_from_load": decision.run_id,
                "fingerprint": fingerprint.short,
                "note": note,
            },
        )
    if with_truth:
        yield dg.MaterializeResult(
            asset_key="demo_account_truth",
            metadata={"reused": True, "reused_from_load": decision.run_id, "fingerprint": fingerprint.short},
        )


def _run_as_of(context: dg.AssetExecutionContext) -> date | None:
    """The plan's as-of date when this (unpartitioned) ingest runs inside a partitioned plan run."""
    key = context.run.tags.get("dagster/partition")
    return date.fromisoformat(key) if key else None


def _results(report: LoadReport, previews: dict[str, pd.DataFrame], load_meta: dict):
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
            **load_meta,
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


def _demo(
    context,
    n_accounts: int,
    cfg: PlanConfig,
    warehouse: Warehouse,
    loaded_at: datetime,
    decision: reuse.Decision,
    fingerprint: reuse.Fingerprint,
):
    """Generate the deterministic demo company (seed and size from config) and land it as raw tables.

    The order lines never sit in pandas as a whole: DuckDB pulls them block by block from the generator
    as an Arrow stream into raw.transactions (no Parquet round trip)."""
    started = time.perf_counter()
    load_meta = _full_load_meta(decision, fingerprint)
    company = DemoCompany(n_accounts, seed=cfg.seed, end_date=cfg.demo.end_date, years=cfg.demo.years)
    source = f"demo(seed={cfg.seed}, size={n_accounts})"
    stamp = {"_source": source, "_loaded_at": loaded_at, "_run_id": context.run_id}
    for entity, df in company.tables().items():
        dates = [c for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])]
        rows = warehouse.write_table("raw", entity, _with_provenance(df, stamp), date_columns=dates)
        yield _demo_result(warehouse, entity, rows, source, preview(df), load_meta)
    with warehouse.connection() as con:
        lines = land_demo_transactions(con, company, source, loaded_at, context.run_id, _threads(warehouse))
        head = con.execute(
            "select * exclude (_source, _row_number, _loaded_at, _run_id) from raw.transactions limit 5"
        ).df()
    context.log.info(
        f"generated and landed {n_accounts:,} accounts and {lines:,} order lines "
        f"in {time.perf_counter() - started:.1f} s"
    )
    rows = warehouse.write_table("demo_truth", "account_truth", company.account_truth())
    with warehouse.connection() as con:
        record_loads(con, RAW_ENTITIES, context.run_id, loaded_at, source)
        reuse.record_load(con, context.run_id, loaded_at, source, fingerprint)
        export_if_configured(con, cfg.warehouse.spark, RAW_ENTITIES)  # issue 11: raw Parquet for dbt on Spark
    yield _demo_result(warehouse, "transactions", lines, source, preview(head), load_meta)
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


def _demo_result(
    warehouse: Warehouse,
    entity: str,
    rows: int,
    source: str,
    table_preview: str,
    load_meta: dict,
):
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
            **load_meta,
        },
    )


def _with_provenance(df: pd.DataFrame, stamp: dict) -> pd.DataFrame:
    """The demo frame plus the provenance columns every raw table carries (row number = frame order)."""
    out = df.assign(_source=stamp["_source"], _row_number=range(1, len(df) + 1))
    out["_loaded_at"] = pd.Timestamp(stamp["_loaded_at"])
    out["_run_id"] = stamp["_run_id"]
    return out
