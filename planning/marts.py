"""Warehouse tables for the planning steps, read as Arrow record batches of only the columns a step needs.

Why not `.df()`: DuckDB's pandas conversion reads every selected column of the whole result at once, and
a warehouse on Spark has no DuckDB to ask at all — its marts are Parquet directories (`<warehouse
dir>/<schema>.db/<table>/part-*.parquet`). Both backends here yield `pyarrow.RecordBatch`es of a bounded
number of rows, and `read_columns` turns them into one array per column (numbers as numpy, strings
kept in their Arrow buffers), so a step never holds a second, pandas-shaped copy of
the rows while it builds its inputs.

The joins the planning steps used to do in SQL are done on those arrays by key (`index_of`), so the
same step code runs whether the marts live in DuckDB or in Parquet written by Spark.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

ROWS_PER_BATCH = 65_536  # ~0.5 MB per float column per batch: small next to any step's own arrays


class MartReadError(ValueError):
    """A table or column the planning steps need is missing, or a key is not unique."""


class TableReader(Protocol):
    """Something that streams a warehouse table: `schema.table` → record batches of `columns`, and
    names it for DuckDB SQL (`relation`) so a step that aggregates in SQL scans the same source."""

    def batches(
        self, table: str, columns: Sequence[str], rows_per_batch: int
    ) -> Iterator[pa.RecordBatch]: ...

    def relation(self, table: str) -> str: ...


def fill_relations(sql: str, reader: TableReader) -> str:
    """`sql` with each `{schema.table}` placeholder replaced by `reader.relation(table)`: a DuckDB table,
    or a `read_parquet` scan of an engine's Parquet, so one statement runs on a DuckDB connection
    whichever engine built the dbt tables. Other braces are left alone."""
    for table in dict.fromkeys(re.findall(r"\{(\w+\.\w+)\}", sql)):
        sql = sql.replace(f"{{{table}}}", reader.relation(table))
    return sql


def _split(table: str) -> tuple[str, str]:
    schema, _, name = table.partition(".")
    if not name:
        raise MartReadError(f"table name {table!r} must be schema.table")
    return schema, name


def _check_columns(table: str, where: str, wanted: Sequence[str], present: Sequence[str]) -> None:
    missing = [c for c in wanted if c not in set(present)]
    if missing:
        raise MartReadError(f"{table} ({where}) has no column(s) {missing}; it has {sorted(present)}")


@dataclass(frozen=True)
class DuckDBTables:
    """Tables of a DuckDB warehouse, streamed with `to_arrow_reader` (DuckDB never builds the whole
    result: it produces batches as the reader pulls them)."""

    connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]

    @classmethod
    def on(cls, con: duckdb.DuckDBPyConnection) -> DuckDBTables:
        """The tables of an open connection, read on that connection (never closed here)."""
        return cls(lambda: nullcontext(con))

    def batches(self, table: str, columns: Sequence[str], rows_per_batch: int) -> Iterator[pa.RecordBatch]:
        schema, name = _split(table)
        with self.connect() as con:
            present = [
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = ? and table_name = ?",
                    [schema, name],
                ).fetchall()
            ]
            if not present:
                raise MartReadError(f"{table} does not exist in the DuckDB warehouse")
            _check_columns(table, "DuckDB warehouse", columns, present)
            cols = ", ".join(f'"{c}"' for c in columns)
            yield from con.sql(f'select {cols} from "{schema}"."{name}"').to_arrow_reader(rows_per_batch)

    def relation(self, table: str) -> str:
        schema, name = _split(table)
        return f'"{schema}"."{name}"'


@dataclass(frozen=True)
class ParquetTables:
    """Tables written as Parquet directories under `root`: Spark/Hive's `<schema>.db/<table>/` or a
    plain `<schema>/<table>/` (or `<schema>/<table>.parquet`), local or on a mounted object store."""

    root: Path

    def path_of(self, table: str) -> Path:
        schema, name = _split(table)
        candidates = [
            self.root / f"{schema}.db" / name,
            self.root / schema / name,
            self.root / schema / f"{name}.parquet",
        ]
        for path in candidates:
            if path.exists():
                return path
        raise MartReadError(f"{table}: no Parquet table at {' or '.join(str(p) for p in candidates)}")

    def batches(self, table: str, columns: Sequence[str], rows_per_batch: int) -> Iterator[pa.RecordBatch]:
        path = self.path_of(table)
        # Spark leaves _SUCCESS and .crc files beside the parts; pyarrow skips names starting _ or .
        dataset = ds.dataset(path, format="parquet")
        _check_columns(table, str(path), columns, dataset.schema.names)
        yield from dataset.scanner(columns=list(columns), batch_size=rows_per_batch).to_batches()

    def relation(self, table: str) -> str:
        """A `read_parquet` scan of the table's part files, which DuckDB streams (only the columns and
        row groups a query touches). Spark's `_SUCCESS` and `.crc` files do not match."""
        path = self.path_of(table)
        files = path if path.is_file() else path / "**" / "*.parquet"
        literal = str(files).replace("'", "''")
        return f"read_parquet('{literal}', hive_partitioning = false)"


STRING_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' `str`: what `.df()` gives for VARCHAR
Column = np.ndarray | pd.api.extensions.ExtensionArray


def _is_string(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


def _to_numpy(column: pa.Array) -> np.ndarray:
    """One numeric/date Arrow column as numpy, with the dtypes DuckDB's `.df()` gives: decimals as
    float64, integers with nulls as float64 with NaN, dates as datetime64[us]."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.dictionary_decode(), kind.value_type
    if pa.types.is_decimal128(kind):
        return _decimal_to_float(column)
    if pa.types.is_decimal(kind) or (pa.types.is_integer(kind) and column.null_count):
        column = pc.cast(column, pa.float64())
    elif pa.types.is_date(kind):  # DATE arrives in pandas as microsecond timestamps
        column = pc.cast(column, pa.timestamp("us"))
    return column.to_numpy(zero_copy_only=False)


def _decimal_to_float(column: pa.Array) -> np.ndarray:
    """DECIMAL as float64 the way DuckDB converts it (unscaled integer / 10^scale, correctly rounded),
    so amounts equal what `.df()` gave to the last bit; Arrow's own cast is off by an ulp at times."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    words = np.frombuffer(column.buffers()[1], dtype="<i8")[
        2 * column.offset : 2 * (column.offset + len(column))
    ]
    low, high = words[0::2], words[1::2]
    null = column.is_null().to_numpy(zero_copy_only=False) if column.null_count else np.zeros(len(low), bool)
    if not np.array_equal(high[~null], low[~null] >> 63):  # unscaled values beyond int64: no shortcut
        return column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    out = low.astype("float64") / 10.0**column.type.scale
    out[null] = np.nan
    return out


def read_columns(
    reader: TableReader,
    table: str,
    columns: Sequence[str],
    rows_per_batch: int = ROWS_PER_BATCH,
    nullable_ints: bool = False,
) -> dict[str, Column]:
    """The named columns of `table`: numbers and dates as one numpy array each, strings as pandas'
    Arrow-backed `str` arrays (the Arrow buffers themselves: no Python string objects). Built batch by
    batch, so the peak is the finished arrays plus one batch, never a second copy of the table.

    Integers with nulls come as float64 with NaN, or with `nullable_ints` as pandas' masked `Int64`/
    `Int32`… arrays, which is what DuckDB's `.df()` gives for them today."""
    numeric: dict[str, list[np.ndarray]] = {}
    strings: dict[str, list[pa.Array]] = {}
    ints: dict[str, list[pa.Array]] = {}
    for batch in reader.batches(table, columns, rows_per_batch):
        for name in columns:
            column = batch.column(name)
            if pa.types.is_dictionary(column.type):
                column = column.dictionary_decode()
            if _is_string(column.type):
                strings.setdefault(name, []).append(column)
            elif nullable_ints and pa.types.is_integer(column.type):
                ints.setdefault(name, []).append(column)
            else:
                numeric.setdefault(name, []).append(_to_numpy(column))
    out: dict[str, Column] = {}
    for name in columns:
        if name in strings:
            out[name] = pd.array(pa.chunked_array(strings[name]), dtype=STRING_DTYPE)
        elif name in ints:
            out[name] = _masked_ints(pa.chunked_array(ints[name]))
        elif name in numeric:
            out[name] = np.concatenate(numeric[name])
        else:  # an empty table: no batch told the type
            out[name] = pd.array([], dtype=STRING_DTYPE)
    return out


def _masked_ints(column: pa.ChunkedArray) -> Column:
    """Integers as numpy, or as a pandas masked integer array when some are null."""
    values = pc.fill_null(column, 0).to_numpy()
    if not column.null_count:
        return values
    return pd.arrays.IntegerArray(values, column.is_null().to_numpy(zero_copy_only=False))


def take_rows(values: Column, rows: np.ndarray) -> Column:
    """`values[rows]` of a left join: a missing value where `rows` is -1, with the dtype `.df()` gives
    the joined column (NaN in float64, NA in strings, masked integers only where a value is missing)."""
    missing = rows < 0
    if isinstance(values, np.ndarray):
        if not missing.any():
            return values[rows]
        if values.dtype.kind in "iu":
            return pd.arrays.IntegerArray(values[np.where(missing, 0, rows)], missing)
        return take_or(values, rows, np.full(len(rows), np.nan))
    taken = values.take(rows, allow_fill=True)
    if isinstance(taken, pd.arrays.IntegerArray) and not taken.isna().any():
        return taken.to_numpy(dtype=taken.dtype.numpy_dtype)
    return taken


def read_frame(
    reader: TableReader, table: str, columns: Sequence[str], rows_per_batch: int = ROWS_PER_BATCH
) -> pd.DataFrame:
    """`read_columns` as a DataFrame over those arrays, for the planning functions that take one."""
    return pd.DataFrame(read_columns(reader, table, columns, rows_per_batch), copy=False)


def index_of(keys: Column, table_keys: Column, table: str) -> np.ndarray:
    """For each of `keys`, its row in `table_keys` (-1 if absent or null): the join the steps used to do
    in SQL, hashed by Arrow. `table_keys` must be unique (one row per account), else the join would
    multiply rows."""
    values = pa.array(table_keys)
    if len(pc.unique(values)) != len(values):
        index = pd.Index(table_keys)
        raise MartReadError(f"{table}: key not unique, e.g. {index[index.duplicated()][:3].tolist()}")
    found = pc.index_in(pa.array(keys), value_set=values, skip_nulls=True)
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def take_or(values: np.ndarray, rows: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """`coalesce(values[rows], fallback)` of a left join: `values` at `rows` where the row exists (>= 0)
    and is not null, else `fallback` (as float64)."""
    out = np.array(fallback, dtype="float64")
    hit = np.flatnonzero(rows >= 0)
    found = np.asarray(values, dtype="float64")[rows[hit]]
    known = ~np.isnan(found)
    out[hit[known]] = found[known]
    return out


def inner_rows(keys: Column, *matches: np.ndarray) -> np.ndarray:
    """Positions of `keys` that every inner-joined table matched (`matches` from `index_of`), ordered
    by key like the SQL's `order by account_id`."""
    keep = np.ones(len(keys), dtype=bool)
    for rows in matches:
        keep &= rows >= 0
    positions = np.flatnonzero(keep)
    # Arrow sorts strings by their UTF-8 bytes, as DuckDB's `order by` does
    order = pc.sort_indices(pa.array(keys[positions])).to_numpy(zero_copy_only=False)
    return positions[order]
