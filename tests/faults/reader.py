"""A BI reader hammering the published DuckDB file while plans are published:
`reader.py OUT STOP RESULT ACCOUNTS fresh|held`.

`fresh` opens a new read-only connection per iteration; `held` keeps one connection from the start
(the two run in separate processes: DuckDB shares one database instance per file within a process, so
a held connection would make every later connect see its old snapshot). Each iteration asks, in ONE
query (one snapshot), for the plan in force from `latest_plan_runs` and the plan ids and row count of
`latest_account_plan` and `latest_territories`. Any error, or an answer whose rows belong to another
plan than plan_runs names (or are incomplete), is recorded. Stops when the STOP file appears and
writes a JSON summary to RESULT.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

SNAPSHOT = """
    select (select plan_id from latest_plan_runs) as in_force,
           (select list(distinct plan_id order by plan_id) from latest_account_plan) as account_ids,
           (select count(*) from latest_account_plan) as accounts,
           (select list(distinct plan_id order by plan_id) from latest_territories) as territory_ids
"""


def check(con: duckdb.DuckDBPyConnection, expected_accounts: int) -> tuple[str, str | None]:
    """(plan in force, problem or None) of one snapshot query."""
    in_force, account_ids, accounts, territory_ids = con.execute(SNAPSHOT).fetchall()[0]
    if account_ids != [in_force] or territory_ids != [in_force] or accounts != expected_accounts:
        return (
            in_force,
            f"mix: in force {in_force}, accounts of {account_ids} ({accounts}), territories of {territory_ids}",
        )
    return in_force, None


def main(out: Path, stop: Path, result: Path, expected_accounts: int, mode: str) -> None:
    path = str(out / "plan.duckdb")
    held = duckdb.connect(path, read_only=True) if mode == "held" else None
    iterations, errors, problems, seen = 0, [], [], set()
    while not stop.exists():
        iterations += 1
        try:
            con = held or duckdb.connect(path, read_only=True)
            try:
                plan, problem = check(con, expected_accounts)
            finally:
                if held is None:
                    con.close()
            seen.add(plan)
            if problem:
                problems.append(problem)
        except duckdb.Error as exc:
            errors.append(str(exc).splitlines()[0])
        time.sleep(0.005)
    if held is not None:
        held.close()
    summary = {
        "iterations": iterations,
        "errors": errors[:20],
        "n_errors": len(errors),
        "problems": problems[:20],
        "seen": sorted(seen),
    }
    result.write_text(json.dumps(summary))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
