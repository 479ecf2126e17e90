"""Known answers for reading users' text: delimiter and encoding detection, number and date grammars,
header normalisation and column mapping (sources/parsing.py, sources/files.py)."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from sources.contract import SourceFileError
from sources.files import column_mapping
from sources.parsing import (
    choose_date_order,
    date_sql,
    detect_delimiter,
    detect_format,
    normalise_header,
    number_sql,
)


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "delimiter", "encoding", "bom"),
    [
        (b"a,b,c\n1,2,3\n", ",", "utf-8", False),
        ("a;b;c\nM\u00fcller;2,5;3\n".encode("latin-1"), ";", "latin-1", False),
        (b"\xef\xbb\xbfa\tb\tc\n1\t2\t3\n", "\t", "utf-8", True),
        ('name;"x, y, z"\nG\u00e4rtnerei;1\n'.encode(), ";", "utf-8", False),  # commas inside quotes
        (b"single\n1\n", ",", "utf-8", False),  # nothing splits: comma
    ],
)
def test_detect_format(tmp_path, data, delimiter, encoding, bom):
    fmt = detect_format(_write(tmp_path, "f.csv", data))
    assert (fmt.delimiter, fmt.encoding, fmt.bom) == (delimiter, encoding, bom)


def test_decimal_mark_follows_the_delimiter(tmp_path):
    assert detect_format(_write(tmp_path, "a.csv", b"a;b\n1;2\n")).decimal == ","
    assert detect_format(_write(tmp_path, "b.csv", b"a,b\n1,2\n")).decimal == "."
    assert detect_format(_write(tmp_path, "c.csv", b"a\tb\n1\t2\n")).decimal == "."


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "is empty"),
        (b"  \n\n", "is empty"),
        ("a,b\n1,2\n".encode("utf-16"), "unreadable encoding"),
    ],
)
def test_unreadable_files_raise_one_line_naming_the_file(tmp_path, data, problem):
    path = _write(tmp_path, "accounts.csv", data)
    with pytest.raises(SourceFileError) as err:
        detect_format(path)
    message = str(err.value)
    assert str(path) in message and problem in message and "\n" not in message


def test_detect_delimiter_tie_goes_to_comma():
    assert detect_delimiter("a,b;c") == ","
    assert detect_delimiter("a;b;c,d") == ";"


NUMBERS = [
    # text, decimal mark, value (None = unparseable → quarantine)
    ("1234.5", ".", 1234.5),
    ("1,234.50", ".", 1234.5),
    ("$1,234.50", ".", 1234.5),
    ("USD 1,234,567.25", ".", 1234567.25),
    ("(12.5)", ".", -12.5),
    ("-3", ".", -3.0),
    ("15%", ".", 0.15),
    ("1e-05", ".", 1e-05),
    (".5", ".", 0.5),
    ("1 234.5", ".", 1234.5),
    ("1'234.5", ".", 1234.5),
    ("12,50", ".", None),  # a group of two digits: not 1250
    ("1,2345", ".", None),
    ("abc", ".", None),
    ("1.234,56 €", ",", 1234.56),
    ("£ 12,5", ",", 12.5),
    ("12,50", ",", 12.5),
    ("-0,25", ",", -0.25),
    ("12,5%", ",", 0.125),
    ("1.234", ",", 1234.0),  # under decimal comma the dot groups thousands
    ("12.50", ",", None),  # ... so a dot before two digits is an error, never 1250
    ("1,234.50", ",", None),
]


@pytest.mark.parametrize(("text", "decimal", "expected"), NUMBERS)
def test_number_grammar(text, decimal, expected):
    got = duckdb.sql(f"select {number_sql('x', decimal)} from (select ? as x)", params=[text]).fetchall()[0][
        0
    ]
    assert got == (pytest.approx(expected) if expected is not None else None)


DATES = [
    ("2024-03-31", "mdy", date(2024, 3, 31)),
    ("2024-3-5", "mdy", date(2024, 3, 5)),
    ("2024/03/31", "dmy", date(2024, 3, 31)),
    ("2024-03-31 17:45:00", "mdy", date(2024, 3, 31)),
    ("2024-03-31T17:45:00Z", "mdy", date(2024, 3, 31)),
    ("31.03.2024", "mdy", date(2024, 3, 31)),  # dots are always day first
    ("03/31/2024", "mdy", date(2024, 3, 31)),
    ("1/2/2024", "mdy", date(2024, 1, 2)),
    ("1/2/2024", "dmy", date(2024, 2, 1)),
    ("01-02-2024", "dmy", date(2024, 2, 1)),
    ("31/03/2024", "mdy", None),
    ("2024-02-30", "mdy", None),
    ("24-03-31", "mdy", None),  # two-digit years are ambiguous
    ("Mar 3, 2024", "mdy", None),
    ("yesterday", "mdy", None),
]


@pytest.mark.parametrize(("text", "order", "expected"), DATES)
def test_date_grammar(text, order, expected):
    got = duckdb.sql(f"select {date_sql('x', order)} from (select ? as x)", params=[text]).fetchall()[0][0]
    assert got == expected


@pytest.mark.parametrize(
    ("day_first_only", "month_first_only", "configured", "order"),
    [
        (0, 0, "auto", "mdy"),  # all ambiguous: US order
        (3, 0, "auto", "dmy"),  # some can only be day first, none only month first
        (3, 1, "auto", "mdy"),  # mixed: month first, the misfits get quarantined
        (0, 5, "auto", "mdy"),
        (0, 5, "dmy", "dmy"),  # configuration wins
    ],
)
def test_slash_date_order_rule(day_first_only, month_first_only, configured, order):
    assert choose_date_order(day_first_only, month_first_only, configured) == order


def test_normalise_header():
    assert normalise_header(" Account ID ") == "account_id"
    assert normalise_header("Unit-Price (USD)") == "unit_price_usd"
    assert normalise_header("\ufeffaccount_id") == "account_id"


def test_mapping_renames_and_normalises():
    header = ["Customer No", "Name", "Industry", "Employees", "Revenue", "City", "State", "Lat", "Lon"]
    header += ["Created", "Owner", "Region"]
    renames = {
        "customer no": "account_id",
        "Name": "account_name",
        "Revenue": "annual_revenue",
        "Created": "created_at",
        "OWNER": "owner_rep_id",
    }
    chosen = column_mapping("accounts", header, renames, "accounts.csv")
    assert chosen["account_id"] == "Customer No"
    assert chosen["owner_rep_id"] == "Owner"
    assert chosen["lat"] == "Lat" and chosen["industry"] == "Industry"
    assert "Region" not in chosen.values() and "status" not in chosen


def test_mapping_names_missing_required_columns_and_the_fix():
    with pytest.raises(SourceFileError) as err:
        column_mapping("transactions", ["transaction_id", "account_id", "qty"], {}, "/in/transactions.csv")
    message = str(err.value)
    assert message.startswith("/in/transactions.csv: missing required column(s) order_date, product_id")
    assert "quantity" in message and "sources.columns.transactions" in message


def test_two_columns_for_one_contract_column_is_an_error():
    with pytest.raises(SourceFileError, match="both map to account_id"):
        column_mapping("contacts", ["contact_id", "account_id", "Account ID", "role"], {}, "contacts.csv")


def test_windows_1252_is_detected_and_transcoded(tmp_path):
    from sources.parsing import transcode_to_utf8

    path = _write(tmp_path, "t.csv", "name;price\nCaf\u00e9 \u201cNord\u201d;12,50 \u20ac\n".encode("cp1252"))
    fmt = detect_format(path)
    assert (fmt.encoding, fmt.delimiter, fmt.header) == ("cp1252", ";", ("name", "price"))
    target = tmp_path / "u.csv"
    transcode_to_utf8(path, "cp1252", target, chunk_bytes=7)  # chunks split the text anywhere
    assert target.read_text(encoding="utf-8") == "name;price\nCaf\u00e9 \u201cNord\u201d;12,50 \u20ac\n"


def test_bytes_windows_1252_does_not_define_are_unreadable(tmp_path):
    from sources.parsing import transcode_to_utf8

    path = _write(tmp_path, "t.csv", b"name\nab\x81c\n")
    with pytest.raises(SourceFileError, match="unreadable encoding at byte 7"):
        transcode_to_utf8(path, "cp1252", tmp_path / "u.csv")
