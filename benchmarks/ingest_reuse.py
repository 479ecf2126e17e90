"""Ingest stage of a plan run, full load versus reuse of an unchanged source: the ingest asset plus the
raw quality suites (what a run executes before dbt), materialized twice on one temp warehouse.

    uv run python benchmarks/ingest_reuse.py --size 100000

The first run loads the demo in full (the baseline), the second finds the same fingerprint and reuses
the raw tables; printed: wall and CPU seconds of each and the ratio reuse / full.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import dagster as dg

from orchestration.assets import ingest
from orchestration.assets.quality import RAW_CHECKS
from orchestration.resources import PlanConfigResource, Warehouse
from planning.config import DEFAULT_CONFIG_PATH


def _run(folder: Path, size: int) -> tuple[float, float, bool]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = dg.materialize(
        [ingest.ingest_source, *RAW_CHECKS],
        resources={
            "warehouse": Warehouse(database=str(folder / "wh.duckdb")),
            "plan_config": PlanConfigResource(path=str(DEFAULT_CONFIG_PATH)),
        },
        run_config={"ops": {"ingest_source": {"config": {"size": str(size)}}}},
        raise_on_error=True,
    )
    (mat,) = [
        m
        for m in result.get_asset_materialization_events()
        if m.asset_key.to_user_string() == "raw_transactions"
    ]
    return (
        time.perf_counter() - wall,
        time.process_time() - cpu,
        bool(mat.materialization.metadata["reused"].value),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ingest_reuse_") as folder:
        full = _run(Path(folder), args.size)
        again = _run(Path(folder), args.size)
    assert not full[2] and again[2], "expected a full load, then a reuse"
    print(f"{args.size:,} accounts: ingest + raw suites")
    print(f"  full load  wall {full[0]:6.1f} s  cpu {full[1]:6.1f} s")
    print(
        f"  reuse      wall {again[0]:6.1f} s  cpu {again[1]:6.1f} s  x{again[0] / full[0]:.2f} of full (wall)"
    )


if __name__ == "__main__":
    main()
