"""The bad-input matrix: a small valid extract spoiled the ways real exports go wrong, each case with its
exact outcome on the ingest stage (sources.files.load_folder on an in-memory DuckDB):

- stop: one SourceFileError line naming the file (and the row or column where there is one);
- quarantine: the bad rows are in quarantine.<entity> with rule and column, every good row is in raw;
- accepted: the odd-but-valid text loads, stored verbatim or parsed as documented.

A watchdog interrupts DuckDB after 30 s, so a hang fails the case instead of the suite.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime

import duckdb
import pytest
from bad_extract import (
    ACC_HEADER,
    ACCOUNT_IDS,
    TRANSACTION_IDS,
    TX_HEADER,
    accounts,
    csv_text,
    drop,
    transactions,
    with_account,
    with_transaction,
)

from sources.contract import SourceFileError
from sources.files import load_folder
from sources.landing import RowRules

RULES = RowRules(
    min_date=date(1980, 1, 1),
    as_of_date=date(2025, 6, 30),
    max_future_years=2,
    capacity_hours={"field": 1300.0},
)
ALL_ACC, ALL_TX = set(ACCOUNT_IDS), set(TRANSACTION_IDS)
TIMEOUT_S = 30


def tx_of(account_index: int) -> set[str]:
    """The two order lines of the account at 0-based `account_index`."""
    return {TRANSACTION_IDS[2 * account_index], TRANSACTION_IDS[2 * account_index + 1]}


@dataclass
class Case:
    name: str
    files: dict[str, bytes]
    outcome: str  # stop | quarantine | accepted
    stop: tuple[str, ...] = ()  # fragments of the one-line message (the first is the file name)
    quarantined: dict[str, set[tuple[int, str, str | None]]] = field(default_factory=dict)
    good_accounts: set[str] = field(default_factory=lambda: set(ALL_ACC))
    good_transactions: set[str] = field(default_factory=lambda: set(ALL_TX))
    verbatim: list[tuple[str, str, str, object]] = field(default_factory=list)  # entity, key, col, value


def comma_decimals(rows: list[list[str]], header: list[str]) -> list[list[str]]:
    """The rows as a European export writes them: decimal comma in every fractional number column."""
    columns = [header.index(c) for c in ("lat", "lon", "unit_price", "discount") if c in header]
    return [[v.replace(".", ",") if i in columns else v for i, v in enumerate(r)] for r in rows]


def _acc_line(fields: list[str], delimiter: str = ",") -> str:
    return delimiter.join(fields)


LONG_NAME = "Very Long Name Holdings " * 4_000 + "Ltd"  # 96,003 characters
INJECTIONS = [
    "Robert'); DROP TABLE raw.accounts;--",
    'x"; DELETE FROM raw.transactions; --',
    "' OR 1=1 --",
]
NUL = "Company\x00 1"


def _cases() -> list[Case]:
    acc, tx = accounts(), transactions()
    cases = [
        # --- delimiters, encodings, line endings -------------------------------------------------
        Case("tab_delimiter", drop(delimiter="\t"), "accepted"),
        Case(
            "pipe_delimiter",
            drop(delimiter="|"),
            "stop",
            stop=("accounts.csv", "missing required column(s) account_id"),
        ),
        Case(
            "utf8_bom",
            {k: b"\xef\xbb\xbf" + v for k, v in drop().items()},
            "accepted",
            verbatim=[("accounts", "A1", "account_name", "Company 1")],
        ),
        Case(
            "latin1_names",
            drop(
                acc_rows=with_account(0, account_name="Müller Gärtnerei & Söhne", city="Zürich"),
                encoding="latin-1",
            ),
            "accepted",
            verbatim=[
                ("accounts", "A1", "account_name", "Müller Gärtnerei & Söhne"),
                ("accounts", "A1", "city", "Zürich"),
            ],
        ),
        Case(
            "windows1252_euro_and_curly_quotes",
            drop(acc_rows=with_account(1, account_name="Café “Le Sud” €"), encoding="cp1252"),
            "accepted",
            verbatim=[("accounts", "A2", "account_name", "Café “Le Sud” €")],
        ),
        Case("crlf_line_endings", drop(newline="\r\n"), "accepted"),
        Case(
            "blank_lines_between_and_after",
            {
                "accounts.csv": (
                    csv_text(ACC_HEADER, acc[:4])
                    + "\n"
                    + csv_text(ACC_HEADER, acc[4:]).split("\n", 1)[1]
                    + "\n\n"
                ).encode(),
                "transactions.csv": drop()["transactions.csv"],
            },
            "accepted",
        ),
        Case(
            "nul_byte_in_a_name",
            drop(acc_rows=with_account(0, account_name=NUL)),
            "stop",
            stop=("accounts.csv", "NUL byte at line 2"),
        ),
        Case(
            "utf16_export",
            {
                "accounts.csv": csv_text(ACC_HEADER, acc).encode("utf-16"),
                "transactions.csv": drop()["transactions.csv"],
            },
            "stop",
            stop=("accounts.csv", "unreadable encoding"),
        ),
        # --- empty and header-only files, headers ---------------------------------------------
        Case(
            "empty_file", {**drop(), "accounts.csv": b""}, "stop", stop=("accounts.csv", "the file is empty")
        ),
        Case(
            "whitespace_only_file",
            {**drop(), "transactions.csv": b"\n \n"},
            "stop",
            stop=("transactions.csv", "the file is empty"),
        ),
        Case(
            "header_only",
            drop(tx_rows=[]),
            "stop",
            stop=("transactions.csv", "header but no data rows"),
        ),
        Case(
            "missing_required_column",
            {
                **drop(),
                "transactions.csv": csv_text(
                    [c for c in TX_HEADER if c != "unit_price"], [r[:6] + r[7:] for r in tx]
                ).encode(),
            },
            "stop",
            stop=("transactions.csv", "missing required column(s) unit_price"),
        ),
        Case(
            "extra_columns_are_ignored",
            {
                **drop(),
                "accounts.csv": csv_text(
                    [*ACC_HEADER, "notes", "Internal ID"], [[*r, "vip", "x1"] for r in acc]
                ).encode(),
            },
            "accepted",
        ),
        Case(
            "header_in_other_case_and_spacing",
            {
                **drop(),
                "accounts.csv": csv_text(
                    [f" {c.replace('_', ' ').title()} " for c in ACC_HEADER], acc
                ).encode(),
            },
            "accepted",
        ),
        Case(
            "header_with_a_repeated_column",
            {**drop(), "accounts.csv": csv_text([*ACC_HEADER, "city"], [[*r, "x"] for r in acc]).encode()},
            "stop",
            stop=("accounts.csv", "column(s) city twice"),
        ),
        # --- keys and duplicates ---------------------------------------------------------------
        Case(
            "duplicate_account_with_conflicting_values",
            drop(acc_rows=[*acc, [*acc[2][:1], "Company 3 Renamed", *acc[2][2:]]]),
            "quarantine",
            quarantined={"accounts": {(9, "duplicate_key", "account_id")}},
            verbatim=[("accounts", "A3", "account_name", "Company 3")],  # the first row is kept
        ),
        Case(
            "duplicate_order_line_identical",
            drop(tx_rows=[*tx, tx[4]]),
            "quarantine",
            quarantined={"transactions": {(17, "duplicate_key", "transaction_id")}},
        ),
        Case(
            "null_account_id",
            drop(acc_rows=with_account(3, account_id="")),
            "quarantine",
            quarantined={
                "accounts": {(4, "null_key", "account_id")},
                "transactions": {(7, "unknown_account", "account_id"), (8, "unknown_account", "account_id")},
            },
            good_accounts=ALL_ACC - {"A4"},
            good_transactions=ALL_TX - tx_of(3),
        ),
        Case(
            "null_ids_in_order_lines",
            {
                **drop(),
                "transactions.csv": csv_text(
                    TX_HEADER,
                    [*with_transaction(0, transaction_id="")[:1], *with_transaction(1, account_id="")[1:]],
                ).encode(),
            },
            "quarantine",
            quarantined={
                "transactions": {(1, "null_key", "transaction_id"), (2, "missing_value", "account_id")}
            },
            good_transactions=ALL_TX - {"T01", "T02"},
        ),
        Case(
            "orphan_transactions",
            drop(tx_rows=[*tx, ["T99", "A99", "2024-05-01", "P1", "hvac", "1", "10", "0", "web"]]),
            "quarantine",
            quarantined={"transactions": {(17, "unknown_account", "account_id")}},
        ),
        # --- numbers ---------------------------------------------------------------------------
        Case(
            "negative_quantity_return",
            drop(tx_rows=with_transaction(2, quantity="-2")),
            "accepted",
            verbatim=[("transactions", "T03", "quantity", -2.0)],
        ),
        Case(
            "zero_quantity",
            drop(tx_rows=with_transaction(3, quantity="0")),
            "accepted",
            verbatim=[("transactions", "T04", "quantity", 0.0)],
        ),
        Case(
            "credit_note_as_parenthesised_quantity",
            drop(tx_rows=with_transaction(4, quantity="(3)")),
            "accepted",
            verbatim=[("transactions", "T05", "quantity", -3.0)],
        ),
        Case(
            "credit_note_as_negative_price",
            drop(tx_rows=with_transaction(5, unit_price="-50.00")),
            "quarantine",
            quarantined={"transactions": {(6, "out_of_range", "unit_price")}},
            good_transactions=ALL_TX - {"T06"},
        ),
        Case(
            "thousands_separators_and_currency_symbols",
            drop(
                acc_rows=with_account(0, annual_revenue="$1,234,567.50", employees="1,200"),
                tx_rows=with_transaction(0, unit_price="€1,250.00", discount="10%"),
            ),
            "accepted",
            verbatim=[
                ("accounts", "A1", "annual_revenue", 1234567.5),
                ("accounts", "A1", "employees", 1200),
                ("transactions", "T01", "unit_price", 1250.0),
                ("transactions", "T01", "discount", 0.1),
            ],
        ),
        Case(
            "decimal_comma_in_a_semicolon_file",
            drop(
                acc_rows=comma_decimals(with_account(1, annual_revenue="1.234.567,50 EUR"), ACC_HEADER),
                tx_rows=comma_decimals(tx, TX_HEADER),
                delimiter=";",
            ),
            "accepted",
            verbatim=[
                ("accounts", "A2", "annual_revenue", 1234567.5),
                ("transactions", "T01", "unit_price", 10.5),
            ],
        ),
        Case(
            "decimal_point_in_a_semicolon_file",
            drop(delimiter=";"),
            "accepted",
            verbatim=[("accounts", "A1", "lat", 30.27), ("transactions", "T01", "unit_price", 10.5)],
        ),
        Case(
            "mixed_decimal_marks_in_a_semicolon_file",
            drop(
                tx_rows=[*comma_decimals(tx[:6], TX_HEADER), tx[6], *comma_decimals(tx[7:], TX_HEADER)],
                delimiter=";",
            ),
            "quarantine",  # the majority (comma) wins; the one line written with a point is held back
            quarantined={
                "transactions": {
                    (7, "unparseable_number", "unit_price"),
                    (7, "unparseable_number", "discount"),
                }
            },
            good_transactions=ALL_TX - {"T07"},
        ),
        Case(
            "decimal_comma_in_a_comma_file",
            drop(tx_rows=with_transaction(7, unit_price="12,50")),
            "quarantine",
            quarantined={"transactions": {(8, "unparseable_number", "unit_price")}},
            good_transactions=ALL_TX - {"T08"},
        ),
        Case(
            "text_in_number_columns",
            drop(
                acc_rows=with_account(2, employees="n/a", annual_revenue="12.5"),
                tx_rows=with_transaction(8, quantity="two"),
            ),
            "quarantine",
            quarantined={
                "accounts": {(3, "unparseable_number", "employees")},
                "transactions": {
                    (9, "unparseable_number", "quantity"),
                    (5, "unknown_account", "account_id"),
                    (6, "unknown_account", "account_id"),
                },
            },
            good_accounts=ALL_ACC - {"A3"},
            good_transactions=ALL_TX - tx_of(2) - {"T09"},
        ),
        Case(
            "discount_as_whole_percent",
            drop(tx_rows=with_transaction(9, discount="15")),
            "quarantine",
            quarantined={"transactions": {(10, "out_of_range", "discount")}},
            good_transactions=ALL_TX - {"T10"},
        ),
        Case(
            "coordinates_out_of_range",
            drop(acc_rows=[*with_account(4, lat="95.5")[:5], *with_account(5, lon="-200")[5:]]),
            "quarantine",
            quarantined={
                "accounts": {(5, "out_of_range", "lat"), (6, "out_of_range", "lon")},
                "transactions": {(i, "unknown_account", "account_id") for i in (9, 10, 11, 12)},
            },
            good_accounts=ALL_ACC - {"A5", "A6"},
            good_transactions=ALL_TX - tx_of(4) - tx_of(5),
        ),
        # --- dates -----------------------------------------------------------------------------
        Case(
            "mixed_date_formats",
            drop(
                tx_rows=[
                    *with_transaction(0, order_date="15.01.2024")[:1],
                    *with_transaction(1, order_date="02/15/2024")[1:2],
                    *tx[2:],
                ]
            ),
            "accepted",
            verbatim=[
                ("transactions", "T01", "order_date", date(2024, 1, 15)),
                ("transactions", "T02", "order_date", date(2024, 2, 15)),
            ],
        ),
        Case(
            "impossible_calendar_dates",
            drop(
                tx_rows=[
                    *with_transaction(0, order_date="2024-02-30")[:1],
                    *with_transaction(1, order_date="31.04.2024")[1:],
                ]
            ),
            "quarantine",
            quarantined={
                "transactions": {(1, "unparseable_date", "order_date"), (2, "unparseable_date", "order_date")}
            },
            good_transactions=ALL_TX - {"T01", "T02"},
        ),
        Case(
            "two_digit_years_and_month_names",
            drop(
                tx_rows=[
                    *with_transaction(0, order_date="3/15/24")[:1],
                    *with_transaction(1, order_date="15 Mar 2024")[1:],
                ]
            ),
            "quarantine",
            quarantined={
                "transactions": {(1, "unparseable_date", "order_date"), (2, "unparseable_date", "order_date")}
            },
            good_transactions=ALL_TX - {"T01", "T02"},
        ),
        Case(
            "future_order_date",
            drop(tx_rows=with_transaction(10, order_date="2027-01-15")),
            "quarantine",
            quarantined={"transactions": {(11, "impossible_date", "order_date")}},
            good_transactions=ALL_TX - {"T11"},
        ),
        Case(
            "placeholder_1900_created_at",
            drop(acc_rows=with_account(6, created_at="1900-01-01")),
            "quarantine",
            quarantined={
                "accounts": {(7, "impossible_date", "created_at")},
                "transactions": {
                    (13, "unknown_account", "account_id"),
                    (14, "unknown_account", "account_id"),
                },
            },
            good_accounts=ALL_ACC - {"A7"},
            good_transactions=ALL_TX - tx_of(6),
        ),
        # --- text: stored verbatim ---------------------------------------------------------------
        Case(
            "very_long_name",
            drop(acc_rows=with_account(7, account_name=LONG_NAME)),
            "accepted",
            verbatim=[("accounts", "A8", "account_name", LONG_NAME)],
        ),
        Case(
            "names_that_look_like_sql_injection",
            drop(acc_rows=[with_account(i, account_name=n)[i] for i, n in enumerate(INJECTIONS)] + acc[3:]),
            "accepted",
            verbatim=[("accounts", f"A{i + 1}", "account_name", n) for i, n in enumerate(INJECTIONS)],
        ),
        Case(
            "quoted_newlines_and_delimiters_in_names",
            drop(
                acc_rows=[
                    *with_account(1, account_name="Line one\nLine two, Inc.")[:4],
                    *with_account(4, lat="91")[4:],
                ]
            ),
            "quarantine",  # the quoted newline must not shift the row number of the bad row after it
            quarantined={
                "accounts": {(5, "out_of_range", "lat")},
                "transactions": {(9, "unknown_account", "account_id"), (10, "unknown_account", "account_id")},
            },
            good_accounts=ALL_ACC - {"A5"},
            good_transactions=ALL_TX - tx_of(4),
            verbatim=[("accounts", "A2", "account_name", "Line one\nLine two, Inc.")],
        ),
        # --- broken lines --------------------------------------------------------------------------
        Case(
            "unquoted_delimiter_in_a_name_gives_too_many_fields",
            drop(acc_rows=[*acc[:2], _acc_line([*acc[2][:1], "Acme, Inc", *acc[2][2:]]), *acc[3:]]),
            "quarantine",
            quarantined={
                "accounts": {(3, "malformed_line", None)},
                "transactions": {(5, "unknown_account", "account_id"), (6, "unknown_account", "account_id")},
            },
            good_accounts=ALL_ACC - {"A3"},
            good_transactions=ALL_TX - tx_of(2),
        ),
        Case(
            "truncated_line_gives_too_few_fields",
            drop(tx_rows=[*tx[:11], ",".join(tx[11][:5]), *tx[12:]]),
            "quarantine",
            quarantined={"transactions": {(12, "malformed_line", "quantity")}},
            good_transactions=ALL_TX - {"T12"},
        ),
        Case(
            "two_malformed_lines_in_a_row",
            drop(tx_rows=[*tx[:10], ",".join(tx[10][:5]), ",".join(tx[11][:4]), *tx[12:]]),
            "quarantine",
            quarantined={
                "transactions": {
                    (11, "malformed_line", "quantity"),
                    (12, "malformed_line", "product_category"),
                }
            },
            good_transactions=ALL_TX - {"T11", "T12"},
        ),
        Case(
            "stray_quote_inside_a_value",
            drop(acc_rows=[*acc[:5], _acc_line([acc[5][0], '"Joe" Bar', *acc[5][2:]]), *acc[6:]]),
            "quarantine",
            quarantined={
                "accounts": {(6, "malformed_line", "account_name")},
                "transactions": {
                    (11, "unknown_account", "account_id"),
                    (12, "unknown_account", "account_id"),
                },
            },
            good_accounts=ALL_ACC - {"A6"},
            good_transactions=ALL_TX - tx_of(5),
        ),
        Case(
            "quote_never_closed",
            drop(tx_rows=[*tx[:13], _acc_line([tx[13][0], tx[13][1], '"2024-02-15', *tx[13][3:]]), *tx[14:]]),
            "stop",
            stop=("transactions.csv", "row 14 opens a quote that is never closed"),
        ),
        Case(
            "every_line_split_by_another_delimiter",
            {
                **drop(),
                "transactions.csv": (
                    ",".join(TX_HEADER) + "\n" + "\n".join(";".join(r) for r in tx) + "\n"
                ).encode(),
            },
            "stop",
            stop=("transactions.csv", "no line splits into the header's 9 fields (first bad row 1)"),
        ),
        Case(
            "header_repeated_mid_file",
            drop(acc_rows=[*acc[:4], ACC_HEADER, *acc[4:]]),
            "quarantine",
            quarantined={
                "accounts": {
                    (5, "unparseable_number", "employees"),
                    (5, "unparseable_number", "annual_revenue"),
                    (5, "unparseable_number", "lat"),
                    (5, "unparseable_number", "lon"),
                    (5, "unparseable_date", "created_at"),
                }
            },
        ),
        Case(
            "unknown_channel",
            drop(tx_rows=with_transaction(12, channel="fax")),
            "quarantine",
            quarantined={"transactions": {(13, "invalid_value", "channel")}},
            good_transactions=ALL_TX - {"T13"},
        ),
    ]
    return cases


CASES = _cases()


def _load(folder):
    """load_folder with a watchdog: DuckDB is interrupted after TIMEOUT_S, so a hang fails the case."""
    con = duckdb.connect()
    timer = threading.Timer(TIMEOUT_S, con.interrupt)
    timer.start()
    try:
        report = load_folder(con, folder, {}, RULES, "run-bad", datetime(2025, 7, 1))
    finally:
        timer.cancel()
    return con, report


def _write(tmp_path, files: dict[str, bytes]):
    folder = tmp_path / "drop"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_the_matrix_has_at_least_25_cases_of_each_kind_of_outcome():
    kinds = {c.outcome for c in CASES}
    assert len(CASES) >= 25 and kinds == {"stop", "quarantine", "accepted"}
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path):
    folder = _write(tmp_path, case.files)
    if case.outcome == "stop":
        with pytest.raises(SourceFileError) as err:
            _load(folder)
        message = str(err.value)
        assert "\n" not in message and str(folder / case.stop[0]) in message, message
        for fragment in case.stop[1:]:
            assert fragment in message, message
        return
    con, report = _load(folder)
    found = {
        e: set(con.execute(f"select _row_number, rule, column_name from quarantine.{e}").fetchall())
        for e in ("accounts", "transactions")
    }
    expected = {e: case.quarantined.get(e, set()) for e in ("accounts", "transactions")}
    assert found == expected
    if case.outcome == "accepted":
        assert not any(found.values())
    reasons = con.execute(
        "select count(*) from (select detail, original_value from quarantine.accounts "
        "union all select detail, original_value from quarantine.transactions) where detail is null or detail = ''"
    ).fetchall()[0][0]
    assert reasons == 0  # every quarantined row says why
    raw_acc = [r[0] for r in con.execute("select account_id from raw.accounts").fetchall()]
    raw_tx = [r[0] for r in con.execute("select transaction_id from raw.transactions").fetchall()]
    assert sorted(raw_acc) == sorted(case.good_accounts)  # every good row, once
    assert sorted(raw_tx) == sorted(case.good_transactions)
    quarantined_rows = {e: len({r for r, _, _ in found[e]}) for e in found}
    for e in ("accounts", "transactions"):  # a good row keeps its own line number, never a quarantined one's
        numbers = [r[0] for r in con.execute(f"select _row_number from raw.{e}").fetchall()]
        assert len(set(numbers)) == len(numbers) and not set(numbers) & {r for r, _, _ in found[e]}, e
    assert report.entities["accounts"].rows_read == len(raw_acc) + quarantined_rows["accounts"]
    assert report.entities["transactions"].rows_read == len(raw_tx) + quarantined_rows["transactions"]
    for entity, key, column, value in case.verbatim:
        key_col = "account_id" if entity == "accounts" else "transaction_id"
        got = con.execute(f"select {column} from raw.{entity} where {key_col} = ?", [key]).fetchall()
        assert got == [(value,)], (entity, key, column)
