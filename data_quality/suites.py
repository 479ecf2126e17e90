"""Expectation suites as code: plain data, so defining them costs nothing and GE loads only to run them.

An expectation is a great_expectations expectation class name and its keyword arguments, plus where its
batch comes from:

- a *row* expectation (no `frame`) judges rows of a warehouse table. The table may hold 50M rows, so
  the runner never loads it: DuckDB finds the rows that break the expectation (and counts them), and
  great-expectations validates that small frame of candidates. `ref` turns an in-set expectation
  into referential integrity: the allowed values are the keys of another table.
- a *frame* expectation judges a small frame that a suite's SQL computes (an aggregate, one row per
  territory, the load log): freshness, row-count change, column types, goals summing to the target.

The raw suites follow the raw table contract (sources/contract.py), so a rule added there is checked
here too; the plan-output suites state the invariants the publish relies on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sources.contract import ENTITY_SPECS

LOAD_HISTORY = "raw._load_history"
ROLES = ("key_account_manager", "field", "inside", "digital")


@dataclass(frozen=True)
class Expectation:
    type: str  # great_expectations expectation class, e.g. "ExpectColumnValuesToBeUnique"
    kwargs: dict[str, Any]
    table: str | None = None  # row expectation on this table (default: the suite's table)
    frame: str | None = None  # frame expectation: the name of one of the suite's frames
    ref: tuple[str, str] | None = None  # (table, column) whose values the column must be in
    why: str = ""  # one line for the UI: what a failure means

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column") or self.kwargs.get("column_A")


@dataclass(frozen=True)
class Suite:
    name: str
    table: str  # the table the suite guards (row expectations default to it)
    expectations: list[Expectation]
    frames: dict[str, str] = field(default_factory=dict)  # frame name -> SQL returning a small frame
    params: dict[str, Any] = field(default_factory=dict)  # named SQL parameters ($name) of the frames
    keys: dict[str, str] = field(default_factory=dict)  # table -> key column shown beside failing values


def _row(type_: str, column: str, why: str = "", **kwargs: Any) -> Expectation:
    return Expectation(type_, {"column": column, **kwargs}, why=why)


TYPES_SQL = """
select c.column_name || ': ' || coalesce(i.data_type, 'missing') as column_type
from (select unnest($columns::varchar[]) as column_name) c
left join information_schema.columns i
  on i.table_schema = $schema and i.table_name = $table and i.column_name = c.column_name
"""


def contract_expectations(entity: str) -> list[Expectation]:
    """Key, not-null, range, allowed-value and type expectations of one raw entity, from its contract."""
    spec = ENTITY_SPECS[entity]
    out = [
        _row("ExpectColumnValuesToNotBeNull", spec.key, "a row without its key"),
        _row("ExpectColumnValuesToBeUnique", spec.key, "two rows with the same key"),
    ]
    out += [
        _row("ExpectColumnValuesToNotBeNull", c, "a value the plan needs is empty") for c in spec.not_null
    ]
    for col, (lo, hi) in spec.ranges.items():
        out.append(
            _row("ExpectColumnValuesToBeBetween", col, "outside its range", min_value=lo, max_value=hi)
        )
    for col, allowed in spec.enums.items():
        out.append(_row("ExpectColumnValuesToBeInSet", col, "not an allowed value", value_set=list(allowed)))
    expected = [f"{c}: {t}" for c, t in spec.columns.items()]
    out.append(
        Expectation(
            "ExpectColumnValuesToBeInSet",
            {"column": "column_type", "value_set": expected},
            frame="types",
            why="a contract column is missing or has another type",
        )
    )
    return out


def _ref(table: str, column: str, ref_table: str, ref_column: str, why: str) -> Expectation:
    return Expectation(
        "ExpectColumnValuesToBeInSet", {"column": column}, table=table, ref=(ref_table, ref_column), why=why
    )


FRESHNESS_SQL = """
select max(order_date) as latest_order_date, $as_of::date as as_of_date,
       date_diff('day', max(order_date), $as_of::date) as age_days
from raw.transactions
"""

ROW_COUNT_SQL = f"""
with h as (
    select *, row_number() over (order by loaded_at desc, run_id) as k
    from {LOAD_HISTORY} where entity = $entity
),
cur as (select * from h where k = 1),
prev as (
    select h.* from h join cur on h.source_kind = cur.source_kind
    where h.k > 1 and h.accepted order by h.k limit 1
)
select cur.entity, cur.source_kind, cur.rows, prev.rows as previous_rows,
       cur.run_id, prev.run_id as previous_run_id,
       case when prev.rows > 0 then cur.rows::double / prev.rows end as change_ratio
from cur left join prev on true
"""


@dataclass(frozen=True)
class RawLimits:
    """The configurable limits of the raw suites (config `quality:`)."""

    as_of: date  # freshness reference date
    max_age_days: int
    min_ratio: float | None
    max_ratio: float | None


def raw_suite(entity: str, limits: RawLimits) -> Suite:
    """The suite of one raw entity: its contract, referential integrity, row-count change versus the
    previous load of the same source and, for transactions, freshness of the latest order date."""
    spec = ENTITY_SPECS[entity]
    table = f"raw.{entity}"
    expectations = contract_expectations(entity)
    if spec.account_ref:
        expectations.append(
            _ref(table, spec.account_ref, "raw.accounts", "account_id", "names an account that is not loaded")
        )
    if entity == "accounts":
        expectations += [
            _ref(table, "owner_rep_id", "raw.reps", "rep_id", "owner is not a loaded rep"),
            _ref(table, "parent_account_id", table, "account_id", "parent account is not loaded"),
        ]
    frames = {"types": TYPES_SQL, "row_count": ROW_COUNT_SQL}
    if limits.min_ratio is not None or limits.max_ratio is not None:  # both null: no band to check
        expectations.append(
            Expectation(
                "ExpectColumnValuesToBeBetween",
                {"column": "change_ratio", "min_value": limits.min_ratio, "max_value": limits.max_ratio},
                frame="row_count",
                why="rows changed versus the previous load of the same source beyond quality.row_count_change",
            )
        )
    params: dict[str, Any] = {
        "columns": list(spec.columns),
        "schema": "raw",
        "table": entity,
        "entity": entity,
    }
    if entity == "transactions":
        frames["freshness"] = FRESHNESS_SQL
        params["as_of"] = limits.as_of
        expectations += [
            Expectation(
                "ExpectColumnValuesToNotBeNull",
                {"column": "latest_order_date"},
                frame="freshness",
                why="no order dates at all",
            ),
            Expectation(
                "ExpectColumnValuesToBeBetween",
                {"column": "age_days", "min_value": 0, "max_value": limits.max_age_days},
                frame="freshness",
                why="latest order older than quality.freshness.max_age_days (or after the as-of date)",
            ),
        ]
    return Suite(
        name=f"raw_{entity}",
        table=table,
        expectations=expectations,
        frames=frames,
        params=params,
        keys={table: spec.key},
    )


RAW_ENTITIES = ("accounts", "contacts", "reps", "opportunities", "transactions")


def scores_suite() -> Suite:
    """Growth scores: one row per account, non-negative money, potential at least the expected revenue
    (potential is defined as max(wallet quantile, expected, trailing revenue))."""
    t = "ml.account_scores"
    return Suite(
        name="plan_scores",
        table=t,
        expectations=[
            _row("ExpectColumnValuesToNotBeNull", "account_id"),
            _row("ExpectColumnValuesToBeUnique", "account_id", "an account scored twice"),
            _row("ExpectColumnValuesToNotBeNull", "expected_revenue_next_4q"),
            _row("ExpectColumnValuesToBeBetween", "expected_revenue_next_4q", "negative", min_value=0),
            _row("ExpectColumnValuesToBeBetween", "potential", "negative", min_value=0),
            _row("ExpectColumnValuesToBeBetween", "headroom", "negative", min_value=0),
            Expectation(
                "ExpectColumnPairValuesAToBeGreaterThanB",
                {"column_A": "potential", "column_B": "expected_revenue_next_4q", "or_equal": True},
                why="potential below the expected revenue",
            ),
            _ref(t, "account_id", "raw.accounts", "account_id", "a score for an account that is not loaded"),
        ],
        keys={t: "account_id"},
    )


def segments_suite() -> Suite:
    """Segments and coverage tiers: every account once, a tier and a known role, share of wallet in [0, 1]."""
    t = "ml.account_segments"
    return Suite(
        name="plan_segments",
        table=t,
        expectations=[
            _row("ExpectColumnValuesToNotBeNull", "account_id"),
            _row("ExpectColumnValuesToBeUnique", "account_id", "an account segmented twice"),
            _row("ExpectColumnValuesToNotBeNull", "coverage_tier", "an account without a coverage tier"),
            _row("ExpectColumnValuesToBeInSet", "coverage_role", "unknown role", value_set=list(ROLES)),
            _row(
                "ExpectColumnValuesToBeBetween",
                "share_of_wallet",
                "a share outside [0, 1]",
                min_value=0,
                max_value=1,
            ),
            _ref(t, "account_id", "raw.accounts", "account_id", "segment of an account that is not loaded"),
        ],
        keys={t: "account_id"},
    )


CAPACITY_SQL = """
select role, accounts, workload_hours, capacity_hours_per_rep, headcount
from planning.coverage_summary where workload_hours > 0
"""


def capacity_suite() -> Suite:
    """Coverage capacity: every role that carries workload has reps to carry it."""
    t = "planning.account_workload"
    return Suite(
        name="plan_capacity",
        table=t,
        expectations=[
            _row("ExpectColumnValuesToBeUnique", "account_id", "an account's workload counted twice"),
            _row("ExpectColumnValuesToBeBetween", "workload_hours", "negative hours", min_value=0),
            _ref(
                t, "coverage_role", "planning.coverage_summary", "role", "a role missing from the headcount"
            ),
            Expectation(
                "ExpectColumnValuesToBeBetween",
                {"column": "headcount", "min_value": 1},
                frame="roles_with_workload",
                why="a role has workload but no headcount",
            ),
            Expectation(
                "ExpectColumnValuesToBeBetween",
                {"column": "capacity_hours_per_rep", "min_value": 0, "strict_min": True},
                frame="roles_with_workload",
                why="a role has workload but no capacity per rep",
            ),
        ],
        frames={"roles_with_workload": CAPACITY_SQL},
        keys={t: "account_id"},
    )


def assignment_suite() -> Suite:
    """Territory assignment: every account with workload assigned exactly once, to a designed territory."""
    t = "planning.territory_assignment"
    return Suite(
        name="plan_assignment",
        table=t,
        expectations=[
            _row("ExpectColumnValuesToNotBeNull", "account_id"),
            _row("ExpectColumnValuesToBeUnique", "account_id", "an account assigned twice"),
            _row("ExpectColumnValuesToNotBeNull", "territory_id", "an account without a territory"),
            _ref(
                t, "territory_id", "planning.territories", "territory_id", "assigned to an unknown territory"
            ),
            _ref(
                "planning.account_workload",
                "account_id",
                t,
                "account_id",
                "an account with workload is not assigned",
            ),
            _ref(
                "planning.account_workload",
                "coverage_role",
                "planning.territories",
                "role",
                "a role with accounts has no territory",
            ),
        ],
        keys={t: "account_id", "planning.account_workload": "account_id"},
    )


GOAL_TOTAL_SQL = """
select g.goal_cents, m.company_target_cents, g.goal_cents - m.company_target_cents as diff_cents
from (select coalesce(sum(goal_cents), 0)::hugeint as goal_cents from planning.territory_goals) g,
     (select max(company_target_cents)::hugeint as company_target_cents from planning.goal_metrics) m
"""
TERRITORY_VS_ACCOUNTS_SQL = """
with t as (
    select territory_id, sum(goal_cents)::hugeint as territory_goal_cents
    from planning.territory_goals where not carried group by 1
),
a as (
    select territory_id, sum(goal_cents)::hugeint as account_goal_cents
    from planning.account_goals group by 1
)
select coalesce(t.territory_id, a.territory_id) as territory_id,
       coalesce(territory_goal_cents, 0) as territory_goal_cents,
       coalesce(account_goal_cents, 0) as account_goal_cents,
       coalesce(territory_goal_cents, 0) - coalesce(account_goal_cents, 0) as diff_cents
from t full join a using (territory_id)
order by 1
"""


def goals_suite() -> Suite:
    """Goals: non-negative, on known territories, summing to the company target to the cent, and each
    territory's goal (the quarters this plan sets) equal to the sum of its accounts' goals."""
    t = "planning.territory_goals"
    return Suite(
        name="plan_goals",
        table=t,
        expectations=[
            _row("ExpectColumnValuesToNotBeNull", "goal_cents"),
            _row("ExpectColumnValuesToBeBetween", "goal_cents", "a negative goal", min_value=0),
            _ref(
                t, "territory_id", "planning.territories", "territory_id", "a goal for an unknown territory"
            ),
            Expectation(
                "ExpectColumnValuesToBeBetween",
                {"column": "diff_cents", "min_value": 0, "max_value": 0},
                frame="company_total",
                why="territory goals do not sum to the company target",
            ),
            Expectation(
                "ExpectColumnValuesToNotBeNull",
                {"column": "company_target_cents"},
                frame="company_total",
                why="no company target recorded in planning.goal_metrics",
            ),
            Expectation(
                "ExpectColumnValuesToBeBetween",
                {"column": "diff_cents", "min_value": 0, "max_value": 0},
                frame="territory_vs_accounts",
                why="a territory's goal differs from the sum of its accounts' goals",
            ),
        ],
        frames={"company_total": GOAL_TOTAL_SQL, "territory_vs_accounts": TERRITORY_VS_ACCOUNTS_SQL},
        keys={t: "territory_id"},
    )
