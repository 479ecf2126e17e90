"""Deterministic synthetic data of a B2B industrial distributor, shaped like the raw table contract.

Latent drivers (wallet, share of wallet, relationship breadth, industry growth, price seeking) really
drive the simulated CRM and order lines, so a model can learn them from observable features; the
answers are kept in `account_truth` for tests and benchmarks. Everything is vectorised with numpy:
loops run only over simulated quarters and a handful of categories.

Truth columns: `wallet` is the latent yearly potential at the end of the history; `current_spend` is
exactly the net revenue (returns included) of the emitted lines in the last 12 months; `headroom` =
wallet - current_spend (rarely slightly negative); `true_growth_rate` is the growth of the latent,
deseasonalised spend rate over the unseen future year (0 for prospects and already-lapsed accounts,
about -1 for accounts that lapse next year); `revenue_next_4q` is the net revenue of order lines
simulated for the four quarters after `end_date` the same way as the history but not emitted
(converting prospects have some).
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sources import geo

__all__ = [
    "ACCOUNT_COLUMNS",
    "CHANNELS",
    "CONTACT_COLUMNS",
    "CONTACT_ROLES",
    "DATE_DTYPE",
    "INDUSTRIES",
    "OPPORTUNITY_COLUMNS",
    "OPPORTUNITY_STAGES",
    "PRODUCT_CATEGORIES",
    "REP_COLUMNS",
    "REP_ROLES",
    "SIZES",
    "STRING_DTYPE",
    "TRANSACTION_COLUMNS",
    "TRUTH_COLUMNS",
    "BLOCK_ACCOUNTS",
    "DemoCompany",
    "DemoData",
    "generate_demo",
    "resolve_size",
]

SIZES = {"small": 2_000, "default": 20_000}
MAX_ACCOUNTS = 9_999_999  # account ids are A + 7 digits
BLOCK_ACCOUNTS = 10_000  # order lines are drawn per block of accounts, each from its own random stream

DATE_DTYPE = "datetime64[us]"  # contract DATE: midnight timestamps, cast to DATE when landing
STRING_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default `str` dtype; NaN = NULL

ACCOUNT_COLUMNS = (
    "account_id",
    "account_name",
    "industry",
    "employees",
    "annual_revenue",
    "city",
    "state",
    "country",
    "lat",
    "lon",
    "parent_account_id",
    "created_at",
    "status",
    "owner_rep_id",
)
CONTACT_COLUMNS = ("contact_id", "account_id", "role", "last_activity_date")
REP_COLUMNS = (
    "rep_id",
    "rep_name",
    "role",
    "home_city",
    "home_state",
    "home_lat",
    "home_lon",
    "capacity_hours",
)
OPPORTUNITY_COLUMNS = ("opportunity_id", "account_id", "stage", "amount", "created_date", "close_date")
TRANSACTION_COLUMNS = (
    "transaction_id",
    "order_id",
    "account_id",
    "site_id",
    "order_date",
    "product_id",
    "product_category",
    "quantity",
    "unit_price",
    "unit_cost",
    "discount",
    "channel",
)
TRUTH_COLUMNS = (
    "account_id",
    "industry_growth",
    "wallet",
    "current_spend",
    "headroom",
    "relationship_breadth",
    "price_seeking",
    "true_growth_rate",
    "revenue_next_4q",
)

# name: (share of accounts, yearly growth, wallet USD per employee, firm revenue USD per employee,
#        shift of the price-seeking index)
INDUSTRIES: dict[str, tuple[float, float, float, float, float]] = {
    "healthcare": (0.14, 0.09, 520.0, 160_000.0, -0.05),
    "technology": (0.10, 0.07, 260.0, 320_000.0, -0.05),
    "construction": (0.14, 0.05, 820.0, 230_000.0, 0.10),
    "logistics": (0.10, 0.04, 480.0, 190_000.0, 0.05),
    "manufacturing": (0.22, 0.03, 950.0, 280_000.0, 0.0),
    "food_beverage": (0.10, 0.02, 620.0, 240_000.0, 0.05),
    "energy_utilities": (0.08, 0.00, 700.0, 450_000.0, 0.0),
    "retail": (0.12, -0.02, 300.0, 210_000.0, 0.12),
}
# name: (popularity, median list price USD, gross margin at list price)
PRODUCT_CATEGORIES: dict[str, tuple[float, float, float]] = {
    "fasteners": (1.00, 8.0, 0.45),
    "safety_ppe": (0.90, 25.0, 0.38),
    "janitorial": (0.80, 30.0, 0.35),
    "electrical": (0.80, 45.0, 0.32),
    "hand_tools": (0.70, 35.0, 0.40),
    "plumbing": (0.60, 40.0, 0.33),
    "packaging": (0.60, 20.0, 0.30),
    "power_tools": (0.50, 180.0, 0.28),
    "adhesives_sealants": (0.45, 15.0, 0.42),
    "hvac": (0.40, 120.0, 0.30),
    "material_handling": (0.35, 260.0, 0.27),
    "lab_supplies": (0.30, 60.0, 0.36),
}
N_PRODUCTS = 420
CHANNELS = ("field", "phone", "web", "edi", "rfp")
CHANNEL_DISCOUNT_BUMP = np.array([0.0, 0.0, -0.02, 0.01, 0.08])
CONTACT_ROLES = ("purchasing", "operations", "finance", "executive", "engineering", "it", "maintenance")
# role mix of a single-threaded (purchasing-only) relationship versus a broad one
ROLE_MIX_NARROW = np.array([0.72, 0.10, 0.06, 0.02, 0.02, 0.01, 0.07])
ROLE_MIX_BROAD = np.array([0.16, 0.18, 0.14, 0.12, 0.16, 0.10, 0.14])
REP_ROLES = ("key_account_manager", "field", "inside", "specialist")
# reps per 1,000 accounts by role: the required headcount of the default plan (workload hours of the
# accounts each coverage role serves / capacity hours per rep), so the demo's field force is sized
# like the plan it is asked to staff; specialists (who staff the overlays, shared) are kept fewer than
# the overlays need, so the demo plan shows a hiring gap there
REPS_PER_1000_ACCOUNTS = np.array([0.70, 5.4, 0.95, 0.35])
OPPORTUNITY_STAGES = ("prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost")
SEASONALITY = np.array([0.93, 1.01, 0.97, 1.09])  # calendar Q1..Q4, mean 1
RETAIL_SEASONALITY = np.array([0.86, 0.98, 0.96, 1.20])

LINES_PER_ACCOUNT_YEAR = 100.0 / 3.0  # 20,000 accounts x 3 years -> about 2 million lines
LINES_SPEND_ELASTICITY = 0.5  # bigger buyers place more lines, but also bigger ones
ORDER_VALUE_SIGMA = 0.5  # lognormal noise of an order's value
LINE_VALUE_SIGMA = 0.8  # spread of the lines' values within an order
RETURN_SHARE = 0.02
# yearly growth ~ industry growth + k * (headroom / wallet) * (0.5 + 0.5 * breadth) - drift - ...
GROWTH_FROM_HEADROOM = 0.40  # k
GROWTH_DRIFT = 0.14  # competitors' pull on every account
ACCOUNT_GROWTH_SIGMA = 0.03  # persistent account-specific growth not explained by the drivers
QUARTER_GROWTH_SIGMA = 0.05  # yearly-rate noise drawn every quarter
RAMP_START, RAMP_QUARTERS = 0.35, 6
SHARE_CAP = 0.9  # spend never exceeds about the wallet
CHURN_SHARE = 0.03
CHURN_PROFILE = np.array([0.85, 0.65, 0.3, 0.08])  # spend multiplier two periods before churn .. after

_STREAMS = {
    "accounts": 1,
    "geo": 2,
    "hierarchy": 3,
    "reps": 4,
    "owners": 5,
    "contacts": 6,
    "spend": 7,
    "opportunities": 8,
    "catalogue": 9,
    "transactions": 10,
    "names": 11,
}

_NAME_STEMS = (
    "Apex", "Summit", "Blue River", "Cedar", "Granite", "Harbor", "Ironwood", "Keystone", "Lakeside",
    "Meridian", "North Star", "Oakridge", "Pioneer", "Redstone", "Sierra", "Silverline", "Tri-County",
    "Union", "Valley", "Westfield", "Allied", "Beacon", "Cardinal", "Crescent", "Eagle", "Frontier",
    "Great Plains", "Heritage", "Liberty", "Midland", "Pacific", "Patriot", "Prairie", "Riverside",
    "Sunbelt", "Atlas", "Bayview", "Bluegrass", "Coastal", "Delta", "Evergreen", "Falcon", "Golden State",
    "Highland", "Lone Star", "Magnolia", "Mountain View", "New England", "Piedmont", "Red Rock",
    "Southern", "Tidewater", "Twin Cities", "Vanguard", "Great Lakes", "Canyon", "Pinnacle", "Sterling",
    "Titan", "Horizon",
)  # fmt: skip
_NAME_NOUNS = {
    "healthcare": ("Medical Center", "Health Systems", "Clinics", "Care Partners", "Surgical"),
    "technology": ("Technologies", "Data Systems", "Software", "Electronics", "Networks"),
    "construction": ("Builders", "Construction", "Contracting", "Infrastructure", "Homes"),
    "logistics": ("Logistics", "Freight", "Distribution", "Transport", "Warehousing"),
    "manufacturing": ("Manufacturing", "Fabrication", "Precision Machining", "Industries", "Plastics"),
    "food_beverage": ("Foods", "Beverage", "Bakeries", "Provisions", "Packing"),
    "energy_utilities": ("Energy", "Power", "Utilities", "Solar", "Gas & Electric"),
    "retail": ("Stores", "Outfitters", "Markets", "Retail Group", "Home Centers"),
}
_NAME_SUFFIXES = (" Inc.", " LLC", " Corp.", " Co.", " Group", "", "", " Holdings")
_FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Maria", "Mark", "Sandra", "Kevin", "Ashley",
    "Jose", "Emily", "Brian", "Michelle", "Wei", "Priya", "Andre", "Keisha", "Tyler", "Sofia",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez",
    "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen",
    "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell",
    "Patel", "Kim",
)  # fmt: skip


@dataclass(frozen=True)
class DemoData:
    """The raw tables of one demo company plus the latent truth behind them (truth is never landed)."""

    accounts: pd.DataFrame
    contacts: pd.DataFrame
    reps: pd.DataFrame
    opportunities: pd.DataFrame
    transactions: pd.DataFrame
    account_truth: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """The raw tables by contract name (schema `raw`), without the truth table."""
        return {
            "accounts": self.accounts,
            "contacts": self.contacts,
            "reps": self.reps,
            "opportunities": self.opportunities,
            "transactions": self.transactions,
        }


def resolve_size(size: str | int) -> int:
    """Number of accounts for a size name ("small", "default"), a digit string ("5000", "5_000") or an int."""
    if isinstance(size, bool):
        raise ValueError(f"demo size must be one of {sorted(SIZES)} or a positive integer, got {size!r}")
    if isinstance(size, (int, np.integer)):
        n = int(size)
    elif isinstance(size, str) and size.strip().lower() in SIZES:
        return SIZES[size.strip().lower()]
    elif isinstance(size, str) and re.fullmatch(r"\d+(_\d+)*", size.strip()):
        n = int(size.strip().replace("_", ""))
    else:
        raise ValueError(
            f"demo size must be one of {sorted(SIZES)} or a positive integer number of accounts, got {size!r}"
        )
    if not 1 <= n <= MAX_ACCOUNTS:
        raise ValueError(f"demo size must be between 1 and {MAX_ACCOUNTS:,} accounts, got {n:,}")
    return n


@dataclass(frozen=True)
class _Calendar:
    """Simulated periods: 4 per history year and 4 future ones, three calendar months each."""

    first_day: np.ndarray  # int days since 1970-01-01, inclusive
    last_day: np.ndarray  # inclusive
    quarter: np.ndarray  # calendar quarter 0..3 of the period's midpoint
    n_history: int
    end_day: int


@dataclass(frozen=True)
class _Accounts:
    """Per-account observable and latent attributes as numpy arrays (index = account number)."""

    industry: np.ndarray
    employees: np.ndarray
    size_pct: np.ndarray  # employee rank in 0..1
    annual_revenue: np.ndarray
    breadth: np.ndarray
    price_seeking: np.ndarray
    wallet: np.ndarray  # at the end of the history
    prospect: np.ndarray
    created_day: np.ndarray
    parent: np.ndarray  # index of the parent account, -1 if none


class DemoCompany:
    """The demo company with its order lines still to come: `transaction_tables()` generates them block
    by block (BLOCK_ACCOUNTS accounts each, so memory is bounded at any size), after which
    `account_truth()` is known. `generate_demo` collects everything into frames for small sizes;
    large sizes stream the lines to Parquet with `write_transactions`."""

    def __init__(self, n_accounts: int, seed: int, end_date: date, years: int = 3):
        n = resolve_size(n_accounts)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if isinstance(years, bool) or not isinstance(years, (int, np.integer)) or not 1 <= years <= 50:
            raise ValueError(f"years must be an integer between 1 and 50, got {years!r}")
        seed, years = int(seed), int(years)
        cal = _calendar(pd.Timestamp(end_date).normalize(), years)

        acc = _accounts(seed, n, cal)
        place, lat, lon = _locations(seed, n)
        ids = _format_ids("A", np.arange(1, n + 1), 7)

        trend, share_end, churn_day = _simulate_trend(_rng(seed, "spend"), acc, cal)
        self.opportunities, convert_day = _opportunities(
            _rng(seed, "opportunities"), acc, cal, ids, share_end
        )
        expected = _expected_spend(acc, cal, trend, convert_day)
        self._plan = _tx_plan(seed, acc, cal, ids, expected, convert_day)

        self.reps, rep_roles, rep_lat, rep_lon = _reps(_rng(seed, "reps"), n)
        owner = _owners(_rng(seed, "owners"), acc, lat, lon, rep_roles, rep_lat, rep_lon)
        self.accounts = _accounts_frame(
            seed, acc, ids, place, lat, lon, owner, self.reps["rep_id"].to_numpy()
        )
        self.contacts = _contacts(_rng(seed, "contacts"), acc, cal, ids, churn_day)

        h = cal.n_history
        last_hist, last_future = trend[:, h - 1], trend[:, -1]
        self._growth = np.where(
            (last_hist > 0) & ~acc.prospect, last_future / np.where(last_hist > 0, last_hist, 1.0) - 1.0, 0.0
        )
        self._current_spend = np.zeros(n)
        self._revenue_next = np.zeros(n)
        self._blocks_done = 0

    @property
    def n_accounts(self) -> int:
        return len(self._plan.acc.wallet)

    @property
    def n_blocks(self) -> int:
        return -(-self.n_accounts // BLOCK_ACCOUNTS)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The raw tables other than the order lines, by contract name."""
        return {
            "accounts": self.accounts,
            "contacts": self.contacts,
            "reps": self.reps,
            "opportunities": self.opportunities,
        }

    def transaction_tables(self) -> Iterator[pa.Table]:
        """The history order lines, one Arrow table per block of accounts, in account order."""
        first_line = first_order = 0
        for block in range(self.n_blocks):
            part = _tx_block(self._plan, block, first_line, first_order)
            lo = block * BLOCK_ACCOUNTS
            self._current_spend[lo : lo + len(part.current_spend)] = part.current_spend
            self._revenue_next[lo : lo + len(part.revenue_next)] = part.revenue_next
            table = _tx_arrow(part.columns)
            first_line += table.num_rows
            first_order += part.orders_used
            del part
            self._blocks_done = block + 1
            yield table

    def transaction_reader(self, first_row_number: int = 1) -> pa.RecordBatchReader:
        """The history order lines as one Arrow stream (the blocks of `transaction_tables()` in order)
        plus `_row_number` (1-based line position), for a database to pull straight into a table:
        no file round trip. A background thread draws the next blocks (at most two ahead, so memory
        stays bounded) while the database compresses the current one: numpy, Arrow and DuckDB release
        the GIL, so on two cores drawing and storing overlap instead of taking turns."""
        schema = _tx_arrow_schema().append(pa.field("_row_number", pa.int64()))

        def batches() -> Iterator[pa.RecordBatch]:
            next_row = first_row_number
            for table in _prefetched(self.transaction_tables(), depth=2):
                rows = pa.array(np.arange(next_row, next_row + table.num_rows, dtype=np.int64))
                next_row += table.num_rows
                yield from table.append_column("_row_number", rows).to_batches()

        return pa.RecordBatchReader.from_batches(schema, batches())

    def write_transactions(self, path: Path) -> int:
        """Stream the order lines to one Parquet file (a row group per block); returns the row count."""
        rows = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(path, _tx_arrow_schema(), compression="zstd") as writer:
            for table in self.transaction_tables():
                writer.write_table(table)
                rows += table.num_rows
        return rows

    def account_truth(self) -> pd.DataFrame:
        """The latent truth per account; needs every block of order lines generated first."""
        if self._blocks_done < self.n_blocks:
            raise RuntimeError("account_truth needs the order lines: iterate transaction_tables() first")
        acc = self._plan.acc
        return pd.DataFrame(
            {
                "account_id": _str(self._plan.ids),
                "industry_growth": _industry_param(1)[acc.industry],
                "wallet": np.round(acc.wallet, 2),
                "current_spend": np.round(self._current_spend, 2),
                "headroom": np.round(acc.wallet, 2) - np.round(self._current_spend, 2),
                "relationship_breadth": acc.breadth,
                "price_seeking": acc.price_seeking,
                "true_growth_rate": self._growth,
                "revenue_next_4q": np.round(self._revenue_next, 2),
            }
        )


_DONE = object()


def _prefetched(items: Iterator, depth: int) -> Iterator:
    """`items` produced by a background thread at most `depth` ahead of the consumer, in order. An
    error in the producer is raised in the consumer; a consumer that stops early stops the producer."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand_over(item):
                    return
            hand_over(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            hand_over(exc)

    worker = threading.Thread(target=produce, name="demo-blocks", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def generate_demo(n_accounts: int, seed: int, end_date: date, years: int = 3) -> DemoData:
    """Simulate `years` years of history ending at `end_date` (inclusive) for `n_accounts` accounts.

    The same (n_accounts, seed, end_date, years) always gives identical frames. Holds every order line
    in memory: for large companies use `DemoCompany(...).write_transactions(path)`.
    """
    company = DemoCompany(n_accounts, seed, end_date, years)
    tables = list(company.transaction_tables())
    transactions = _tx_frame(pa.concat_tables(tables))
    del tables
    return DemoData(
        accounts=company.accounts,
        contacts=company.contacts,
        reps=company.reps,
        opportunities=company.opportunities,
        transactions=transactions,
        account_truth=company.account_truth(),
    )


# ---------------------------------------------------------------------------------------------
# building blocks


def _rng(seed: int, stream: str) -> np.random.Generator:
    """An independent random stream per entity, so changing one table's logic leaves the others intact."""
    return np.random.default_rng([seed, _STREAMS[stream]])


def _industry_param(column: int) -> np.ndarray:
    return np.array([values[column] for values in INDUSTRIES.values()], dtype=np.float64)


def _days(ts: pd.Timestamp) -> int:
    return int((ts - pd.Timestamp("1970-01-01")).days)


def _calendar(end: pd.Timestamp, years: int) -> _Calendar:
    """Periods of three months ending at `end` (history) and four after it (the unseen future year)."""
    n_history = 4 * years
    bounds = [end + pd.DateOffset(months=3 * (k - n_history)) for k in range(n_history + 5)]
    first = np.array([_days(b) + 1 for b in bounds[:-1]], dtype=np.int64)
    last = np.array([_days(b) for b in bounds[1:]], dtype=np.int64)
    mid = [bounds[k] + (bounds[k + 1] - bounds[k]) / 2 for k in range(len(bounds) - 1)]
    quarter = np.array([m.quarter - 1 for m in mid], dtype=np.int64)
    return _Calendar(first, last, quarter, n_history, _days(end))


def _to_dates(days: np.ndarray) -> np.ndarray:
    return np.asarray(days, dtype="int64").astype("datetime64[D]").astype(DATE_DTYPE)


def _str(values: np.ndarray | pa.Array | pa.ChunkedArray) -> pd.Series:
    """Strings as pandas' arrow-backed `str` dtype (fast to build, lands as VARCHAR)."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return pd.Series(pd.array(values, dtype=STRING_DTYPE))
    return pd.Series(np.asarray(values, dtype=object), dtype=STRING_DTYPE)


def _format_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """`prefix` + zero-padded numbers as an arrow string array, built by Arrow's vectorised kernels
    (integer to text, left pad, join): about 3x faster than assembling the digits in numpy."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if len(numbers) and (numbers.min() < 0 or numbers.max() >= 10**width):
        raise ValueError(f"ids {prefix}… need more than {width} digits")
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, type=pa.int64()), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _take(values: tuple[str, ...] | np.ndarray | pa.Array, index: np.ndarray) -> pa.Array:
    """values[index] as an arrow string array."""
    arr = values if isinstance(values, pa.Array) else pa.array(list(values), type=pa.string())
    return arr.take(pa.array(np.asarray(index, dtype=np.int64)))


def _draw_by_row(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For every entry of `rows`, a column index drawn from the weights probs[row] (normalised here)."""
    n_rows, k = probs.shape
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    flat = (np.arange(n_rows, dtype=np.float64)[:, None] + cum).reshape(-1)
    u = rng.random(len(rows)) * (1.0 - 1e-9)
    col = np.searchsorted(flat, rows + u, side="right") - rows * k
    return np.clip(col, 0, k - 1)


def _sample_weighted(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    cumulative = np.cumsum(weights)
    return np.minimum(
        np.searchsorted(cumulative, rng.random(size) * cumulative[-1], side="right"), len(weights) - 1
    )


# ---------------------------------------------------------------------------------------------
# accounts


def _accounts(seed: int, n: int, cal: _Calendar) -> _Accounts:
    """Firmographics, hierarchy and the latent drivers of every account."""
    rng = _rng(seed, "accounts")
    shares = _industry_param(0)
    industry = rng.choice(len(INDUSTRIES), size=n, p=shares / shares.sum())
    employees = np.clip(np.round(rng.lognormal(np.log(45.0), 1.25, n)), 3, 60_000).astype(np.int64)

    parent = _hierarchy(_rng(seed, "hierarchy"), employees)
    has_parent = parent >= 0
    industry[has_parent] = industry[parent[has_parent]]  # subsidiaries work in the parent's industry

    size_pct = (np.argsort(np.argsort(employees, kind="stable"), kind="stable") + 0.5) / n
    log_emp = np.log10(employees)
    breadth = np.clip(rng.beta(2.2, 2.2, n) + 0.07 * (log_emp - 1.7), 0.01, 0.99)
    price_seeking = np.clip(
        rng.beta(1.4, 3.2, n) + _industry_param(4)[industry] - 0.2 * (breadth - 0.5), 0.0, 1.0
    )
    wallet = employees * _industry_param(2)[industry] * rng.lognormal(-0.5 * 0.55**2, 0.55, n)
    annual_revenue = np.round(employees * _industry_param(3)[industry] * rng.lognormal(0.0, 0.35, n), -3)

    prospect = rng.random(n) < 0.08
    age_days = np.where(
        prospect, rng.integers(0, 730, n), (45 + rng.random(n) ** 0.6 * 15 * 365.25).astype(np.int64)
    )  # prospects are recent leads; ~7 % of customers were won in the last three years
    return _Accounts(
        industry=industry,
        employees=employees,
        size_pct=size_pct,
        annual_revenue=annual_revenue,
        breadth=breadth,
        price_seeking=price_seeking,
        wallet=wallet,
        prospect=prospect,
        created_day=cal.end_day - age_days,
        parent=parent,
    )


def _hierarchy(rng: np.random.Generator, employees: np.ndarray, share: float = 0.05) -> np.ndarray:
    """Parent index per account (-1: none). Parents come from the largest 10 % and are never children,
    so the hierarchy has one level and no cycles."""
    n = len(employees)
    n_pool = n // 10
    n_children = round(share * n)
    parent = np.full(n, -1, dtype=np.int64)
    if n_pool == 0 or n_children == 0:
        return parent
    order = np.argsort(-employees, kind="stable")
    pool, rest = order[:n_pool], order[n_pool:]
    children = rng.choice(rest, size=min(n_children, len(rest)), replace=False)
    parent[children] = pool[_sample_weighted(rng, employees[pool].astype(np.float64), len(children))]
    return parent


def _locations(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A population-weighted real US place per account, jittered by up to 8 km."""
    rng = _rng(seed, "geo")
    places = geo.us_places()
    place = geo.sample_places(rng, n)
    lat, lon = geo.jitter(rng, places["lat"].to_numpy()[place], places["lon"].to_numpy()[place], 8.0)
    return place, np.round(lat, 6), np.round(lon, 6)


def _accounts_frame(
    seed: int,
    acc: _Accounts,
    ids: pa.Array,
    place: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    owner: np.ndarray,
    rep_ids: np.ndarray,
) -> pd.DataFrame:
    rng = _rng(seed, "names")
    n = len(acc.industry)
    industry_names = list(INDUSTRIES)
    noun_table = np.array([list(_NAME_NOUNS[name]) for name in industry_names], dtype=object)
    stem = _take(_NAME_STEMS, rng.integers(0, len(_NAME_STEMS), n))
    noun = pa.array(noun_table[acc.industry, rng.integers(0, noun_table.shape[1], n)], type=pa.string())
    suffix = _take(_NAME_SUFFIXES, rng.integers(0, len(_NAME_SUFFIXES), n))
    name = pc.binary_join_element_wise(stem, " ", noun, suffix, "")

    places = geo.us_places()
    city = pa.array(places["city"].to_numpy()[place], type=pa.string())
    has_parent = acc.parent >= 0
    parent_idx = np.where(has_parent, acc.parent, 0)
    # subsidiaries carry the group name and their own city, e.g. "Apex Foods Inc. - Dayton"
    child_name = pc.binary_join_element_wise(name.take(pa.array(parent_idx)), " - ", city, "")
    name = pc.if_else(pa.array(has_parent), child_name, name)

    owner_ids = np.where(owner >= 0, rep_ids[np.maximum(owner, 0)], None)
    return pd.DataFrame(
        {
            "account_id": _str(ids),
            "account_name": _str(name),
            "industry": _str(_take(tuple(industry_names), acc.industry)),
            "employees": acc.employees.astype(np.int32),
            "annual_revenue": acc.annual_revenue.astype(np.float64),
            "city": _str(city),
            "state": _str(places["state"].to_numpy()[place]),
            "country": _str(np.full(n, "US", dtype=object)),
            "lat": lat,
            "lon": lon,
            "parent_account_id": _str(pc.if_else(pa.array(has_parent), ids.take(pa.array(parent_idx)), None)),
            "created_at": _to_dates(acc.created_day),
            "status": _str(np.where(acc.prospect, "prospect", "active").astype(object)),
            "owner_rep_id": _str(owner_ids),
        }
    )


# ---------------------------------------------------------------------------------------------
# reps and owners


def _reps(
    rng: np.random.Generator, n_accounts: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Reps in proportion to the headcount each role needs under the default service assumptions
    (config/plan.yaml workload: about 5.4 field, 0.95 inside and 0.7 key account reps per 1,000
    accounts), plus a few specialists; at least one of each role, each with a real home city."""
    counts = np.maximum(1, np.round(REPS_PER_1000_ACCOUNTS * n_accounts / 1000.0)).astype(np.int64)
    n = int(counts.sum())
    roles = rng.permutation(np.repeat(np.arange(len(REP_ROLES)), counts))
    places = geo.us_places()
    place = geo.sample_places(rng, n)
    first = _take(_FIRST_NAMES, rng.integers(0, len(_FIRST_NAMES), n))
    last = _take(_LAST_NAMES, rng.integers(0, len(_LAST_NAMES), n))
    lat = places["lat"].to_numpy()[place]
    lon = places["lon"].to_numpy()[place]
    reps = pd.DataFrame(
        {
            "rep_id": _str(_format_ids("R", np.arange(1, n + 1), max(4, len(str(n))))),
            "rep_name": _str(pc.binary_join_element_wise(first, last, " ")),
            "role": _str(_take(REP_ROLES, roles)),
            "home_city": _str(places["city"].to_numpy()[place]),
            "home_state": _str(places["state"].to_numpy()[place]),
            "home_lat": lat,
            "home_lon": lon,
            "capacity_hours": np.round(rng.uniform(1_600, 1_800, n), -1),
        }
    )
    return reps, roles, lat, lon


def _owners(
    rng: np.random.Generator,
    acc: _Accounts,
    lat: np.ndarray,
    lon: np.ndarray,
    rep_roles: np.ndarray,
    rep_lat: np.ndarray,
    rep_lon: np.ndarray,
) -> np.ndarray:
    """Current CRM owner (rep index, -1 = none): biggest firms to the nearest key account manager,
    mid-sized to one of the three nearest field reps, small ones to any inside rep; ~5 % unowned."""
    n = len(lat)
    rank = np.argsort(np.argsort(-acc.annual_revenue, kind="stable"), kind="stable") / n
    tier = np.where(rank < 0.04, 0, np.where(rank < 0.40, 1, 2))  # index into REP_ROLES
    owner = np.full(n, -1, dtype=np.int64)
    for role in (0, 1):
        reps = np.flatnonzero(rep_roles == role)
        members = np.flatnonzero(tier == role)
        if len(reps) == 0 or len(members) == 0:
            continue
        k = min(3 if role == 1 else 1, len(reps))
        nearest = _nearest(lat[members], lon[members], rep_lat[reps], rep_lon[reps], k)
        pick = _sample_weighted(rng, np.array([0.6, 0.25, 0.15])[:k], len(members)) if k > 1 else 0
        owner[members] = reps[nearest[np.arange(len(members)), pick]]
    inside = np.flatnonzero(rep_roles == 2)
    members = np.flatnonzero(tier == 2)
    owner[members] = inside[rng.integers(0, len(inside), len(members))]
    owner[rng.random(n) < 0.05] = -1
    return owner


def _nearest(lat: np.ndarray, lon: np.ndarray, to_lat: np.ndarray, to_lon: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k nearest points (to_lat, to_lon) of every (lat, lon) by great-circle distance,
    nearest first, equal distances in index order: what a stable argsort of each row of the full
    distance matrix gives, without that matrix (its sort took 48 s at 500,000 accounts x 3,000 reps).

    The points to reach share locations (reps live in cities), so a k-d tree over their distinct
    locations, as unit vectors (chord length orders like great-circle distance), finds each point's
    k + 2 nearest locations; of every such location only its k lowest indices can make the top k. The
    candidates' haversine distances then decide, sorted stably by (distance, index). The two spare
    locations guard the boundary against the rounding differences of chord and haversine."""
    from scipy.spatial import cKDTree

    n, k = len(lat), min(k, len(to_lat))
    places, loc = np.unique(np.column_stack([to_lat, to_lon]), axis=0, return_inverse=True)
    loc = loc.ravel()
    # per location, its first k target indices in ascending order (-1 where it has fewer)
    by_loc = np.argsort(loc, kind="stable")
    starts = np.searchsorted(loc[by_loc], np.arange(len(places)))
    counts = np.bincount(loc, minlength=len(places))
    slot = np.arange(k)
    members = np.where(slot < counts[:, None], by_loc[np.minimum(starts[:, None] + slot, len(loc) - 1)], -1)
    n_loc = min(k + 2, len(places))
    _, near = cKDTree(_unit_vectors(places[:, 0], places[:, 1])).query(_unit_vectors(lat, lon), k=n_loc)
    cand = members[near.reshape(n, n_loc)].reshape(n, n_loc * k)
    cand = np.sort(np.where(cand < 0, len(to_lat), cand), axis=1)  # index order; missing ones last
    valid = cand < len(to_lat)
    safe = np.where(valid, cand, 0)
    dist = np.where(valid, geo.distance_km(lat[:, None], lon[:, None], to_lat[safe], to_lon[safe]), np.inf)
    return np.take_along_axis(cand, np.argsort(dist, axis=1, kind="stable")[:, :k], axis=1).astype(np.int64)


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Points on the unit sphere, for nearest-neighbour search by chord length."""
    phi, lam = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])


# ---------------------------------------------------------------------------------------------
# contacts


def _contacts(
    rng: np.random.Generator, acc: _Accounts, cal: _Calendar, ids: pa.Array, churn_day: np.ndarray
) -> pd.DataFrame:
    """1-12 contacts per account: more for big firms and broad relationships, whose roles also vary more."""
    n = len(acc.breadth)
    rate = np.clip(0.2 + 5.5 * acc.breadth**1.3 + 0.9 * np.log10(acc.employees / 40.0), 0.0, None)
    rate = np.where(acc.prospect, 0.5 * rate, rate)
    count = np.clip(1 + rng.poisson(rate), 1, 12)
    owner = np.repeat(np.arange(n), count)
    position = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    broad = rng.random(len(owner)) < acc.breadth[owner]
    role = np.where(
        broad,
        _draw_by_row(rng, ROLE_MIX_BROAD[None, :], np.zeros(len(owner), dtype=np.int64)),
        _draw_by_row(rng, ROLE_MIX_NARROW[None, :], np.zeros(len(owner), dtype=np.int64)),
    )
    role[(position == 0) & (rng.random(len(owner)) < 0.85)] = 0  # the buyer is almost always known

    scale = np.where(acc.prospect, 250.0, 30.0 + 260.0 * (1.0 - acc.breadth))[owner]
    days_ago = rng.exponential(scale)
    lapsed = churn_day[owner] <= cal.end_day
    days_ago = np.where(lapsed, days_ago + (cal.end_day - churn_day[owner]), days_ago)
    days_ago = np.minimum(days_ago, np.minimum(729, cal.end_day - acc.created_day[owner])).astype(np.int64)
    activity = _to_dates(cal.end_day - days_ago)
    activity[rng.random(len(owner)) < 0.04] = np.datetime64("NaT")
    return pd.DataFrame(
        {
            "contact_id": _str(_format_ids("C", np.arange(1, len(owner) + 1), 8)),
            "account_id": _str(ids.take(pa.array(owner))),
            "role": _str(_take(CONTACT_ROLES, role)),
            "last_activity_date": activity,
        }
    )


# ---------------------------------------------------------------------------------------------
# spend dynamics


def _simulate_trend(
    rng: np.random.Generator, acc: _Accounts, cal: _Calendar
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deseasonalised yearly spend rate per account and period (n, periods), the latent share of
    wallet at the end of history and the churn day (far future if none).

    Each quarter: growth = industry growth + k * (1 - share) * (0.5 + 0.5 * breadth) - price-seeking
    drag - drift + account effect + noise; spend is capped at SHARE_CAP * wallet. A few accounts lapse
    to zero; accounts won recently ramp up over their first quarters.
    """
    n, periods, h = len(acc.wallet), len(cal.first_day), cal.n_history
    g = _industry_param(1)[acc.industry]
    t = np.arange(periods) - (h - 1)
    wallet_path = acc.wallet[:, None] * (1.0 + g[:, None]) ** (t[None, :] / 4.0)
    share0 = np.clip(
        (0.03 + 0.12 * acc.breadth * rng.lognormal(0.0, 0.4, n) + 0.6 * rng.random(n) ** 1.5)
        * (1.0 - 0.3 * acc.price_seeking),
        0.02,
        0.85,
    )
    account_effect = rng.normal(0.0, ACCOUNT_GROWTH_SIGMA, n)
    trend = np.empty((n, periods))
    trend[:, 0] = share0 * wallet_path[:, 0]
    for p in range(1, periods):
        share = trend[:, p - 1] / wallet_path[:, p - 1]
        rate = (
            g
            + GROWTH_FROM_HEADROOM * (1.0 - share) * (0.5 + 0.5 * acc.breadth)
            - 0.06 * acc.price_seeking
            - GROWTH_DRIFT
            + account_effect
            + rng.normal(0.0, QUARTER_GROWTH_SIGMA, n)
        )
        rate = np.clip(rate, -0.6, 1.5)
        trend[:, p] = np.minimum(trend[:, p - 1] * (1.0 + rate) ** 0.25, SHARE_CAP * wallet_path[:, p])
    share_end = trend[:, h - 1] / wallet_path[:, h - 1]

    # lapsing accounts: narrow, price-seeking relationships are the likeliest to go
    risk = (1.5 - acc.breadth) * (0.7 + acc.price_seeking)
    churns = (rng.random(n) < CHURN_SHARE * risk / risk.mean()) & ~acc.prospect
    churn_period = rng.integers(2, periods, n)
    offset = np.arange(periods)[None, :] - churn_period[:, None]  # -2, -1: decline, 0, 1: fade, >1: gone
    profile = np.where(offset < -2, 1.0, CHURN_PROFILE[np.clip(offset + 2, 0, 3)])
    profile = np.where(offset > 1, 0.0, profile)
    trend = np.where(churns[:, None], trend * profile, trend)
    # new accounts ramp up over their first RAMP_QUARTERS quarters (young tenure -> fast growth)
    age_quarters = (cal.last_day[None, :] - acc.created_day[:, None]) / (365.25 / 4.0)
    trend = trend * np.clip(RAMP_START + (1.0 - RAMP_START) * age_quarters / RAMP_QUARTERS, RAMP_START, 1.0)
    churn_day = np.where(churns, cal.first_day[churn_period], np.iinfo(np.int64).max // 2)
    return trend, share_end, churn_day


def _expected_spend(acc: _Accounts, cal: _Calendar, trend: np.ndarray, convert_day: np.ndarray) -> np.ndarray:
    """Expected net revenue per account and period: trend x seasonality x part of the period alive."""
    seasonality = np.where(
        (np.asarray(list(INDUSTRIES)) == "retail")[:, None], RETAIL_SEASONALITY, SEASONALITY
    )[acc.industry][:, cal.quarter]
    start = np.where(acc.prospect, convert_day, acc.created_day)
    length = cal.last_day - cal.first_day + 1
    alive = np.clip(
        (cal.last_day[None, :] - np.maximum(cal.first_day[None, :], start[:, None]) + 1) / length, 0.0, 1.0
    )
    return trend * seasonality * alive * (length / 365.25)


# ---------------------------------------------------------------------------------------------
# opportunities


def _opportunities(
    rng: np.random.Generator, acc: _Accounts, cal: _Calendar, ids: pa.Array, share_end: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """About 0.6 opportunities per account, more where headroom and relationships are larger;
    returns the frame and, per prospect, the day it converts in the future year (else never)."""
    n = len(acc.wallet)
    weight = (0.25 + (1.0 - share_end)) * (0.4 + acc.breadth) * (0.6 + 0.8 * acc.size_pct)
    weight = np.where(acc.prospect, 1.6 * weight, weight)
    count = rng.poisson(0.6 * weight / weight.mean())
    owner = np.repeat(np.arange(n), count)
    m = len(owner)
    created = cal.end_day - rng.integers(0, 540, m)
    created = np.maximum(created, acc.created_day[owner])
    close = created + np.clip(np.round(rng.lognormal(np.log(75.0), 0.6, m)), 14, 365).astype(np.int64)
    closed = (close <= cal.end_day) & (rng.random(m) > 0.08)  # some overdue deals are still open in the CRM
    p_win = np.clip(0.35 + 0.3 * acc.breadth - 0.15 * acc.price_seeking, 0.05, 0.9)[owner]
    won = (rng.random(m) < p_win) & ~acc.prospect[owner]
    progress = np.clip((cal.end_day - created) / np.maximum(close - created, 1), 0.0, 0.999)
    open_stage = np.minimum((progress * 4).astype(np.int64), 3)
    stage = np.where(closed, np.where(won, 4, 5), open_stage)
    amount = np.maximum(np.round(acc.wallet[owner] * rng.lognormal(np.log(0.1), 0.7, m), -2), 500.0)

    order = np.lexsort((created, owner))
    owner, stage, amount, created, close = (
        owner[order],
        stage[order],
        amount[order],
        created[order],
        close[order],
    )

    # prospects with a late-stage open deal mostly convert during the future year
    late = np.zeros(n, dtype=bool)
    late[owner[(stage == 2) | (stage == 3)]] = True
    early = np.zeros(n, dtype=bool)
    early[owner[stage <= 1]] = True
    p_convert = np.where(late, 0.55, np.where(early, 0.15, 0.03))
    converts = acc.prospect & (rng.random(n) < p_convert)
    h = cal.n_history
    period = rng.integers(h, h + 4, n)
    day = cal.first_day[period] + (rng.random(n) * (cal.last_day[period] - cal.first_day[period] + 1)).astype(
        np.int64
    )
    convert_day = np.where(converts, day, np.iinfo(np.int64).max // 2)

    frame = pd.DataFrame(
        {
            "opportunity_id": _str(_format_ids("OPP", np.arange(1, m + 1), 7)),
            "account_id": _str(ids.take(pa.array(owner))),
            "stage": _str(_take(OPPORTUNITY_STAGES, stage)),
            "amount": amount,
            "created_date": _to_dates(created),
            "close_date": _to_dates(close),
        }
    )
    return frame, convert_day


# ---------------------------------------------------------------------------------------------
# catalogue and transactions


@dataclass(frozen=True)
class _Catalogue:
    category: np.ndarray  # per product, products sorted by (category, list price)
    list_price: np.ndarray
    unit_cost: np.ndarray
    category_start: np.ndarray  # first product of each category
    affinity: np.ndarray  # (industries, categories) buying propensity


def _catalogue(rng: np.random.Generator) -> _Catalogue:
    """~420 products in 12 categories; price level and margin differ by category."""
    params = np.array(list(PRODUCT_CATEGORIES.values()))
    popularity, median_price, margin = params[:, 0], params[:, 1], params[:, 2]
    weights = np.sqrt(popularity)
    counts = np.maximum(12, np.floor(N_PRODUCTS * weights / weights.sum())).astype(np.int64)
    counts[0] += N_PRODUCTS - counts.sum()
    category = np.repeat(np.arange(len(counts)), counts)
    price = np.clip(np.round(rng.lognormal(np.log(median_price[category]), 0.9), 2), 0.5, 20_000.0)
    order = np.lexsort((price, category))
    category, price = category[order], price[order]
    cost_ratio = np.clip(1.0 - margin[category] + rng.normal(0.0, 0.05, len(price)), 0.45, 0.92)
    affinity = popularity[None, :] * rng.lognormal(0.0, 0.6, (len(INDUSTRIES), len(popularity)))
    return _Catalogue(
        category=category,
        list_price=price,
        unit_cost=np.round(price * cost_ratio, 2),
        category_start=np.cumsum(counts) - counts,
        affinity=affinity,
    )


def _buying_profile(
    rng: np.random.Generator, acc: _Accounts, cat: _Catalogue
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per account: category mix, channel mix, base discount, lines per order, sites, central buying."""
    n, k = len(acc.breadth), cat.affinity.shape[1]
    affinity = cat.affinity[acc.industry]
    scores = np.log(affinity) + rng.gumbel(size=(n, k))
    p_category = np.clip(0.15 + 0.6 * acc.breadth - 0.35 * acc.price_seeking, 0.03, 0.95)
    n_categories = 1 + rng.binomial(k - 1, p_category)
    rank = np.argsort(np.argsort(-scores, axis=1), axis=1)
    category_mix = affinity * rng.lognormal(0.0, 0.7, (n, k)) * (rank < n_categories[:, None])

    size, ps = acc.size_pct, acc.price_seeking
    channel_mix = np.stack(
        [
            0.10 + 0.55 * size,  # field
            np.full(n, 0.30),  # phone
            0.10 + 0.50 * (1.0 - size),  # web
            0.02 + 0.60 * size**3,  # edi
            0.01 + 1.2 * ps**2.5,  # rfp
        ],
        axis=1,
    ) * rng.lognormal(0.0, 0.3, (n, len(CHANNELS)))

    base_discount = 0.03 + 0.20 * ps + 0.04 * size + rng.normal(0.0, 0.015, n)
    lines_per_order = 1.4 + 3.0 * size
    n_sites = np.where(
        acc.employees >= 250,
        np.minimum(1 + rng.poisson(0.9 * np.log2(acc.employees / 250.0 + 1.0)), 12),
        1,
    )
    central = (n_sites > 1) & (rng.random(n) < 0.4)
    return category_mix, channel_mix, base_discount, lines_per_order, n_sites, central


@dataclass(frozen=True)
class _TxPlan:
    """Everything the order lines of one block of accounts depend on (per-account arrays for all
    accounts); the lines themselves are drawn block by block from the block's own random stream."""

    seed: int
    acc: _Accounts
    cal: _Calendar
    ids: pa.Array
    expected: np.ndarray
    lam: np.ndarray
    convert_day: np.ndarray
    cat: _Catalogue
    category_mix: np.ndarray
    channel_mix: np.ndarray
    base_discount: np.ndarray
    lines_per_order: np.ndarray
    n_sites: np.ndarray
    central: np.ndarray
    site_labels: pa.Array
    product_ids: pa.Array
    first_block_state: dict  # the transactions stream after the buying profiles: block 0 continues it


def _tx_plan(
    seed: int, acc: _Accounts, cal: _Calendar, ids: pa.Array, expected: np.ndarray, convert_day: np.ndarray
) -> _TxPlan:
    """Buying profiles of every account and the line intensity, calibrated on all accounts at once so
    the number of lines per account does not depend on how the accounts are split into blocks."""
    n, h = expected.shape[0], cal.n_history
    cat = _catalogue(_rng(seed, "catalogue"))
    rng = _rng(seed, "transactions")
    category_mix, channel_mix, base_discount, lines_per_order, n_sites, central = _buying_profile(
        rng, acc, cat
    )
    # expected number of lines per account-period, calibrated to LINES_PER_ACCOUNT_YEAR on the history
    intensity = expected**LINES_SPEND_ELASTICITY
    target = LINES_PER_ACCOUNT_YEAR * n * h / 4.0
    hist_total = intensity[:, :h].sum()
    lam = intensity * (target / hist_total if hist_total > 0 else 0.0)
    return _TxPlan(
        seed=seed,
        acc=acc,
        cal=cal,
        ids=ids,
        expected=expected,
        lam=lam,
        convert_day=convert_day,
        cat=cat,
        category_mix=category_mix,
        channel_mix=channel_mix,
        base_discount=base_discount,
        lines_per_order=lines_per_order,
        n_sites=n_sites,
        central=central,
        site_labels=pa.array([f"-S{i}" for i in range(int(n_sites.max(initial=1)) + 1)], type=pa.string()),
        product_ids=_format_ids("P", np.arange(1, len(cat.list_price) + 1), 5),
        first_block_state=rng.bit_generator.state,
    )


@dataclass(frozen=True)
class _TxBlock:
    """The history order lines of one block of accounts plus per-account revenue for the truth table."""

    columns: dict[str, np.ndarray | pa.Array]  # order_date as int days since 1970-01-01
    current_spend: np.ndarray
    revenue_next: np.ndarray
    orders_used: int  # order numbers taken (orders and credit orders of returns)


def _block_rng(plan: _TxPlan, block: int) -> np.random.Generator:
    """Block 0 continues the transactions stream (so a company of up to BLOCK_ACCOUNTS accounts gets
    exactly the lines of the one-piece generator); every later block has its own stream."""
    if block == 0:
        bits = np.random.PCG64()
        bits.state = plan.first_block_state
        return np.random.Generator(bits)
    return np.random.default_rng([plan.seed, _STREAMS["transactions"], block])


def _tx_block(plan: _TxPlan, block: int, first_line: int, first_order: int) -> _TxBlock:
    """Order lines of accounts [block * BLOCK_ACCOUNTS, ...) for every period (history and future year).

    The block draws from its own random stream (seed, transactions, block), so a block's lines do not
    depend on how many blocks are generated together: memory stays bounded at any company size.
    Transaction and order numbers continue from `first_line` / `first_order` (1-based, exclusive)."""
    cal, acc = plan.cal, plan.acc
    lo = block * BLOCK_ACCOUNTS
    hi = min(lo + BLOCK_ACCOUNTS, plan.expected.shape[0])
    expected, lam = plan.expected[lo:hi], plan.lam[lo:hi]
    n, periods, h = expected.shape[0], expected.shape[1], cal.n_history
    rng = _block_rng(plan, block)
    lines_per_order = plan.lines_per_order[lo:hi]
    n_sites, central = plan.n_sites[lo:hi], plan.central[lo:hi]
    cat = plan.cat

    # orders: account, period, day, channel, site
    # regular replenishment: the order count is the expected count, stochastically rounded
    expected_orders = (lam / lines_per_order[:, None]).reshape(-1)
    n_orders = np.floor(expected_orders).astype(np.int64)
    n_orders += rng.random(len(n_orders)) < expected_orders - n_orders
    cell = np.repeat(np.arange(n * periods, dtype=np.int64), n_orders)
    o_acc, o_per = (cell // periods).astype(np.int32), (cell % periods).astype(np.int16)
    start = np.where(acc.prospect[lo:hi], plan.convert_day[lo:hi], acc.created_day[lo:hi])
    day_lo = np.maximum(cal.first_day[o_per], np.minimum(start[o_acc], cal.last_day[o_per]))
    day_hi = cal.last_day[o_per]
    o_day = day_lo + (rng.random(len(cell)) * (day_hi - day_lo + 1)).astype(np.int64)
    o_chan = _draw_by_row(rng, plan.channel_mix[lo:hi], o_acc).astype(np.int8)
    # B2B orders outside the web shop come in on workdays: move weekend ones to a weekday of that week
    weekday = (o_day + 3) % 7  # 0 = Monday
    to_workday = (o_chan != 2) & (weekday >= 5)
    o_day = np.where(
        to_workday, np.clip(o_day - weekday + rng.integers(0, 5, len(o_day)), day_lo, day_hi), o_day
    )
    o_day = o_day.astype(np.int32)
    o_site = np.where(central[o_acc], 1, 1 + (rng.random(len(cell)) * n_sites[o_acc])).astype(np.int16)
    del day_lo, day_hi, weekday, to_workday
    order = np.argsort(o_acc.astype(np.int64) * (1 << 20) + (o_day - cal.first_day[0]), kind="stable")
    cell, o_acc, o_per, o_day, o_chan, o_site = (
        a[order] for a in (cell, o_acc, o_per, o_day, o_chan, o_site)
    )

    # lines
    n_lines = 1 + rng.poisson(lines_per_order[o_acc] - 1.0)
    l_ord = np.repeat(np.arange(len(cell), dtype=np.int64), n_lines)
    m = len(l_ord)
    l_acc, l_day = o_acc[l_ord], o_day[l_ord]
    l_chan, l_site = o_chan[l_ord], o_site[l_ord]
    # order value = expected spend / expected orders x noise, split over its lines by random weights
    value_per_order = np.divide(
        expected.reshape(-1), expected_orders, out=np.zeros(len(expected_orders)), where=expected_orders > 0
    )
    o_value = value_per_order[cell] * rng.lognormal(-0.5 * ORDER_VALUE_SIGMA**2, ORDER_VALUE_SIGMA, len(cell))
    weight = rng.lognormal(0.0, LINE_VALUE_SIGMA, m)
    value = o_value[l_ord] * weight / np.bincount(l_ord, weights=weight, minlength=len(cell))[l_ord]
    del o_value, weight
    category = _draw_by_row(rng, plan.category_mix[lo:hi], l_acc).astype(np.int8)
    discount = (
        np.round(
            np.clip(
                plan.base_discount[lo:hi][l_acc] + CHANNEL_DISCOUNT_BUMP[l_chan] + rng.normal(0.0, 0.02, m),
                0.0,
                0.6,
            )
            * 200.0
        )
        / 200.0
    )

    # product: within the category, one whose net price fits the line value (pricier for bigger lines)
    key_scale = 1e6
    keys = cat.category * key_scale + cat.list_price
    threshold = np.minimum(value / (1.0 - discount), key_scale - 1.0)
    affordable = (
        np.searchsorted(keys, category * key_scale + threshold, side="right") - cat.category_start[category]
    )
    product = (cat.category_start[category] + rng.random(m) ** 0.6 * np.maximum(affordable, 1)).astype(
        np.int16
    )
    del threshold, affordable
    exact = value / (cat.list_price[product] * (1.0 - discount))
    quantity = np.maximum(np.floor(exact) + (rng.random(m) < exact - np.floor(exact)), 1.0)
    del exact, value

    # returns: a later line of the same account sends back part of the previous purchase
    candidate = np.zeros(m, dtype=bool)
    candidate[1:] = (l_acc[1:] == l_acc[:-1]) & (l_day[1:] > l_day[:-1])
    p_return = min(1.0, RETURN_SHARE / max(candidate.mean() if m else 0.0, 1e-9))
    chosen = candidate & (rng.random(m) < p_return)
    is_return = chosen.copy()
    is_return[1:] &= ~chosen[:-1]
    del candidate, chosen
    ret = np.flatnonzero(is_return)
    src = ret - 1
    product[ret], category[ret], discount[ret] = product[src], category[src], discount[src]
    l_chan[ret], l_site[ret] = l_chan[src], l_site[src]
    quantity[ret] = -np.clip(np.round(quantity[src] * rng.uniform(0.1, 1.0, len(ret))), 1.0, quantity[src])

    unit_price = cat.list_price[product]
    net = quantity * unit_price * (1.0 - discount)
    l_per = o_per[l_ord]
    last_year = (l_per >= h - 4) & (l_per < h)
    current_spend = np.bincount(l_acc, weights=np.where(last_year, net, 0.0), minlength=n)
    revenue_next = np.bincount(l_acc, weights=np.where(l_per >= h, net, 0.0), minlength=n)

    # keep the history; orders numbered in (account, date) order, each return is its own credit order
    # numbered after the block's orders
    hist = l_per < h
    o_hist = o_per < h
    n_hist_orders = int(o_hist.sum())
    line_order = (first_order + np.cumsum(o_hist))[l_ord]
    hist_return = is_return & hist
    n_returns = int(hist_return.sum())
    line_order[hist_return] = first_order + n_hist_orders + np.arange(1, n_returns + 1)
    keep = np.flatnonzero(hist)
    acc_ids = plan.ids.take(pa.array(lo + l_acc[keep].astype(np.int64)))
    columns = {
        "transaction_id": _format_ids("T", first_line + np.arange(1, len(keep) + 1), 10),
        "order_id": _format_ids("O", line_order[keep], 10),
        "account_id": acc_ids,
        "site_id": pc.binary_join_element_wise(
            acc_ids, plan.site_labels.take(pa.array(l_site[keep].astype(np.int64))), ""
        ),
        "order_date": l_day[keep],
        "product_id": plan.product_ids.take(pa.array(product[keep].astype(np.int64))),
        "product_category": _take(tuple(PRODUCT_CATEGORIES), category[keep]),
        "quantity": quantity[keep],
        "unit_price": unit_price[keep],
        "unit_cost": cat.unit_cost[product[keep]],
        "discount": discount[keep],
        "channel": _take(CHANNELS, l_chan[keep]),
    }
    return _TxBlock(columns, current_spend, revenue_next, n_hist_orders + n_returns)


def _tx_arrow(columns: dict[str, np.ndarray | pa.Array]) -> pa.Table:
    """A block's lines as an Arrow table with the contract's types (order_date a DATE)."""
    arrays = {
        name: pa.array(np.asarray(values, dtype="int32"), type=pa.int32()).cast(pa.date32())
        if name == "order_date"
        else (values if isinstance(values, pa.Array) else pa.array(values, type=pa.float64()))
        for name, values in columns.items()
    }
    return pa.table(arrays)


def _tx_arrow_schema() -> pa.Schema:
    return pa.schema(
        [
            (
                name,
                pa.date32() if name == "order_date" else pa.float64() if name in _TX_NUMBERS else pa.string(),
            )
            for name in TRANSACTION_COLUMNS
        ]
    )


_TX_NUMBERS = ("quantity", "unit_price", "unit_cost", "discount")


def _tx_frame(table: pa.Table) -> pd.DataFrame:
    """Order lines as the pandas frame of the raw contract (arrow-backed strings, midnight timestamps)."""
    data = {}
    for name in TRANSACTION_COLUMNS:
        column = table.column(name)
        if name == "order_date":
            data[name] = _to_dates(pc.cast(column, pa.int32()).to_numpy())
        elif pa.types.is_string(column.type):
            data[name] = _str(column)
        else:
            data[name] = column.to_numpy()
    return pd.DataFrame(data, copy=False)
