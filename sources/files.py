"""The file drop: a folder with `accounts` and `transactions` (and optionally `contacts`, `reps`,
`opportunities`) as CSV or Parquet, landed into DuckDB as text and then validated like every source.

Files are read by DuckDB's streaming CSV/Parquet readers straight into the warehouse (never into
pandas), with every column as text so that nothing is cast before the row rules can quarantine it.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import duckdb

from sources.contract import ENTITIES, ENTITY_SPECS, REQUIRED_ENTITIES, SourceFileError
from sources.landing import Landed, LoadReport, RowRules, landing_table, load_landed
from sources.parsing import detect_format, normalise_header, number_sql, transcode_to_utf8

EXTENSIONS = (".csv", ".parquet")
MARKER = "_SUCCESS"


def discover(folder: Path) -> dict[str, Path]:
    """The entity files in `folder` (`<entity>.csv` or `<entity>.parquet`, any case); raises
    SourceFileError when the folder or a required entity is missing or an entity has two files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceFileError(f"{folder}: no such folder; put accounts.csv and transactions.csv there")
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        stem, ext = path.stem.lower(), path.suffix.lower()
        if path.is_file() and stem in ENTITY_SPECS and ext in EXTENSIONS:
            found.setdefault(stem, []).append(path)
    for entity, paths in found.items():
        if len(paths) > 1:
            raise SourceFileError(
                f"{folder}: {entity} is delivered twice ({', '.join(p.name for p in paths)}); keep one of them"
            )
    missing = [e for e in REQUIRED_ENTITIES if e not in found]
    if missing:
        raise SourceFileError(
            f"{folder}: no {' and no '.join(f'{e}.csv or {e}.parquet' for e in missing)}; "
            "both accounts and transactions are required"
        )
    return {e: found[e][0] for e in ENTITIES if e in found}


def column_mapping(
    entity: str, header: list[str], renames: dict[str, str], path: Path | str
) -> dict[str, str]:
    """Contract column -> file column. A file column matches a contract column by name after
    `normalise_header`, or through `renames` (their column -> ours, matched the same way). Raises
    SourceFileError naming the missing required columns and the columns the file has."""
    spec = ENTITY_SPECS[entity]
    wanted = {normalise_header(k): v for k, v in renames.items()}
    chosen: dict[str, str] = {}
    for col in header:
        norm = normalise_header(col)
        target = wanted.get(norm, norm if norm in spec.columns and norm not in wanted.values() else None)
        if target is None:
            continue
        if target in chosen:
            raise SourceFileError(
                f"{path}: columns {chosen[target]!r} and {col!r} both map to {target}; "
                f"drop one or fix sources.columns.{entity} in config/plan.yaml"
            )
        chosen[target] = col
    missing = [c for c in spec.required if c not in chosen]
    if missing:
        raise SourceFileError(
            f"{path}: missing required column(s) {', '.join(missing)}; it has {', '.join(header)}. "
            f"Rename them at the source or map them under sources.columns.{entity} in config/plan.yaml"
        )
    return chosen


def _sql_text(text: str) -> str:
    """`text` as a SQL string literal (quotes doubled): paths and names from the user never break the SQL."""
    return "'" + text.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """`name` as a quoted SQL identifier (double quotes doubled), for column names taken from a file."""
    return '"' + name.replace('"', '""') + '"'


def _reader(path: Path, fmt=None, rejects: str | None = None) -> str:
    """A DuckDB table function reading `path` with every column as text. With `rejects` (a table name),
    lines that do not split into the header's fields are stored there instead of failing the read."""
    p = _sql_text(str(path))
    if path.suffix.lower() == ".parquet":
        return f"read_parquet({p})"
    delim = fmt.delimiter.replace("\t", "\\t")
    columns = "{" + ", ".join(_sql_text(c) + ": 'VARCHAR'" for c in fmt.header) + "}"
    store = (
        f", store_rejects = true, rejects_table = {_sql_text(rejects)}, "
        f"rejects_scan = {_sql_text(rejects + '_scan')}"
        if rejects
        else ""
    )
    return (
        f"read_csv({p}, columns = {columns}, header = true, auto_detect = false, delim = E'{delim}', "
        f"quote = '\"', escape = '\"', encoding = '{fmt.encoding}', strict_mode = true, "
        f"null_padding = false{store})"
    )


def _csv_error(path: Path, exc: Exception) -> SourceFileError:
    """One line from DuckDB's multi-line CSV error: the line number and what is wrong there."""
    text = str(exc)
    line = re.search(r"Line: (\d+)", text)
    where = f" at line {line.group(1)}" if line else ""
    if "unicode" in text.lower() or "not latin-1 encoded" in text:
        return SourceFileError(
            f"{path}: unreadable encoding{where} (the start of the file is in another encoding than the rest); "
            "save the whole file as UTF-8"
        )
    counts = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    if counts:
        problem = f"expected {counts.group(1)} fields, found {counts.group(2)}"
    else:
        problem = text.splitlines()[0].split(":", 1)[-1].strip()
    return SourceFileError(
        f"{path}: malformed CSV{where}: {problem}; fix that line (quote fields with delimiters)"
    )


def land_file(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    path: Path,
    renames: dict[str, str],
    decimal: str = "auto",
    date_order: str = "auto",
) -> Landed:
    """Land one file as `_landing.<entity>`: every contract column as text (absent optional columns as
    NULL), in file order. File-level problems raise SourceFileError."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise SourceFileError(f"{path}: the file is empty; export it again with a header row and data rows")
    fmt = None if path.suffix.lower() == ".parquet" else detect_format(path)
    with tempfile.TemporaryDirectory(prefix="covplan-") as tmp:
        readable = path
        if fmt is not None and fmt.encoding == "cp1252":
            readable = Path(tmp) / path.name
            transcode_to_utf8(path, fmt.encoding, readable)
            fmt = replace(fmt, encoding="utf-8")
        return _land(con, entity, path, readable, fmt, renames, decimal, date_order)


def _land(con, entity, path: Path, readable: Path, fmt, renames, decimal: str, date_order: str) -> Landed:
    try:
        header = [r[0] for r in con.execute(f"describe select * from {_reader(readable, fmt)}").fetchall()]
    except duckdb.Error as exc:
        raise _csv_error(path, exc) from None
    chosen = column_mapping(entity, header, renames, path)
    spec = ENTITY_SPECS[entity]
    select = ", ".join(
        f"cast({quote_ident(chosen[c])} as varchar) as {quote_ident(c)}"
        if c in chosen
        else f"cast(null as varchar) as {quote_ident(c)}"
        for c in spec.columns
    )
    table = landing_table(entity)
    rejects = f"{entity}__rejects" if fmt is not None else None
    if rejects:
        _drop_rejects(con, rejects)  # DuckDB appends to an existing rejects table
    reader = _reader(readable, fmt, rejects)
    try:
        con.execute(f"create or replace temp table {table.split('.')[-1]} as select {select} from {reader}")
    except duckdb.Error as exc:
        raise _csv_error(path, exc) from None
    malformed = _malformed_lines(con, path, fmt, rejects, header.index(chosen[spec.key])) if rejects else None
    if con.execute(f"select count(*) from {table}").fetchall()[0][0] == 0:
        con.execute(f"drop table {table}")
        if malformed:
            first = con.execute(f"select min(_row_number) from {malformed}").fetchall()[0][0]
            raise SourceFileError(
                f"{path}: no line splits into the header's {len(header)} fields (first bad row {first}); "
                f"check the delimiter ({fmt.delimiter!r}) and the quoting"
            )
        raise SourceFileError(
            f"{path}: the file has a header but no data rows; export it again with its rows"
        )
    mark = decimal if decimal != "auto" else (_decimal_mark(con, table, spec, fmt.decimal) if fmt else ".")
    return Landed(
        entity=entity,
        table=table,
        source=str(path),
        decimal=mark,
        date_order=date_order,
        ignored_columns=tuple(c for c in header if c not in chosen.values()),
        absent_columns=tuple(c for c in spec.columns if c not in chosen),
        malformed=malformed,
    )


DECIMAL_SAMPLE_ROWS = 100_000


def _decimal_mark(con, table: str, spec, default: str) -> str:
    """The `auto` decimal mark of a CSV file: of point and comma, the one under which more of the number
    texts in the first DECIMAL_SAMPLE_ROWS rows parse; on a tie the delimiter's habit (`default`: comma
    for semicolon files). A semicolon file written with decimal points is read with points."""
    numeric = [c for c, t in spec.columns.items() if t in ("DOUBLE", "INTEGER")]
    if not numeric:
        return default
    counts = ", ".join(f"count({number_sql(quote_ident(c), mark)})" for mark in (".", ",") for c in numeric)
    row = con.execute(f"select {counts} from (select * from {table} limit {DECIMAL_SAMPLE_ROWS})").fetchall()[
        0
    ]
    point, comma = sum(row[: len(numeric)]), sum(row[len(numeric) :])
    if point == comma:
        return default
    return "." if point > comma else ","


def _malformed_lines(con, path: Path, fmt, rejects: str, key_index: int) -> str | None:
    """Turn DuckDB's rejected lines into `temp.main.<rejects>_lines` (_row_number, column_name, detail,
    line, key): a line with too many or too few fields, or a stray quote, is one bad row, quarantined as
    `malformed_line` while the rest of the file loads. Returns None when every line parsed. A problem
    that spoils the rest of the file (a quote never closed, bytes in another encoding) still stops the
    run, naming the row."""
    rows = con.execute(f"select count(*) from {rejects}").fetchall()[0][0]
    if not rows:
        _drop_rejects(con, rejects)
        return None
    fatal = con.execute(
        f"select line - 1, error_type, error_message from {rejects} "
        "where error_type in ('INVALID ENCODING', 'INVALID UNICODE', 'LINE SIZE OVER MAXIMUM') "
        "or (error_type = 'UNQUOTED VALUE' and error_message like '%unterminated quote%' "
        "    and position(chr(10) in trim(csv_line, chr(10) || chr(13))) > 0) "
        "order by line limit 1"
    ).fetchall()
    if fatal:
        row, kind, message = fatal[0]
        if "ENCODING" in kind or "UNICODE" in kind:
            raise SourceFileError(
                f"{path}: unreadable encoding at row {row} (the start of the file is in another encoding "
                "than the rest); save the whole file as UTF-8"
            )
        if kind == "LINE SIZE OVER MAXIMUM":
            raise SourceFileError(
                f"{path}: row {row} is longer than DuckDB's maximum line size; split or shorten it"
            )
        raise SourceFileError(
            f"{path}: row {row} opens a quote that is never closed, so the rest of the file cannot be read; "
            "close or remove that quote"
        )
    out = f"{rejects}_lines"
    delim = _sql_text(fmt.delimiter)
    con.execute(
        f"""
        create or replace temp table {out} as
        select line - 1 as _row_number, column_name,
               case when error_type = 'UNQUOTED VALUE'
                    then 'a quote inside an unquoted value, or text after a closing quote; quote the whole value'
                    else replace(replace(error_message, 'Expected Number of Columns: ', 'expected '),
                                 ' Found: ', ' fields, found ')
                         || ' (a delimiter ' || {delim} || ' inside an unquoted value, or one missing); '
                         || 'quote values that contain the delimiter'
               end as detail,
               trim(csv_line, chr(10) || chr(13)) as line,
               nullif(trim(split_part(trim(csv_line, chr(10) || chr(13)), {delim}, {key_index + 1})), '') as key
        from {rejects}
        -- DuckDB reports a short line once per missing column: keep its first report
        qualify row_number() over (partition by line order by column_idx nulls first) = 1
        order by line
        """
    )
    _drop_rejects(con, rejects)
    return f"temp.main.{out}"


def _drop_rejects(con, rejects: str) -> None:
    con.execute(f"drop table if exists {rejects}")
    con.execute(f"drop table if exists {rejects}_scan")


def check_folder(folder: Path, renames: dict[str, dict[str, str]]) -> dict[str, Path]:
    """Cheap file-level checks of a drop folder (files present, not empty, text readable, headers
    complete) without loading it, so the CLI fails in a second rather than after starting a run."""
    files = discover(folder)
    con = duckdb.connect()
    try:
        for entity, path in files.items():
            if path.stat().st_size == 0:
                raise SourceFileError(
                    f"{path}: the file is empty; export it again with a header row and data rows"
                )
            if path.suffix.lower() == ".parquet":
                try:
                    header = [r[0] for r in con.execute(f"describe select * from {_reader(path)}").fetchall()]
                except duckdb.Error as exc:
                    raise SourceFileError(
                        f"{path}: not a readable Parquet file ({exc}); export it again"
                    ) from None
            else:
                header = list(detect_format(path).header)
            column_mapping(entity, header, renames.get(entity, {}), path)
    finally:
        con.close()
    return files


def load_folder(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    renames: dict[str, dict[str, str]],
    rules: RowRules,
    run_id: str,
    loaded_at: datetime,
    decimal: str = "auto",
    date_order: str = "auto",
) -> LoadReport:
    """Land every entity file of `folder` and load raw.* and quarantine.* from them."""
    files = discover(folder)
    landed = {
        e: land_file(con, e, p, renames.get(e, {}), decimal=decimal, date_order=date_order)
        for e, p in files.items()
    }
    return load_landed(con, landed, rules, run_id, loaded_at)


def extract_status(folder: Path, settle_seconds: float, now: float) -> tuple[str, str]:
    """Whether the drop folder holds a complete extract: ('complete' | 'incomplete' | 'settling', its
    fingerprint). Complete means both required files are present and either a `_SUCCESS` marker was
    written after the last data file, or (no marker) no data file changed for `settle_seconds`. The
    fingerprint (names, sizes, modification times) identifies one extract."""
    import hashlib

    folder = Path(folder)
    if not folder.is_dir():
        return "incomplete", ""
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.stem.lower() in ENTITY_SPECS and p.suffix.lower() in EXTENSIONS
    )
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    fingerprint = hashlib.sha256(repr(stats).encode()).hexdigest()[:16]
    if any(e not in {p.stem.lower() for p in files} for e in REQUIRED_ENTITIES):
        return "incomplete", fingerprint
    newest_ns = max(m for _, _, m in stats)
    marker = folder / MARKER
    if marker.exists():  # integer nanoseconds: a float round-off must not make the marker look older
        return ("complete" if marker.stat().st_mtime_ns >= newest_ns else "settling"), fingerprint
    return ("complete" if now - newest_ns / 1e9 >= settle_seconds else "settling"), fingerprint
