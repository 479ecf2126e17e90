"""Dagster resources: the plan config and the DuckDB warehouse, both located through `settings`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from orchestration import settings
from planning.config import PlanConfig, load_config
from planning.marts import DuckDBTables, ParquetTables, TableReader

# Where the marts live when dbt builds them on another engine (Spark writes `<dir>/marts.db/<table>/`):
# the planning steps then read the marts from that Parquet, and their own tables (ml.*, planning.*) from
# the DuckDB warehouse as before. Unset: everything is read from the DuckDB warehouse.
MARTS_PARQUET_ENV = "COVPLAN_MARTS_PARQUET_DIR"


class PlanConfigResource(dg.ConfigurableResource):
    """The validated `config/plan.yaml`, with optional dotted-key overrides (a JSON object)."""

    path: str
    overrides_json: str = "{}"

    def load(self) -> PlanConfig:
        return load_config(self.path, json.loads(self.overrides_json))

    def published_dir(self) -> Path:
        return settings.published_dir(self.load().publish.dir)


class Warehouse(DuckDBResource):
    """The DuckDB warehouse, plus the two calls assets need: read a query, replace a table."""

    def query_df(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self.get_connection() as con:
            return con.execute(sql, params or []).df()

    def write_table(
        self, schema: str, table: str, df: pd.DataFrame, date_columns: list[str] | None = None
    ) -> int:
        """Replace `schema.table` with `df` in one statement; `date_columns` land as DATE (pandas holds
        dates as midnight timestamps). Returns the row count."""
        dates = set(date_columns or [])
        cols = ", ".join(f'cast("{c}" as date) as "{c}"' if c in dates else f'"{c}"' for c in df.columns)
        with self.get_connection() as con:
            con.execute(f'create schema if not exists "{schema}"')
            con.register("incoming_df", df)
            con.execute(f'create or replace table "{schema}"."{table}" as select {cols} from incoming_df')
            con.unregister("incoming_df")
        return len(df)

    @contextmanager
    def readers(self) -> Iterator[tuple[TableReader, TableReader]]:
        """(the warehouse's own tables, the dbt marts) as Arrow record batches, on one connection for
        all reads of a step (each new connection re-opens the file). The marts come from Parquet under
        COVPLAN_MARTS_PARQUET_DIR when they are built on another engine, else from this warehouse."""
        with self.get_connection() as con:
            local = DuckDBTables.on(con)
            parquet_dir = os.environ.get(MARTS_PARQUET_ENV)
            yield local, ParquetTables(Path(parquet_dir)) if parquet_dir else local

    @contextmanager
    def connection(self):
        with self.get_connection() as con:
            yield con


def build_resources() -> dict:
    """Resources of the definitions: DuckDB limits (memory, spill folder, threads) come from the config's
    `warehouse:` section and also reach dbt through the environment."""
    path = settings.warehouse_path()
    limits = settings.duckdb_settings(load_config(settings.config_path()).warehouse, path)
    return {
        "warehouse": Warehouse(database=str(path), connection_config=limits),
        "plan_config": PlanConfigResource(path=str(settings.config_path())),
    }
