"""dbt on a local Spark cluster versus DuckDB: the same models on the same demo raw tables, side by side.

    uv sync --extra spark
    uv run python benchmarks/spark.py                               # 1x and 5x (20,000 and 100,000 accounts)
    uv run python benchmarks/spark.py --sizes 0.1,1                 # 2,000 (the `small` demo) and 20,000
    uv run python benchmarks/spark.py --sizes 1 --base-accounts 5000 --command build

Per size: the demo raw tables are generated into DuckDB (benchmarks/warehouse.py's chunked generator,
not timed), exported as Parquet as the ingest does (timed), then one dbt invocation (`run`: every model;
`build`: + data and unit tests) on DuckDB and one on the cluster's Thrift server. The cluster (master,
worker, Thrift server: scripts/spark-cluster) starts once, before the first size; its start-up time is
printed apart as the fixed cost. Ratios: Spark / DuckDB per size, and each engine's time / its time at the
first size (how it grows). Everything lands in a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from warehouse import PeakRss, Run, build_raw  # noqa: E402

from orchestration.spark_cluster import SCRIPT, cluster_env, cluster_processes  # noqa: E402
from sources.demo import SIZES  # noqa: E402
from sources.raw_parquet import export_raw_parquet  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = ROOT / "dbt_project"
RAW_TABLES = ["accounts", "contacts", "reps", "opportunities", "transactions"]


def cluster(command: str, env: dict[str, str]) -> None:
    done = subprocess.run([str(SCRIPT), command], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"scripts/spark-cluster {command} failed:\n{done.stderr[-3000:]}")


def dbt(command: str, work: Path, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """One dbt invocation in-process; wall seconds and node seconds by kind (model, test, unit_test)."""
    from dbt.cli.main import dbtRunner

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    started = time.perf_counter()
    try:
        result = dbtRunner().invoke(
            [command, "--quiet", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
             "--target-path", str(work / "target"), "--log-path", str(work / "logs")]
        )  # fmt: skip
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"dbt {command} failed ({env.get('DBT_TARGET', 'dev')}): see {work / 'logs'}")
    by_kind: dict[str, float] = {}
    for r in json.loads((work / "target" / "run_results.json").read_text())["results"]:
        kind = r["unique_id"].split(".")[0]
        by_kind[kind] = by_kind.get(kind, 0.0) + r["execution_time"]
    return seconds, by_kind


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,5", help="comma-separated multiples of --base-accounts")
    parser.add_argument("--base-accounts", type=int, default=SIZES["default"], help="accounts at 1x")
    parser.add_argument("--command", choices=["run", "build"], default="run", help="dbt command timed")
    parser.add_argument("--threads", default="4", help="dbt threads on Spark (COVPLAN_SPARK_THREADS)")
    parser.add_argument("--work-dir", default="", help="scratch folder (default: a temp dir, removed)")
    args = parser.parse_args()
    sizes = [float(s) for s in args.sizes.split(",") if s.strip()]
    root = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="covplan_spark_bench_"))
    root.mkdir(parents=True, exist_ok=True)
    env = cluster_env(root / "cluster")
    rows = []
    try:
        started = time.perf_counter()
        cluster("up", env)
        startup = time.perf_counter() - started
        print(f"cluster up (master, worker, Thrift server): {startup:.1f} s", flush=True)
        for size in sizes:
            run = Run(scale=size, accounts=round(args.base_accounts * size))
            work = root / f"x{size:g}"
            work.mkdir(parents=True)
            warehouse = work / "warehouse.duckdb"
            build_raw(run, warehouse, SIZES["default"], PeakRss())
            started = time.perf_counter()
            with duckdb.connect(str(warehouse)) as con:
                export_raw_parquet(con, str(work / "raw"), RAW_TABLES)
            export_s = time.perf_counter() - started
            duck_s, duck_kinds = dbt(args.command, work / "duckdb", {"COVPLAN_WAREHOUSE": str(warehouse)})
            spark_env = {
                "DBT_TARGET": "spark",
                "COVPLAN_SPARK_PORT": env["COVPLAN_SPARK_PORT"],
                "COVPLAN_SPARK_RAW_LOCATION": str(work / "raw"),
                "COVPLAN_SPARK_THREADS": args.threads,
            }
            spark_s, spark_kinds = dbt(args.command, work / "spark", spark_env)
            rows.append((size, run.accounts, run.lines, export_s, duck_s, spark_s, duck_kinds, spark_kinds))
            print(
                f"{size:g}x ({run.accounts:,} accounts, {run.lines:,} lines): Parquet export {export_s:.1f} s, "
                f"dbt {args.command} DuckDB {duck_s:.1f} s, Spark {spark_s:.1f} s",
                flush=True,
            )
            warehouse.unlink()
    finally:
        cluster("down", env)
        if left := cluster_processes(Path(env["COVPLAN_SPARK_CLUSTER_DIR"])):
            print(f"warning: JVMs {left} of the benchmark's cluster still run; kill them", file=sys.stderr)
        if not args.work_dir:
            shutil.rmtree(root, ignore_errors=True)
    report(rows, args.command, startup)


def report(rows: list, command: str, startup: float) -> None:
    first = rows[0]
    print(
        f"\n## dbt {command}: DuckDB versus a local Spark cluster (cluster start-up {startup:.1f} s, not included)\n"
    )
    print("| size | accounts | lines | Parquet export s | DuckDB s | Spark s | Spark / DuckDB "
          "| DuckDB x first | Spark x first | Spark model s | Spark test s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size, accounts, lines, export_s, duck_s, spark_s, _, spark_kinds in rows:
        tests = spark_kinds.get("test", 0.0) + spark_kinds.get("unit_test", 0.0)
        print(
            f"| {size:g}x | {accounts:,} | {lines:,} | {export_s:.1f} | {duck_s:.1f} | {spark_s:.1f} "
            f"| {spark_s / duck_s:.1f} | {duck_s / first[4]:.2f} | {spark_s / first[5]:.2f} "
            f"| {spark_kinds.get('model', 0.0):.1f} | {tests:.1f} |"
        )


if __name__ == "__main__":
    main()
