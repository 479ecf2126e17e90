"""The raw table contract as data: per entity its columns and types, which a file must have, the key and
the row rules that send a row to quarantine (docs/raw_contract.md says the same in prose).

Kept free of pandas/DuckDB so the config validator and every source can import it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sources.demo import (
    ACCOUNT_COLUMNS,
    CHANNELS,
    CONTACT_COLUMNS,
    CONTACT_ROLES,
    OPPORTUNITY_COLUMNS,
    OPPORTUNITY_STAGES,
    REP_COLUMNS,
    REP_ROLES,
    TRANSACTION_COLUMNS,
)

ENTITIES = ("reps", "accounts", "contacts", "opportunities", "transactions")  # load order: references first
REQUIRED_ENTITIES = ("accounts", "transactions")
PROVENANCE_COLUMNS = ("_source", "_row_number", "_loaded_at", "_run_id")
STATUSES = ("active", "prospect")


class SourceFileError(ValueError):
    """A file-level problem (missing file or column, empty file, unreadable encoding, malformed line) that
    stops the run; the message is one line naming the file, the problem and the fix."""


@dataclass(frozen=True)
class Entity:
    """Contract of one raw table and the rules a row must pass to land in it."""

    name: str
    columns: dict[str, str]  # contract column -> DuckDB type, in contract order
    key: str
    required: tuple[str, ...]  # columns a file must have (after mapping)
    not_null: tuple[str, ...] = ()  # values that must be present (besides the key)
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)
    history_dates: tuple[str, ...] = ()  # dates that cannot lie after the as-of date
    future_dates: tuple[str, ...] = ()  # dates that may lie ahead (expected close), within a limit
    whole_numbers: tuple[str, ...] = ()
    account_ref: str | None = None  # column that must name a loaded account

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in self.required)


def _typed(names: tuple[str, ...], types: dict[str, str]) -> dict[str, str]:
    return {n: types.get(n, "VARCHAR") for n in names}


ENTITY_SPECS: dict[str, Entity] = {
    "accounts": Entity(
        name="accounts",
        columns=_typed(
            ACCOUNT_COLUMNS,
            {
                "employees": "INTEGER",
                "annual_revenue": "DOUBLE",
                "lat": "DOUBLE",
                "lon": "DOUBLE",
                "created_at": "DATE",
            },
        ),
        key="account_id",
        required=(
            "account_id",
            "account_name",
            "industry",
            "employees",
            "annual_revenue",
            "city",
            "state",
            "lat",
            "lon",
            "created_at",
            "owner_rep_id",
        ),
        not_null=("created_at",),
        ranges={"lat": (-90, 90), "lon": (-180, 180), "employees": (0, None), "annual_revenue": (0, None)},
        enums={"status": STATUSES},
        history_dates=("created_at",),
        whole_numbers=("employees",),
    ),
    "contacts": Entity(
        name="contacts",
        columns=_typed(CONTACT_COLUMNS, {"last_activity_date": "DATE"}),
        key="contact_id",
        required=("contact_id", "account_id", "role"),
        not_null=("account_id",),
        enums={"role": CONTACT_ROLES},
        history_dates=("last_activity_date",),
        account_ref="account_id",
    ),
    "reps": Entity(
        name="reps",
        columns=_typed(
            REP_COLUMNS,
            {"home_lat": "DOUBLE", "home_lon": "DOUBLE", "capacity_hours": "DOUBLE"},
        ),
        key="rep_id",
        required=("rep_id", "role"),
        not_null=("role",),
        ranges={"home_lat": (-90, 90), "home_lon": (-180, 180), "capacity_hours": (0, 8760)},
        enums={"role": REP_ROLES},
    ),
    "opportunities": Entity(
        name="opportunities",
        columns=_typed(
            OPPORTUNITY_COLUMNS, {"amount": "DOUBLE", "created_date": "DATE", "close_date": "DATE"}
        ),
        key="opportunity_id",
        required=("opportunity_id", "account_id", "stage", "amount", "created_date"),
        not_null=("account_id", "stage"),
        ranges={"amount": (0, None)},
        enums={"stage": OPPORTUNITY_STAGES},
        history_dates=("created_date",),
        future_dates=("close_date",),
        account_ref="account_id",
    ),
    "transactions": Entity(
        name="transactions",
        columns=_typed(
            TRANSACTION_COLUMNS,
            {
                "order_date": "DATE",
                "quantity": "DOUBLE",
                "unit_price": "DOUBLE",
                "unit_cost": "DOUBLE",
                "discount": "DOUBLE",
            },
        ),
        key="transaction_id",
        required=(
            "transaction_id",
            "account_id",
            "order_date",
            "product_id",
            "product_category",
            "quantity",
            "unit_price",
            "discount",
            "channel",
        ),
        not_null=("account_id", "order_date", "quantity", "unit_price", "product_category"),
        ranges={"unit_price": (0, None), "unit_cost": (0, None), "discount": (0, 1)},
        enums={"channel": CHANNELS},
        history_dates=("order_date",),
        account_ref="account_id",
    ),
}

RULES = {
    "malformed_line": "the line does not split into the header's fields (a stray delimiter or quote)",
    "null_key": "the key column is empty",
    "duplicate_key": "another row has the same key (the first good row in file order is kept)",
    "missing_value": "a value the plan needs is empty",
    "unparseable_number": "the text is not a number in the file's number format",
    "unparseable_date": "the text is not a date in a supported format",
    "impossible_date": "the date is before sources.min_date or after the as-of date",
    "out_of_range": "the number is outside the column's allowed range",
    "invalid_value": "the value is not one of the column's allowed values",
    "unknown_account": "the account is not in the loaded accounts",
    "unknown_reference": "the referenced rep or parent account is not loaded",
}
