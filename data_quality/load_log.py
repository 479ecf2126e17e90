"""The load log `raw._load_history`: one row per raw entity per load, so the row-count check can compare
a load with the previous load of the same source."""

from __future__ import annotations

from datetime import datetime

import duckdb

from data_quality.suites import LOAD_HISTORY

HISTORY_DDL = f"""
create table if not exists {LOAD_HISTORY} (
    entity varchar not null,
    rows bigint not null,
    loaded_at timestamp not null,
    run_id varchar not null,
    source_kind varchar not null
)
"""


def ensure_load_history(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw")
    con.execute(HISTORY_DDL)


def record_loads(
    con: duckdb.DuckDBPyConnection,
    entities: list[str],
    run_id: str,
    loaded_at: datetime,
    source_kind: str,
) -> dict[str, int]:
    """Append the row count of each landed raw table. `source_kind` groups comparable loads: the demo's
    seed and size, or the kind of source (files, sql), so a deliberate switch is not a "drop"."""
    ensure_load_history(con)
    counts = {}
    for entity in entities:
        (rows,) = con.execute(f'select count(*) from raw."{entity}"').fetchone()
        counts[entity] = int(rows)
        con.execute(
            f"insert into {LOAD_HISTORY} values (?, ?, ?, ?, ?)",
            [entity, int(rows), loaded_at, run_id, source_kind],
        )
    return counts
