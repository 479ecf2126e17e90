"""A small file-drop extract made from the demo company, with deliberately broken rows whose expected
fate (quarantine rule, column) is known: what the file-drop end-to-end test feeds `covplan plan`."""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import yaml

from planning.config import DEFAULT_CONFIG_PATH
from sources.demo import generate_demo

# The day the extract is "loaded": its last order is 2026-09-30. Pinning it (sources.as_of_date) keeps the
# freshness suite and the impossible-date rule independent of the day the tests run.
EXTRACT_LOAD_DAY = date(2026, 10, 1)


@functools.cache
def pinned_config() -> Path:
    """The default plan config with sources.as_of_date pinned to EXTRACT_LOAD_DAY (one temp file per session)."""
    cfg = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    cfg.setdefault("sources", {})["as_of_date"] = EXTRACT_LOAD_DAY.isoformat()
    path = Path(tempfile.mkdtemp(prefix="covplan-extract-config-")) / "plan.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def cli_env() -> dict[str, str]:
    """Environment for a `covplan plan --input-dir` subprocess on an extract: the pinned config."""
    return {**os.environ, "COVPLAN_CONFIG": str(pinned_config())}


@dataclass
class Extract:
    folder: Path
    good_accounts: set[str]
    good_transactions: set[str]
    expected: dict[str, set[tuple[int, str, str]]] = field(
        default_factory=dict
    )  # entity -> (row, rule, column)
    originals: dict[tuple[str, int, str], str] = field(default_factory=dict)  # (entity, row, column) -> text


def write_extract(folder: Path, n_accounts: int = 2_000, seed: int = 7) -> Extract:
    """accounts.csv and transactions.csv (semicolon, Latin-1, decimal comma; accounts dated m/d/Y,
    order lines d.m.Y), contacts.csv as UTF-8 with BOM and commas, no reps file (reps come from owners)."""
    folder.mkdir(parents=True, exist_ok=True)
    demo = generate_demo(n_accounts, seed=seed, end_date=date(2026, 9, 30))
    acc = demo.accounts.copy()
    tx = demo.transactions.copy()
    acc["account_name"] = acc["account_name"].astype(object)
    acc.loc[0, "account_name"] = "Müller Gärtnerei & Söhne"  # Latin-1 letters must survive
    parents = set(acc["parent_account_id"].dropna())
    leaf = acc.index[~acc["account_id"].isin(parents) & acc["parent_account_id"].isna()]
    bad_lat, bad_created = int(leaf[5]), int(leaf[6])

    acc_text = acc.astype(object).where(acc.notna(), "")
    acc_text["created_at"] = acc["created_at"].dt.strftime("%m/%d/%Y")
    for col in ("lat", "lon", "annual_revenue"):
        acc_text[col] = acc[col].map(lambda v: f"{v:.6f}".replace(".", ","))
    acc_text.loc[bad_lat, "lat"] = "95,5"
    acc_text.loc[bad_created, "created_at"] = "01/01/1900"
    dup = acc_text.iloc[[10]]  # an identical copy of row 11
    acc_text = pd.concat([acc_text, dup], ignore_index=True)

    tx_text = tx.astype(object).where(tx.notna(), "")
    tx_text["order_date"] = tx["order_date"].dt.strftime("%d.%m.%Y")
    for col in ("quantity", "unit_price", "unit_cost", "discount"):
        tx_text[col] = tx[col].map(lambda v: f"{v:.4f}".replace(".", ","))
    tx_text.loc[0, "unit_price"] = "1.234,50 £"  # thousands separator and currency: a good row
    breaks = {  # line index -> (column, text, rule)
        3: ("quantity", "abc", "unparseable_number"),
        4: ("order_date", "45.13.2024", "unparseable_date"),
        5: ("order_date", "01.01.2031", "impossible_date"),
        6: ("account_id", "A9999999", "unknown_account"),
        7: ("transaction_id", "", "null_key"),
    }
    for i, (col, text, _) in breaks.items():
        tx_text.loc[i, col] = text
    conflict = tx_text.iloc[[20]].copy()
    conflict["quantity"] = "999"
    tx_text = pd.concat([tx_text, conflict], ignore_index=True)

    acc_text.to_csv(folder / "accounts.csv", sep=";", index=False, encoding="latin-1", errors="replace")
    tx_text.to_csv(folder / "transactions.csv", sep=";", index=False, encoding="latin-1")
    demo.contacts.to_csv(folder / "contacts.csv", index=False, encoding="utf-8-sig")
    demo.opportunities.to_csv(folder / "opportunities.csv", index=False)

    bad_account_ids = {acc.loc[bad_lat, "account_id"], acc.loc[bad_created, "account_id"]}
    expected_acc = {
        (bad_lat + 1, "out_of_range", "lat"),
        (bad_created + 1, "impossible_date", "created_at"),
        (len(acc_text), "duplicate_key", "account_id"),
    }
    expected_tx = {(i + 1, rule, col) for i, (col, _, rule) in breaks.items()}
    expected_tx.add((len(tx_text), "duplicate_key", "transaction_id"))
    cascade = tx.index[tx["account_id"].isin(bad_account_ids)]
    expected_tx |= {(int(i) + 1, "unknown_account", "account_id") for i in cascade}
    bad_tx_rows = {r for r, _, _ in expected_tx}
    good_tx = {tx_text.loc[i, "transaction_id"] for i in range(len(tx)) if i + 1 not in bad_tx_rows}
    originals = {
        ("accounts", bad_lat + 1, "lat"): "95,5",
        ("accounts", bad_created + 1, "created_at"): "01/01/1900",
    }
    originals |= {("transactions", i + 1, col): text for i, (col, text, _) in breaks.items()}
    return Extract(
        folder=folder,
        good_accounts=set(acc["account_id"]) - bad_account_ids,
        good_transactions=good_tx,
        expected={"accounts": expected_acc, "transactions": expected_tx},
        originals=originals,
    )
