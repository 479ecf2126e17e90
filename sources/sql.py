"""The SQL source: the same entities read from a database through SQLAlchemy, landed as text in DuckDB
and validated by the same row rules as the file drop.

The URL comes from an environment variable (config `sources.sql.url_env`), never from a file; table
names or select statements per entity come from config `sources.sql`. Rows stream in partitions, so
a large table never sits in memory whole. A table read is ordered by its key column so row numbers
are stable; a configured query is used as written (give it an ORDER BY for stable row numbers).
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import sqlalchemy as sa

from planning.config import SqlSourceConfig
from sources.contract import ENTITIES, ENTITY_SPECS, REQUIRED_ENTITIES, SourceFileError
from sources.files import column_mapping, quote_ident
from sources.landing import Landed, LoadReport, RowRules, landing_table, load_landed

PARTITION_ROWS = 50_000


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every value as its text (dates and times ISO, numbers as Python prints them), NULL kept NULL.
    Whole columns at a time: a 50,000-row partition never goes through a Python function per cell."""
    return pd.DataFrame({col: _column_text(frame[col]) for col in frame.columns}, index=frame.index)


def _column_text(s: pd.Series) -> pd.Series:
    """One column as text, the way `str()`/`isoformat(sep=' ')` print its values."""
    if pd.api.types.is_datetime64_any_dtype(s):
        whole = s.dt.strftime("%Y-%m-%d %H:%M:%S")
        text = whole.where(s.dt.microsecond.fillna(0) == 0, s.dt.strftime("%Y-%m-%d %H:%M:%S.%f"))
    else:
        text = s.astype(str)  # date/datetime objects print as isoformat(sep=' '), Decimal as written
    return text.astype(object).where(s.notna(), None)


def _statement(
    engine: sa.Engine, entity: str, cfg: SqlSourceConfig, renames: dict[str, str]
) -> tuple[str, str]:
    """(select statement, label for provenance) of one entity, or ('', '') when the database lacks it."""
    if entity in cfg.queries:
        return cfg.queries[entity], f"query {cfg.queries[entity]}"
    name = cfg.tables.get(entity, entity)
    schema, _, table = name.rpartition(".")
    if not sa.inspect(engine).has_table(table, schema=schema or None):
        if entity in REQUIRED_ENTITIES or entity in cfg.tables:
            raise SourceFileError(
                f"sql source {_safe(engine)}: table {name} not found; create it or set sources.sql.tables.{entity}"
            )
        return "", ""
    prep = engine.dialect.identifier_preparer
    quoted = ".".join(prep.quote(p) for p in ([schema] if schema else []) + [table])
    with engine.connect() as conn:
        header = list(conn.execute(sa.text(f"select * from {quoted} where 1 = 0")).keys())
    key_col = column_mapping(entity, header, renames, f"sql table {name}").get(ENTITY_SPECS[entity].key)
    return f"select * from {quoted} order by {prep.quote(key_col)}", f"table {name}"


def _safe(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def land_sql(
    con: duckdb.DuckDBPyConnection,
    engine: sa.Engine,
    entity: str,
    statement: str,
    label: str,
    renames: dict[str, str],
) -> Landed:
    """Stream one entity's rows into `_landing.<entity>` as text, in result order."""
    spec = ENTITY_SPECS[entity]
    table = landing_table(entity)
    columns = ", ".join(f"{quote_ident(c)} varchar" for c in spec.columns)
    con.execute(f"create or replace temp table {table.split('.')[-1]} ({columns})")
    source = f"sql {_safe(engine)} {label}"
    with engine.connect().execution_options(stream_results=True, yield_per=PARTITION_ROWS) as conn:
        result = conn.execute(sa.text(statement))
        header = list(result.keys())
        chosen = column_mapping(entity, header, renames, f"sql {label}")
        for rows in result.partitions(PARTITION_ROWS):
            part = _as_text(pd.DataFrame.from_records(rows, columns=header))
            select = ", ".join(
                f"{quote_ident(chosen[c])} as {quote_ident(c)}"
                if c in chosen
                else f"cast(null as varchar) as {quote_ident(c)}"
                for c in spec.columns
            )
            con.register("_sql_part", part)
            con.execute(f"insert into {table} select {select} from _sql_part")
            con.unregister("_sql_part")
    if con.execute(f"select count(*) from {table}").fetchall()[0][0] == 0 and entity in REQUIRED_ENTITIES:
        raise SourceFileError(f"{source}: no rows; the {entity} source must not be empty")
    return Landed(
        entity=entity,
        table=table,
        source=source,
        decimal=".",
        ignored_columns=tuple(c for c in header if c not in chosen.values()),
        absent_columns=tuple(c for c in spec.columns if c not in chosen),
    )


def load_sql(
    con: duckdb.DuckDBPyConnection,
    url: str,
    cfg: SqlSourceConfig,
    renames: dict[str, dict[str, str]],
    rules: RowRules,
    run_id: str,
    loaded_at: datetime,
    url_env: str = "COVPLAN_SOURCE_URL",
) -> LoadReport:
    """Read every entity the database has from `url` and load raw.* and quarantine.* from them."""
    if not url:
        raise SourceFileError(
            f"sql source: environment variable {url_env} is not set; export the SQLAlchemy URL of the source "
            "database in it (e.g. postgresql+psycopg://user:password@host/db)"
        )
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise SourceFileError(f"sql source: {url_env} is not a usable SQLAlchemy URL: {exc}") from None
    try:
        landed = {}
        for entity in ENTITIES:
            statement, label = _statement(engine, entity, cfg, renames.get(entity, {}))
            if statement:
                landed[entity] = land_sql(con, engine, entity, statement, label, renames.get(entity, {}))
        return load_landed(con, landed, rules, run_id, loaded_at)
    except sa.exc.DBAPIError as exc:
        first = str(exc.orig or exc).strip().splitlines()[0]
        raise SourceFileError(
            f"sql source {_safe(engine)}: cannot read: {first}; check the URL and sources.sql"
        ) from None
    finally:
        engine.dispose()
