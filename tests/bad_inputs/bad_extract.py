"""A tiny valid accounts + transactions extract (8 accounts, 16 order lines) and the writer the
bad-input cases use to spoil it the way real CRM/ERP exports go wrong."""

from __future__ import annotations

import csv
import io

from sources.contract import ENTITY_SPECS

# the required columns of the raw contract, in its order: the smallest extract a user may drop
ACC_HEADER = list(ENTITY_SPECS["accounts"].required)
TX_HEADER = list(ENTITY_SPECS["transactions"].required)
ACCOUNT_IDS = [f"A{i}" for i in range(1, 9)]
TRANSACTION_IDS = [f"T{i:02d}" for i in range(1, 17)]

Row = list[str] | str  # a list of fields, or a raw line written as it is (for broken lines)


def accounts() -> list[list[str]]:
    """Eight clean accounts, two reps, ISO dates, plain numbers."""
    cities = [("Austin", "TX", "30.27", "-97.74"), ("Denver", "CO", "39.74", "-104.99")]
    rows = []
    for i, account_id in enumerate(ACCOUNT_IDS):
        city, state, lat, lon = cities[i % 2]
        rows.append(
            [
                account_id,
                f"Company {i + 1}",
                "retail" if i % 2 else "energy",
                str(10 * (i + 1)),
                str(100_000 * (i + 1)),
                city,
                state,
                lat,
                lon,
                f"20{10 + i}-03-01",
                f"R{i % 2 + 1}",
            ]
        )
    return rows


def transactions() -> list[list[str]]:
    """Two order lines per account in 2024, before the as-of date of the tests."""
    rows = []
    for i, transaction_id in enumerate(TRANSACTION_IDS):
        rows.append(
            [
                transaction_id,
                ACCOUNT_IDS[i // 2],
                f"2024-{1 + i % 12:02d}-15",
                f"P{i % 3}",
                "hvac" if i % 2 else "tools",
                str(1 + i % 4),
                f"{10 + i}.50",
                "0.1" if i % 3 == 0 else "0",
                ("field", "web", "phone", "edi")[i % 4],
            ]
        )
    return rows


def csv_text(header: list[str], rows: list[Row], delimiter: str = ",", newline: str = "\n") -> str:
    """CSV as a careful exporter writes it (fields quoted when needed); raw string rows go in as they are."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    for row in rows:
        if isinstance(row, str):
            out.write(row + newline)
        else:
            writer.writerow(row)
    return out.getvalue()


def drop(
    acc_rows: list[Row] | None = None,
    tx_rows: list[Row] | None = None,
    acc_header: list[str] | None = None,
    tx_header: list[str] | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8",
    newline: str = "\n",
) -> dict[str, bytes]:
    """accounts.csv and transactions.csv from (possibly spoiled) rows, in one delimiter and encoding."""
    acc = csv_text(acc_header or ACC_HEADER, accounts() if acc_rows is None else acc_rows, delimiter, newline)
    tx = csv_text(tx_header or TX_HEADER, transactions() if tx_rows is None else tx_rows, delimiter, newline)
    return {"accounts.csv": acc.encode(encoding), "transactions.csv": tx.encode(encoding)}


def with_account(index: int, **values: str) -> list[list[str]]:
    """The clean accounts with fields of row `index` (0-based; file row index + 1) replaced."""
    rows = accounts()
    for column, value in values.items():
        rows[index][ACC_HEADER.index(column)] = value
    return rows


def with_transaction(index: int, **values: str) -> list[list[str]]:
    """The clean order lines with fields of row `index` (0-based; file row index + 1) replaced."""
    rows = transactions()
    for column, value in values.items():
        rows[index][TX_HEADER.index(column)] = value
    return rows
