"""config `warehouse:` reaches every DuckDB connection of a run: the Dagster resource and dbt's env."""

from __future__ import annotations

import os

import pytest

from orchestration import settings
from orchestration.resources import Warehouse
from planning.config import ConfigError, WarehouseConfig, load_config


def test_defaults_resolve_next_to_the_warehouse(tmp_path, monkeypatch):
    for env in settings.DUCKDB_ENV.values():
        monkeypatch.delenv(env, raising=False)
    values = settings.duckdb_settings(WarehouseConfig(), tmp_path / "wh.duckdb")
    assert values == {
        "memory_limit": "6GB",
        "temp_directory": str(tmp_path / "wh.duckdb.tmp"),
        "threads": os.cpu_count(),
    }
    assert os.environ["COVPLAN_DUCKDB_MEMORY_LIMIT"] == "6GB"
    assert os.environ["COVPLAN_DUCKDB_TEMP_DIRECTORY"] == str(tmp_path / "wh.duckdb.tmp")


def test_resource_connections_apply_the_limits(tmp_path, monkeypatch):
    for env in settings.DUCKDB_ENV.values():
        monkeypatch.delenv(env, raising=False)
    cfg = WarehouseConfig(memory_limit="1.5GB", temp_directory=str(tmp_path / "spill"), threads=1)
    wh = Warehouse(
        database=str(tmp_path / "wh.duckdb"), connection_config=settings.duckdb_settings(cfg, tmp_path)
    )
    with wh.connection() as con:
        limit, temp, threads = con.execute(
            "select current_setting('memory_limit'), current_setting('temp_directory'), current_setting('threads')"
        ).fetchall()[0]
    assert limit.replace(" ", "") in ("1.3GiB", "1.4GiB", "1.5GB")  # DuckDB reports it in GiB
    assert temp == str(tmp_path / "spill") and int(threads) == 1


def test_bad_memory_limit_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match="warehouse"):
        load_config(overrides={"warehouse.memory_limit": "lots"})
