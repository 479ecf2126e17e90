"""Compare two published plans: territories, moved accounts, goals and headcount, as plain frames."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Comparison:
    plan_a: str
    plan_b: str
    summary: pd.DataFrame  # measure, plan_a, plan_b, change
    territories: pd.DataFrame  # territory_id, status, role, accounts/workload/goal/owner per plan, changes
    moved_accounts: pd.DataFrame  # account_id, territory_a, territory_b, goal_a, goal_b
    goals: pd.DataFrame  # territory_id, quarter_start, goal_a, goal_b, change
    headcount: pd.DataFrame  # role, headcount_a, headcount_b, change, required_fte_a, required_fte_b

    def sections(self) -> dict[str, pd.DataFrame]:
        return {
            "summary": self.summary,
            "territories": self.territories,
            "moved_accounts": self.moved_accounts,
            "goals": self.goals,
            "headcount": self.headcount,
        }


def _num(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    for c in cols:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return df


def _year_goals(frame: pd.DataFrame) -> pd.DataFrame:
    """`goal` as the plan year's goal (`goal_year`), so a yearly and a quarterly plan compare like for
    like. Rows published before `goal_year` existed have it empty; their `goal` was the year's."""
    if "goal_year" not in frame:
        return frame
    return frame.assign(goal=frame["goal_year"].fillna(frame["goal"]))


def compare_plans(
    plan_a: str, a: dict[str, pd.DataFrame], plan_b: str, b: dict[str, pd.DataFrame]
) -> Comparison:
    """`a`, `b`: the published tables account_plan, territories, territory_goals, coverage_summary of
    each plan. Rows only in one plan show with the other side empty; changes are B − A."""
    keep = ["territory_id", "role", "owner_rep_id", "accounts", "workload_hours", "goal"]
    terr = _year_goals(a["territories"])[keep].merge(
        _year_goals(b["territories"])[keep],
        on="territory_id",
        how="outer",
        suffixes=("_a", "_b"),
        indicator=True,
    )
    terr = _num(
        terr, ["accounts_a", "accounts_b", "workload_hours_a", "workload_hours_b", "goal_a", "goal_b"]
    )
    terr["status"] = terr["_merge"].map(
        {"left_only": "only in A", "right_only": "only in B", "both": "in both"}
    )
    terr["role"] = terr["role_a"].fillna(terr["role_b"])
    terr["accounts_change"] = terr["accounts_b"].fillna(0) - terr["accounts_a"].fillna(0)
    terr["workload_change"] = terr["workload_hours_b"].fillna(0) - terr["workload_hours_a"].fillna(0)
    terr["goal_change"] = terr["goal_b"].fillna(0) - terr["goal_a"].fillna(0)
    terr = terr[
        [
            "territory_id",
            "status",
            "role",
            "owner_rep_id_a",
            "owner_rep_id_b",
            "accounts_a",
            "accounts_b",
            "accounts_change",
            "workload_hours_a",
            "workload_hours_b",
            "workload_change",
            "goal_a",
            "goal_b",
            "goal_change",
        ]
    ].sort_values("territory_id", ignore_index=True)

    acc = _year_goals(a["account_plan"])[["account_id", "territory_id", "goal"]].merge(
        _year_goals(b["account_plan"])[["account_id", "territory_id", "goal"]],
        on="account_id",
        how="outer",
        suffixes=("_a", "_b"),
    )
    acc = _num(acc, ["goal_a", "goal_b"])
    moved = acc[acc["territory_id_a"].fillna("") != acc["territory_id_b"].fillna("")]
    moved = moved.rename(columns={"territory_id_a": "territory_a", "territory_id_b": "territory_b"})
    moved = moved.sort_values("account_id", ignore_index=True)

    gcols = ["territory_id", "quarter_start", "goal"]
    goals = a["territory_goals"][gcols].merge(
        b["territory_goals"][gcols], on=["territory_id", "quarter_start"], how="outer", suffixes=("_a", "_b")
    )
    goals = _num(goals, ["goal_a", "goal_b"])
    goals["change"] = goals["goal_b"].fillna(0) - goals["goal_a"].fillna(0)
    goals = goals.sort_values(["territory_id", "quarter_start"], ignore_index=True)

    hcols = ["role", "headcount", "required_fte"]
    heads = a["coverage_summary"][hcols].merge(
        b["coverage_summary"][hcols], on="role", how="outer", suffixes=("_a", "_b")
    )
    heads = _num(heads, ["headcount_a", "headcount_b", "required_fte_a", "required_fte_b"])
    heads["change"] = heads["headcount_b"].fillna(0) - heads["headcount_a"].fillna(0)
    heads = heads[["role", "headcount_a", "headcount_b", "change", "required_fte_a", "required_fte_b"]]
    heads = heads.sort_values("role", ignore_index=True)

    def row(measure: str, va: float, vb: float) -> dict:
        return {"measure": measure, "plan_a": va, "plan_b": vb, "change": vb - va}

    summary = pd.DataFrame(
        [
            row("accounts", len(a["account_plan"]), len(b["account_plan"])),
            row("territories", len(a["territories"]), len(b["territories"])),
            row("accounts moved", 0, len(moved)),
            row("total goal", goals["goal_a"].sum(), goals["goal_b"].sum()),
            row("headcount", heads["headcount_a"].sum(), heads["headcount_b"].sum()),
        ]
    )
    return Comparison(plan_a, plan_b, summary, terr, moved, goals, heads)


def to_markdown(cmp: Comparison, rows: int = 20) -> str:
    """A readable report: every section, long ones cut to their first `rows` rows (the CSVs have all)."""
    parts = [f"# Plan comparison\n\nA = `{cmp.plan_a}`, B = `{cmp.plan_b}`; changes are B − A.\n"]
    for name, df in cmp.sections().items():
        shown = df.head(rows)
        note = f"\n\n_{len(df) - rows:,} more rows in {name}.csv_" if len(df) > rows else ""
        body = shown.to_markdown(index=False, floatfmt=",.2f") if len(df) else "_none_"
        parts.append(f"## {name.replace('_', ' ')} ({len(df):,})\n\n{body}{note}\n")
    return "\n".join(parts)
