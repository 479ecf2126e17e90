"""Export the landed raw tables as Parquet, for a warehouse engine that reads files (dbt on Spark).

The ingest lands raw.* in DuckDB as always; when `warehouse.spark.raw_path` is set it also copies each
raw table to `<raw_path>/<table>/part-00000.parquet`, one folder per table, which the dbt project's
`register_raw_parquet` hook declares as external tables `raw.<table>` on Spark. DuckDB writes the file
(no pandas, no Spark client), so the export costs one sequential Parquet write per table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from planning.config import PROJECT_ROOT, SparkWarehouseConfig

PART_FILE = "part-00000.parquet"


def is_remote(path: str) -> bool:
    """True for an object-store URI (s3://, gs://, ...), False for a local folder."""
    return "://" in path


def resolve_raw_path(raw_path: str) -> str:
    """A local folder taken from the project root (absolute as given), or the URI as DuckDB writes it
    (s3a:// is Hadoop's name for s3://)."""
    if is_remote(raw_path):
        scheme, rest = raw_path.split("://", 1)
        return ("s3" if scheme.lower() == "s3a" else scheme.lower()) + "://" + rest
    return str((PROJECT_ROOT / Path(raw_path).expanduser()).resolve())


def spark_raw_location(cfg: SparkWarehouseConfig) -> str | None:
    """The folder of the raw Parquet tables as Spark reads it: `raw_location`, else `raw_path` (an s3://
    URI becomes s3a://, the scheme of Hadoop's S3 connector); None when no export is configured."""
    if cfg.raw_location:
        return cfg.raw_location.rstrip("/")
    if not cfg.raw_path:
        return None
    path = resolve_raw_path(cfg.raw_path)
    return ("s3a://" + path[len("s3://") :] if path.startswith("s3://") else path).rstrip("/")


def export_raw_parquet(
    con: duckdb.DuckDBPyConnection, raw_path: str, tables: Sequence[str]
) -> dict[str, str]:
    """Copy raw.<table> for each table to `<raw_path>/<table>/part-00000.parquet` (replacing the previous
    export); returns table -> file written. Other Parquet files left in a local table folder are removed
    so Spark reads exactly this export."""
    root = resolve_raw_path(raw_path).rstrip("/")
    written: dict[str, str] = {}
    for table in tables:
        target = f"{root}/{table}/{PART_FILE}"
        if not is_remote(root):
            folder = Path(root) / table
            folder.mkdir(parents=True, exist_ok=True)
            for stale in folder.glob("*.parquet"):
                if stale.name != PART_FILE:
                    stale.unlink()
        quoted = target.replace("'", "''")
        con.execute(f"copy raw.\"{table}\" to '{quoted}' (format parquet, compression zstd)")
        written[table] = target
    return written


def export_if_configured(
    con: duckdb.DuckDBPyConnection, cfg: SparkWarehouseConfig, tables: Sequence[str]
) -> dict[str, str]:
    """`export_raw_parquet` when `warehouse.spark.raw_path` is set; nothing (and {}) otherwise."""
    return export_raw_parquet(con, cfg.raw_path, tables) if cfg.raw_path else {}
