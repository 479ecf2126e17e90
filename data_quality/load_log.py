"""The load log `raw._load_history`: one row per raw entity per load, so the row-count check can compare
a load with the previous *accepted* load of the same source. A load is accepted when its raw suite
passes; a rejected load never becomes the baseline, so rerunning a bad extract keeps failing."""

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
    source_kind varchar not null,
    accepted boolean not null default false
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
            f"insert into {LOAD_HISTORY} (entity, rows, loaded_at, run_id, source_kind) values (?, ?, ?, ?, ?)",
            [entity, int(rows), loaded_at, run_id, source_kind],
        )
    return counts


def accept_latest_load(con: duckdb.DuckDBPyConnection, entity: str) -> None:
    """Mark the entity's latest load as accepted (its suite passed): the baseline for the next load."""
    con.execute(
        f"""
        update {LOAD_HISTORY} set accepted = true
        where entity = $entity
          and (loaded_at, run_id) = (
              select (loaded_at, run_id) from {LOAD_HISTORY} where entity = $entity
              order by loaded_at desc, run_id limit 1)
        """,
        {"entity": entity},
    )
