"""Warehouse benchmark: generate demo raw tables, land them in DuckDB and run the dbt build, at several
multiples of the default demo size; print time and peak memory per stage with ratios against the 1x run.

    uv run python benchmarks/warehouse.py                   # 1x and 5x (20,000 and 100,000 accounts)
    uv run python benchmarks/warehouse.py --scales 1,5,25   # + 500,000 accounts (~50M order lines)

The demo generator builds a whole company in memory, so large sizes are generated in chunks of
`--chunk-accounts` accounts: one `generate_demo` call per chunk with its own seed, every id of chunk
k > 0 prefixed with `K<k>-` (products stay shared), appended to the raw tables. Peak memory is the
highest resident set size of this process sampled every 20 ms during the stage (dbt and DuckDB run
in-process), CPU seconds are this process's user + system time. Per-model timings come from dbt's
run_results.json. `--baseline-project DIR` also builds another copy of the dbt project (say main's) on
the same raw tables in the same session, to compare old and new on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from sources.demo import SIZES, generate_demo

ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = ROOT / "dbt_project"
END_DATE = date(2025, 12, 31)
SEED = 42

# Id columns per raw table that are renumbered (prefixed) per chunk so chunks never collide.
ID_COLUMNS = {
    "accounts": ["account_id", "parent_account_id", "owner_rep_id"],
    "contacts": ["contact_id", "account_id"],
    "reps": ["rep_id"],
    "opportunities": ["opportunity_id", "account_id"],
    "transactions": ["transaction_id", "order_id", "account_id", "site_id"],
}
DATE_COLUMNS = {
    "accounts": ["created_at"],
    "contacts": ["last_activity_date"],
    "opportunities": ["created_date", "close_date"],
    "transactions": ["order_date"],
}


class PeakRss:
    """Highest resident set size of this process between start() and stop(), sampled by a thread."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self.page

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            self._stop.wait(self.interval)

    def start(self) -> None:
        self.peak = self.rss()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> int:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, self.rss())
        return self.peak


@dataclass
class Stage:
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # user + system CPU of this process (dbt and DuckDB run in it)
    peak_rss: int = 0


@dataclass
class Run:
    scale: int
    accounts: int
    lines: int = 0
    stages: dict[str, Stage] = field(default_factory=dict)
    models: dict[str, float] = field(default_factory=dict)
    dbt_by_type: dict[str, float] = field(default_factory=dict)


@contextmanager
def stage(run: Run, name: str, sampler: PeakRss):
    """Time a stage (accumulating over repeated entries, e.g. one per chunk) and record its peak RSS."""
    sampler.start()
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        s = run.stages.setdefault(name, Stage())
        s.seconds += time.perf_counter() - started
        s.cpu_seconds += time.process_time() - cpu_started
        s.peak_rss = max(s.peak_rss, sampler.stop())


def prefixed(df: pd.DataFrame, table: str, chunk: int) -> pd.DataFrame:
    """Chunk k > 0: prefix every id column with `K<k>-` (nulls stay null)."""
    if chunk == 0:
        return df
    out = df.copy()
    for col in ID_COLUMNS[table]:
        out[col] = (f"K{chunk}-" + out[col].astype("object")).where(out[col].notna(), None)
    return out


def land(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame, first: bool) -> None:
    """Append a frame to raw.<table>, dates cast to DATE (the demo holds them as timestamps)."""
    dates = set(DATE_COLUMNS.get(table, []))
    cols = ", ".join(f'cast("{c}" as date) as "{c}"' if c in dates else f'"{c}"' for c in df.columns)
    con.register("incoming", df)
    if first:
        con.execute(f"create or replace table raw.{table} as select {cols} from incoming")
    else:
        con.execute(f"insert into raw.{table} by name select {cols} from incoming")
    con.unregister("incoming")


def build_raw(run: Run, warehouse: Path, chunk_accounts: int, sampler: PeakRss) -> None:
    """Generate the company chunk by chunk and append each chunk to the raw tables."""
    n_chunks = -(-run.accounts // chunk_accounts)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema if not exists raw")
        for chunk in range(n_chunks):
            size = min(chunk_accounts, run.accounts - chunk * chunk_accounts)
            with stage(run, "generate", sampler):
                demo = generate_demo(size, seed=SEED + chunk, end_date=END_DATE)
                tables = {t: prefixed(df, t, chunk) for t, df in demo.tables().items()}
                del demo
            with stage(run, "load raw", sampler):
                for table, df in tables.items():
                    land(con, table, df, first=chunk == 0)
                run.lines += len(tables["transactions"])
            del tables
        with stage(run, "load raw", sampler):
            con.execute("checkpoint")


def dbt_build(
    run: Run,
    warehouse: Path,
    work: Path,
    sampler: PeakRss,
    project: Path = DBT_DIR,
    name: str = "dbt build",
) -> None:
    """One `dbt build` (models, data tests, unit tests) in-process; per-node timings from run_results
    (recorded for the branch's own project only)."""
    from dbt.cli.main import dbtRunner

    os.environ["COVPLAN_WAREHOUSE"] = str(warehouse)
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    target = work / "target"
    with stage(run, name, sampler):
        result = dbtRunner().invoke(
            ["build", "--quiet", "--project-dir", str(project), "--profiles-dir", str(project),
             "--target-path", str(target), "--log-path", str(work / "logs")]
        )  # fmt: skip
    if not result.success:
        raise SystemExit(
            f"dbt build failed at scale {run.scale}x: {result.exception or 'see ' + str(work / 'logs')}"
        )
    if project != DBT_DIR:
        return
    results = json.loads((target / "run_results.json").read_text())["results"]
    for r in results:
        kind = r["unique_id"].split(".")[0]
        run.dbt_by_type[kind] = run.dbt_by_type.get(kind, 0.0) + r["execution_time"]
        if kind == "model":
            run.models[r["unique_id"].split(".")[-1]] = r["execution_time"]


def fmt_bytes(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def report(runs: list[Run], top: int) -> None:
    base = runs[0]
    print("\n## Stages (ratio = this run / the first run in this process)\n")
    print("| scale | accounts | lines | stage | seconds | x time | CPU s | x CPU | peak RSS | x RSS |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        for name, s in r.stages.items():
            b = base.stages[name]
            print(
                f"| {r.scale}x | {r.accounts:,} | {r.lines:,} | {name} | {s.seconds:.1f} | "
                f"{s.seconds / b.seconds:.2f} | {s.cpu_seconds:.1f} | {s.cpu_seconds / b.cpu_seconds:.2f} | "
                f"{fmt_bytes(s.peak_rss)} | {s.peak_rss / b.peak_rss:.2f} |"
            )
    print("\n## dbt node time by kind (seconds, summed over nodes; threads: 1)\n")
    kinds = sorted({k for r in runs for k in r.dbt_by_type})
    print("| scale | " + " | ".join(kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for r in runs:
        print(f"| {r.scale}x | " + " | ".join(f"{r.dbt_by_type.get(k, 0):.1f}" for k in kinds) + " |")
    last = runs[-1]
    print(f"\n## Slowest models at {last.scale}x (seconds; x = vs {base.scale}x)\n")
    print("| model | seconds | x time |")
    print("|---|---|---|")
    for name, secs in sorted(last.models.items(), key=lambda kv: -kv[1])[:top]:
        b = base.models.get(name) or float("nan")
        print(f"| {name} | {secs:.2f} | {secs / b:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scales", default="1,5", help="comma-separated multiples of the default demo size")
    parser.add_argument("--base-accounts", type=int, default=SIZES["default"], help="accounts at 1x")
    parser.add_argument(
        "--chunk-accounts", type=int, default=SIZES["default"], help="accounts per generator call"
    )
    parser.add_argument("--work-dir", default="", help="where warehouses go (default: a temp dir, removed)")
    parser.add_argument("--keep", action="store_true", help="keep the warehouses")
    parser.add_argument("--top", type=int, default=10, help="slowest models to list")
    parser.add_argument(
        "--baseline-project",
        default="",
        help="another dbt project dir (e.g. main's, from `git archive main dbt_project`): built first on a "
        "copy of the same raw tables, as stage 'dbt build (baseline)', so old and new share a session",
    )
    args = parser.parse_args()
    scales = [int(s) for s in args.scales.split(",") if s.strip()]
    root = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="covplan_bench_"))
    root.mkdir(parents=True, exist_ok=True)
    sampler = PeakRss()
    runs: list[Run] = []
    try:
        for scale in scales:
            run = Run(scale=scale, accounts=args.base_accounts * scale)
            work = root / f"x{scale}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            warehouse = work / "warehouse.duckdb"
            print(f"{scale}x: {run.accounts:,} accounts ...", flush=True)
            build_raw(run, warehouse, args.chunk_accounts, sampler)
            print(f"  raw: {run.lines:,} lines, {fmt_bytes(warehouse.stat().st_size)} on disk", flush=True)
            if args.baseline_project:
                base_work = work / "baseline"
                base_work.mkdir()
                shutil.copy(warehouse, base_work / "warehouse.duckdb")
                baseline = Path(args.baseline_project).resolve()
                dbt_build(
                    run, base_work / "warehouse.duckdb", base_work, sampler, baseline, "dbt build (baseline)"
                )
                shutil.rmtree(base_work)
            dbt_build(run, warehouse, work, sampler)
            total = sum(s.seconds for s in run.stages.values())
            print(f"  done in {total:.1f} s (dbt build {run.stages['dbt build'].seconds:.1f} s)", flush=True)
            runs.append(run)
            if not args.keep:
                warehouse.unlink(missing_ok=True)
        report(runs, args.top)
    finally:
        if not args.keep and not args.work_dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
