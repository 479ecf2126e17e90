"""Reading users' text: CSV dialect and encoding detection, and the number and date grammars as DuckDB
SQL, so a 50-million-line file is parsed inside DuckDB in a streaming scan, never row by row in Python.

Rules (docs/sources.md):
- Encoding: a UTF-8 byte-order mark means UTF-8; bytes that decode as UTF-8 mean UTF-8; otherwise
  Windows-1252 when bytes 0x80-0x9F occur (€, curly quotes), else Latin-1. NUL bytes (UTF-16, a
  spreadsheet, a zip) are unreadable.
- Delimiter: of comma, semicolon and tab, the one that splits the header line into the most fields
  (quoted text ignored); a tie or none goes to comma.
- Numbers: currency symbols/codes ($ € £ ¥ USD EUR GBP) and surrounding spaces are dropped, `(12.5)`
  is -12.5, a trailing `%` divides by 100. With decimal point, `,` `'` and spaces group thousands; with
  decimal comma, `.` `'` and spaces do. A group separator must be followed by exactly three digits, so
  `12,50` under decimal point (or `12.50` under decimal comma) is unparseable, never 1250.
- Dates: ISO `2024-03-31` (also `/` or `.` between, and a time after it), `31.03.2024` (always day
  first), `03/31/2024` or `03-31-2024` (month first unless the column says otherwise: see
  `slash_date_order`). Two-digit years and month names are unparseable.
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass
from pathlib import Path

from sources.contract import SourceFileError

DELIMITERS = (",", ";", "\t")
SAMPLE_BYTES = 1 << 20

# group separators per decimal mark; \u00a0 and \u202f are the (narrow) no-break spaces of spreadsheets
_GROUP = {".": ",' \u00a0\u202f\u2019", ",": ".' \u00a0\u202f\u2019"}


@dataclass(frozen=True)
class CsvFormat:
    delimiter: str
    encoding: str  # "utf-8" (with or without BOM), "latin-1" or "cp1252" (Windows-1252)
    bom: bool = False
    header: tuple[str, ...] = ()  # the column names of the first line

    @property
    def decimal(self) -> str:
        """The decimal mark the `auto` rule picks: comma for semicolon files, else point."""
        return "," if self.delimiter == ";" else "."


def detect_format(path: Path) -> CsvFormat:
    """Encoding and delimiter of a CSV file from its first megabyte; raises SourceFileError for an empty
    file or one that is not text."""
    with open(path, "rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
        at_end = not fh.read(1)
    if not sample.strip():
        raise SourceFileError(f"{path}: the file is empty; export it again with a header row and data rows")
    bom = sample.startswith(codecs.BOM_UTF8)
    if b"\x00" in sample:
        line = sample[: sample.index(b"\x00")].count(b"\n") + 1
        raise SourceFileError(
            f"{path}: unreadable encoding: NUL byte at line {line} (UTF-16, a binary file, or a stray NUL); "
            "save it as CSV in UTF-8 without NUL characters"
        )
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=at_end)
        encoding = "utf-8"
    except UnicodeDecodeError:
        # bytes 0x80-0x9F are control characters in Latin-1 but letters and € in Windows-1252
        encoding = "cp1252" if any(0x80 <= b <= 0x9F for b in sample) else "latin-1"
    text = sample.decode("utf-8-sig" if encoding == "utf-8" else encoding, errors="replace")
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = detect_delimiter(first)
    names = next(csv.reader([first], delimiter=delimiter, quotechar='"'))
    names = [n.strip() or f"column_{i + 1}" for i, n in enumerate(names)]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SourceFileError(
            f"{path}: the header has column(s) {', '.join(twice)} twice; rename one of each"
        )
    return CsvFormat(delimiter=delimiter, encoding=encoding, bom=bom, header=tuple(names))


def detect_delimiter(header: str) -> str:
    """The delimiter that splits `header` into the most fields, ignoring quoted text; comma on a tie."""
    unquoted = "".join(part for i, part in enumerate(header.split('"')) if i % 2 == 0)
    counts = {d: unquoted.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] > 0 else ","


def normalise_header(name: str) -> str:
    """`Account ID ` → `account_id`: lower case, runs of other characters become one underscore."""
    out, last_us = [], False
    for ch in name.strip().lower():
        if ch.isalnum():
            out.append(ch)
            last_us = False
        elif not last_us:
            out.append("_")
            last_us = True
    return "".join(out).strip("_")


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def number_sql(col: str, decimal: str) -> str:
    """SQL that turns the text column `col` into a DOUBLE by the number grammar, NULL when it does not
    parse (callers flag non-empty text that comes out NULL)."""
    if decimal not in _GROUP:
        raise ValueError(f"decimal mark must be '.' or ',', got {decimal!r}")
    group = _GROUP[decimal]
    g = "[" + group.replace("'", "''") + "]"
    d = "\\." if decimal == "." else ","
    core = f"^[+-]?((\\d{{1,3}}({g}\\d{{3}})+|\\d+)({d}\\d*)?|{d}\\d+)([eE][+-]?\\d+)?$"
    cleaned = f"trim(regexp_replace({col}, '[$€£¥]|USD|EUR|GBP', '', 'g'))"
    # (12.5) → -12.5; 12% → 12 with a scale of 1/100
    unparen = (
        f"(case when regexp_full_match({cleaned}, '\\(.*\\)') "
        f"then '-' || trim(substr({cleaned}, 2, length({cleaned}) - 2)) else {cleaned} end)"
    )
    body = f"trim(rtrim({unparen}, '%'))"
    scale = f"(case when ends_with({unparen}, '%') then 0.01 else 1.0 end)"
    plain = f"regexp_replace({body}, {_sql_str(g)}, '', 'g')"
    if decimal == ",":
        plain = f"replace({plain}, ',', '.')"
    slow = (
        f"(case when regexp_matches({body}, {_sql_str(core)}) then try_cast({plain} as double) * {scale} end)"
    )
    # fast path for the common plain number (no groups, symbols, parentheses or %): one simple regex
    fast = f"[+-]?[0-9]*{d}?[0-9]+([eE][+-]?[0-9]+)?"
    value = f"replace({col}, ',', '.')" if decimal == "," else col
    return f"(case when regexp_full_match({col}, {_sql_str(fast)}) then try_cast({value} as double) else {slow} end)"


def date_sql(col: str, order: str) -> str:
    """SQL that turns the text column `col` into a DATE; `order` ('mdy' or 'dmy') reads `1/2/2024`."""
    if order not in ("mdy", "dmy"):
        raise ValueError(f"date order must be 'mdy' or 'dmy', got {order!r}")
    t = f"trim({col})"
    iso = f"regexp_extract({t}, '^(\\d{{4}})[-/.](\\d{{1,2}})[-/.](\\d{{1,2}})([ T].*)?$', ['y', 'm', 'd'])"
    dot = f"regexp_extract({t}, '^(\\d{{1,2}})\\.(\\d{{1,2}})\\.(\\d{{4}})$', ['d', 'm', 'y'])"
    first, second = ("m", "d") if order == "mdy" else ("d", "m")
    slash = f"regexp_extract({t}, '^(\\d{{1,2}})[/-](\\d{{1,2}})[/-](\\d{{4}})( .*)?$', ['{first}', '{second}', 'y'])"

    def make(parts: str) -> str:
        return (
            f"try_cast(try_strptime({parts}.y || '-' || {parts}.m || '-' || {parts}.d, '%Y-%m-%d') as date)"
        )

    slow = (
        f"(case when {iso}.y <> '' then {make(iso)} "
        f"when {dot}.y <> '' then {make(dot)} "
        f"when {slash}.y <> '' then {make(slash)} end)"
    )
    # fast paths for zero-padded dates without a time: strptime, no capture groups
    slash_fmt = "%m/%d/%Y" if order == "mdy" else "%d/%m/%Y"
    return (
        f"(case when regexp_full_match({t}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') then try_cast({t} as date) "
        f"when regexp_full_match({t}, '[0-9]{{2}}[.][0-9]{{2}}[.][0-9]{{4}}') "
        f"then try_cast(try_strptime({t}, '%d.%m.%Y') as date) "
        f"when regexp_full_match({t}, '[0-9]{{2}}/[0-9]{{2}}/[0-9]{{4}}') "
        f"then try_cast(try_strptime({t}, '{slash_fmt}') as date) "
        f"else {slow} end)"
    )


def slash_date_order_sql(col: str) -> str:
    """Aggregates that decide the order of `1/2/2024`-style dates in a column: how many can only be
    day-first (first part > 12) and how many only month-first (second part > 12)."""
    parts = (
        f"regexp_extract(trim({col}), '^(\\d{{1,2}})[/-](\\d{{1,2}})[/-](\\d{{4}})( .*)?$', ['a', 'b', 'y'])"
    )
    # cheap pre-filter: only text whose second or third character is / or - can be such a date
    maybe = f"(substr(trim({col}), 2, 1) in ('/', '-') or substr(trim({col}), 3, 1) in ('/', '-'))"
    return (
        f"count(*) filter (where {maybe} and {parts}.y <> '' and try_cast({parts}.a as int) > 12), "
        f"count(*) filter (where {maybe} and {parts}.y <> '' and try_cast({parts}.b as int) > 12)"
    )


def choose_date_order(day_first_only: int, month_first_only: int, configured: str = "auto") -> str:
    """The documented rule: a configured order wins; otherwise day-first only when some dates can only be
    day-first and none can only be month-first; month-first (US) in every other case."""
    if configured in ("mdy", "dmy"):
        return configured
    return "dmy" if day_first_only > 0 and month_first_only == 0 else "mdy"


def transcode_to_utf8(path: Path, encoding: str, target: Path, chunk_bytes: int = 1 << 24) -> None:
    """Copy a Windows-1252 file to UTF-8 in chunks (DuckDB reads UTF-8 and Latin-1 only); raises
    SourceFileError at a byte Windows-1252 does not define."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with open(path, "rb") as src, open(target, "w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(chunk_bytes):
            try:
                dst.write(decoder.decode(chunk))
            except UnicodeDecodeError as exc:
                raise SourceFileError(
                    f"{path}: unreadable encoding at byte {offset + exc.start} (neither UTF-8 nor Windows-1252); "
                    "save the file as UTF-8"
                ) from None
            offset += len(chunk)
        dst.write(decoder.decode(b"", final=True))
