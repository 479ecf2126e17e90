"""The one source of descriptions for the published plan: every table, view and column a BI reader sees.

`planning.publish` writes these as `COMMENT`s on the DuckDB and PostgreSQL tables and as key-value
metadata of the Parquet files, and docs/published_schema.md documents the same schema; tests/bi/test_compat.py
checks that every published column has a description here and a row in that document, so a column
cannot be added without saying what it means.

Stability promise (docs/published_schema.md): a column may be added at any time and never breaks a
reader; removing or renaming a column or changing its meaning is a versioned change with an entry in
CHANGELOG.md, and `SCHEMA_VERSION` below goes up.
"""

from __future__ import annotations

# Bumped on every breaking change to a published table (a column removed, renamed, or re-typed so
# that existing queries change meaning). Written into each Parquet file and each table's comment.
SCHEMA_VERSION = 1

TABLE_DESCRIPTIONS: dict[str, str] = {
    "plan_runs": "One row per published plan: its id, kind, as-of date and the facts of the run that built it.",
    "account_plan": "One row per account and plan: value, segment, coverage, territory, owner and goals.",
    "territories": "One row per territory and plan: owner, role, accounts, workload, value, balance, travel and goal.",
    "territory_goals": "One row per territory, fiscal quarter and plan: the quarterly goal.",
    "coverage_summary": "One row per coverage role and specialist overlay and plan: workload, capacity, required FTE, "
    "headcount and hiring gap.",
}

VIEW_DESCRIPTIONS: dict[str, str] = {
    **{
        f"latest_{name}": f"{name} of the plan in force only (the newest non-scenario plan); no plan_id needed."
        for name in TABLE_DESCRIPTIONS
    },
    "plan_history": "Every kept plan, newest first, with in_force marking the plan the latest_ views show.",
}

_PLAN_ID = "Id of the plan this row belongs to (plan_runs.plan_id): kind, as-of date and run id."

COLUMN_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "plan_runs": {
        "plan_id": "Id of the plan: kind (and scenario name), as-of date and the first 8 characters of the run id.",
        "kind": "yearly (full redesign), quarterly (territories kept, new accounts placed) or scenario (what-if).",
        "as_of_date": "Date of the latest data the plan was built on; plans in force are ordered by it.",
        "created_at": "When the plan was published (UTC, no time zone).",
        "dagster_run_id": "Dagster run that built the plan; open it in the Dagster UI for logs and lineage.",
        "code_version": "Version of the covplan code (git commit when available) that built the plan.",
        "config_hash": "Hash of the plan configuration used; equal hashes mean equal assumptions.",
        "company_target": "Company revenue goal of the plan in USD: the sum of all territory goals.",
        "input_row_counts": "JSON object: rows read per raw input table.",
        "model_metrics": "JSON object: quality metrics of the growth-potential model (backtest errors).",
        "territory_metrics": "JSON object: territory design metrics (balance, travel, accounts moved).",
        "scenario_name": "Name of the what-if scenario; empty for yearly and quarterly plans.",
        "config_overrides": "JSON object: configuration keys a scenario changed, with their values.",
        "goal_metrics": "JSON object: goal-setting metrics (method, target, growth over baseline).",
        "content_hashes": "JSON object: MD5 per table (account_plan, territories, territory_goals, coverage_summary) of the plan's rows sorted, without plan_id/run_id; equal hashes mean equal plan content.",
    },
    "account_plan": {
        "plan_id": _PLAN_ID,
        "run_id": "Dagster run that built the plan.",
        "account_id": "Account id from the CRM.",
        "account_name": "Account name from the CRM.",
        "industry": "Industry of the account.",
        "city": "City of the account's main site.",
        "state": "State of the account's main site.",
        "lat": "Latitude of the account's main site (degrees).",
        "lon": "Longitude of the account's main site (degrees).",
        "status": "CRM status of the account (e.g. customer, prospect).",
        "lifecycle": "Lifecycle stage derived from buying history (e.g. new, active, lapsed).",
        "parent_account_id": "Parent account in the CRM hierarchy; empty for a top-level account.",
        "revenue_t12m": "Revenue of the trailing 12 months before the as-of date, USD.",
        "gross_margin_t12m": "Gross margin of the trailing 12 months, USD.",
        "yoy_growth": "Revenue growth of the trailing 12 months over the 12 months before (ratio).",
        "size_bucket": "Size bucket by trailing revenue; drives the workload per account.",
        "expected_revenue_next_4q": "Predicted revenue of the next four quarters, USD (growth model).",
        "potential": "Estimated revenue potential of the account, USD.",
        "headroom": "Potential not yet captured: potential minus trailing revenue, USD.",
        "share_of_wallet": "Trailing revenue as a share of the potential (0-1).",
        "size_tier": "Segment by size (trailing revenue and potential).",
        "quadrant": "Segment by value today versus potential (the value/potential matrix).",
        "behaviour": "Segment by buying behaviour (e.g. central buying, price seeking).",
        "coverage_tier": "Coverage tier the rules assigned (config coverage_tiers), e.g. key, core, digital.",
        "coverage_role": "Sales role that covers the account in this tier (field, inside, digital...).",
        "coverage_reason": "Why the account got its coverage tier: the rule that matched.",
        "reason_codes": "Short codes of the facts behind the segment and coverage choice.",
        "specialist_overlay": "Specialist overlay on top of the coverage tier, from the most advanced open opportunity.",
        "specialist_reason": "Why the specialist overlay was given.",
        "override_field": "Field a manual override changed; empty when none.",
        "original_value": "Value the override replaced; empty when none.",
        "override_reason": "Reason given for the manual override; empty when none.",
        "override_author": "Who made the manual override; empty when none.",
        "workload_hours": "Yearly hours of selling time the account needs in its coverage role.",
        "overlay_hours": "Yearly hours its specialist overlay spends on the account (config workload.overlays); "
        "0 without an overlay; not part of workload_hours.",
        "territory_id": "Territory the account is assigned to in this plan.",
        "owner_rep_id": "Rep who owns the account's territory in this plan; empty for a vacancy.",
        "current_owner_rep_id": "Rep who owns the account in the CRM today.",
        "previous_territory_id": "Territory of the account in the plan this one was built from; empty when new.",
        "changed": "True when the account moved from its previous territory.",
        "goal": "Revenue goal this plan sets for the account, USD: the whole year in a yearly plan, the "
        "remaining quarters in a quarterly one; sums to its territory's goal.",
        "goal_elapsed": "The account's share of its territory's elapsed quarters, kept from the plan that "
        "set them, USD; 0 in a yearly plan.",
        "goal_year": "goal + goal_elapsed: the account's goal for the whole fiscal year, USD; sums to the company target.",
    },
    "territories": {
        "plan_id": _PLAN_ID,
        "territory_id": "Territory id.",
        "role": "Sales role of the territory (field, inside, digital...).",
        "owner_rep_id": "Rep who owns the territory; empty for a vacancy (see coverage_summary.hiring_gap).",
        "accounts": "Accounts in the territory.",
        "workload_hours": "Sum of the accounts' yearly workload hours.",
        "revenue_t12m": "Sum of the accounts' trailing-12-month revenue, USD.",
        "potential": "Sum of the accounts' potential, USD.",
        "balance_deviation": "Deviation of the balanced measure from the role's mean (ratio; 0 = perfectly balanced).",
        "centre_lat": "Latitude of the territory's centre (degrees).",
        "centre_lon": "Longitude of the territory's centre (degrees).",
        "mean_travel_km": "Mean distance from the centre to the territory's accounts, km.",
        "max_travel_km": "Largest distance from the centre to one of its accounts, km.",
        "goal": "Revenue goal this plan sets for the territory, USD (whole year in a yearly plan, remaining "
        "quarters in a quarterly one): the sum of its accounts' goal.",
        "goal_elapsed": "Goal of the territory's elapsed quarters, kept from the plan that set them, USD.",
        "goal_year": "goal + goal_elapsed: the territory's goal for the whole fiscal year, USD.",
        "value_deviation": "Deviation of trailing revenue from the role's mean (ratio).",
        "potential_deviation": "Deviation of potential from the role's mean (ratio).",
        "accounts_deviation": "Deviation of the account count from the role's mean (ratio).",
        "total_travel_km": "Sum of the distances from the centre to every account, km.",
        "diameter_km": "Largest distance between two accounts of the territory, km.",
        "accounts_moved": "Accounts that moved into the territory from another one in this plan.",
        "value_moved": "Trailing revenue of the accounts moved in, USD.",
        "locked_accounts": "Accounts kept in place by a lock (override or quarterly plan).",
    },
    "territory_goals": {
        "plan_id": _PLAN_ID,
        "territory_id": "Territory id.",
        "fiscal_year": "Fiscal year of the quarter.",
        "fiscal_quarter": "Fiscal quarter (1-4).",
        "quarter_start": "First day of the quarter.",
        "goal": "Revenue goal of the territory for the quarter, USD.",
        "set_in_plan_id": "Plan that set this goal: an elapsed quarter keeps the goal of the plan that set it.",
    },
    "coverage_summary": {
        "plan_id": _PLAN_ID,
        "role": "Sales role (field, inside, digital...).",
        "accounts": "Accounts covered by the role.",
        "workload_hours": "Yearly workload hours of those accounts.",
        "capacity_hours_per_rep": "Yearly selling hours one rep of the role has (config workload).",
        "required_fte": "Workload divided by capacity: the reps the role needs.",
        "headcount": "Territories (reps) planned for the role.",
        "reps_on_staff": "Reps of the role on staff today; for overlay rows, the reps with role specialist shared out in proportion to headcount.",
        "hiring_gap": "Headcount minus reps on staff: reps to hire (negative: surplus).",
        "kind": "coverage_role (territories are built for it) or specialist_overlay (specialists who "
        "support accounts across territories: accounts, hours and headcount of the overlay).",
    },
}

PLAN_HISTORY_COLUMNS: dict[str, str] = {
    **{
        c: COLUMN_DESCRIPTIONS["plan_runs"][c]
        for c in (
            "plan_id",
            "kind",
            "scenario_name",
            "as_of_date",
            "created_at",
            "dagster_run_id",
            "code_version",
            "config_hash",
            "company_target",
        )
    },
    "in_force": "True for the plan the latest_ views show.",
}


def table_comment(name: str) -> str:
    """The comment written on a published table or view: its description and the schema version."""
    text = TABLE_DESCRIPTIONS.get(name) or VIEW_DESCRIPTIONS[name]
    return f"{text} (covplan published schema v{SCHEMA_VERSION})"


def column_descriptions(name: str) -> dict[str, str]:
    """Column → description of a published table, `latest_` view or plan_history."""
    if name == "plan_history":
        return PLAN_HISTORY_COLUMNS
    return COLUMN_DESCRIPTIONS[name.removeprefix("latest_")]
