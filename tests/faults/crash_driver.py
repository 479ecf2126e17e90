"""Kill the publish step with SIGKILL at seeded random moments and record what a reader then finds.

Run as `crash_driver.py WAREHOUSE OUT TRIALS SEED`: imports the publisher once, publishes a first plan,
then per trial forks a child that publishes a new plan and SIGKILLs it after a random delay (0 to 1.3×
the measured publish time), and opens the published file read-only to record the plan in force, its
row counts and content hashes, and the leftover temp files. Prints one JSON object per line; the test
asserts on them. Forking after the import keeps a trial at the cost of the publish itself.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from pathlib import Path

import duckdb
import standin


def observe(out: Path) -> dict:
    """What a BI reader finds now: plan in force, its row counts and hashes; or the error opening it."""
    try:
        con = duckdb.connect(str(out / "plan.duckdb"), read_only=True)
    except duckdb.Error as exc:
        return {"error": str(exc).splitlines()[0]}
    try:
        in_force, hashes = con.execute("select plan_id, content_hashes from latest_plan_runs").fetchall()[0]
        counts = {
            t: con.execute(f'select count(*) from "latest_{t}"').fetchall()[0][0]
            for t in ("account_plan", "territories", "territory_goals", "coverage_summary")
        }
        ids = con.execute("select list(distinct plan_id) from latest_account_plan").fetchall()[0][0]
        plans = [r[0] for r in con.execute("select plan_id from plan_runs order by created_at").fetchall()]
        parquet = {
            t: con.execute(
                f"select count(*), list(distinct plan_id) from read_parquet({standin.pub.sql_literal(out / 'parquet' / (t + '.parquet'))})"
            ).fetchall()[0]
            for t in ("account_plan", "plan_runs", "territories", "territory_goals", "coverage_summary")
        }
    except duckdb.Error as exc:
        return {"error": str(exc).splitlines()[0]}
    finally:
        con.close()
    return {
        "in_force": in_force,
        "hashes": json.loads(hashes),
        "counts": counts,
        "ids": ids,
        "plans": plans,
        "parquet": parquet,
    }


def leftovers(out: Path) -> list[str]:
    return sorted(
        p.name for p in out.iterdir() if p.name.startswith(".plan.duckdb.tmp-") or p.suffix == ".wal"
    )


def parquet_folders(out: Path) -> int:
    return len(list(out.glob(standin.pub.PARQUET_VERSION_PREFIX + "*")))


def publish_in_child(warehouse: Path, out: Path, plan_id: str) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            standin.publish(warehouse, out, plan_id)
        finally:
            os._exit(0)
    return pid


def main(warehouse: Path, out: Path, trials: int, seed: int) -> None:
    rng = random.Random(seed)
    started = time.perf_counter()
    os.waitpid(publish_in_child(warehouse, out, "base"), 0)
    took = time.perf_counter() - started
    print(json.dumps({"trial": "base", "seconds": took, **observe(out)}), flush=True)
    for i in range(trials):
        delay = rng.uniform(0, 1.3 * took)
        pid = publish_in_child(warehouse, out, f"k{i:02d}")
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status)
        print(
            json.dumps(
                {
                    "trial": f"k{i:02d}",
                    "delay": delay,
                    "killed": killed,
                    "leftovers": leftovers(out),
                    "parquet_folders": parquet_folders(out),
                    **observe(out),
                }
            ),
            flush=True,
        )
    os.waitpid(publish_in_child(warehouse, out, "rerun"), 0)
    rerun = {"trial": "rerun", "leftovers": leftovers(out), "parquet_folders": parquet_folders(out)}
    print(json.dumps({**rerun, **observe(out)}), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
