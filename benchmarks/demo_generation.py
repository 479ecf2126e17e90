"""Demo ingest at scale: generating the demo company and landing its order lines in a DuckDB file.

    uv run python benchmarks/demo_generation.py --sizes 20000 100000 [--profile]

Per size, three ways run one after the other, each in its own process (so peak RSS is its own):
  generate  - build the company and draw every block of order lines, landing nothing (the floor);
  parquet   - the former ingest (the baseline): stream the lines to a zstd Parquet file, then
              `create table ... from read_parquet(...)` with the configured DuckDB threads;
  stream    - the ingest now: DuckDB pulls the blocks as an Arrow stream into raw.transactions with one
              thread (an insertion-ordered multi-threaded load writes every row group twice).
Printed per way: wall and CPU seconds of each step, peak RSS, the warehouse file size, and the ratio of
the total wall time to the parquet baseline of the same size. `--profile` adds the top cProfile entries
of the stream way. The machine is shared: compare ratios within one run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from orchestration.assets.ingest import land_demo_transactions
from sources.demo import DemoCompany

SEED, END, YEARS = 42, date(2026, 9, 30), 4
WAYS = ("generate", "parquet", "stream")


class Steps:
    """Wall and CPU seconds per named step."""

    def __init__(self) -> None:
        self.times: dict[str, tuple[float, float]] = {}

    def run(self, name: str, fn):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        self.times[name] = (time.perf_counter() - wall, time.process_time() - cpu)
        return out


def _one_way(way: str, size: int, folder: Path, profile: bool) -> dict:
    """Run one way in this process and return its figures."""
    steps = Steps()
    db = folder / f"{way}.duckdb"
    threads = os.cpu_count() or 1
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    company = steps.run("company", lambda: DemoCompany(size, seed=SEED, end_date=END, years=YEARS))
    if way == "generate":
        lines = steps.run("lines", lambda: sum(t.num_rows for t in company.transaction_tables()))
    elif way == "parquet":
        parquet = folder / "tx.parquet"
        lines = steps.run("lines_to_parquet", lambda: company.write_transactions(parquet))
        with duckdb.connect(str(db), config={"threads": threads}) as con:
            steps.run(
                "duckdb_from_parquet",
                lambda: con.execute(
                    "create schema raw; create table raw.transactions as select * exclude (file_row_number), "
                    "'demo' as _source, file_row_number + 1 as _row_number "
                    f"from read_parquet('{parquet}', file_row_number = true)"
                ),
            )
            steps.run("checkpoint", lambda: con.execute("checkpoint"))
        parquet.unlink()
    else:
        with duckdb.connect(str(db), config={"threads": threads}) as con:
            con.execute("create schema raw")
            lines = steps.run(
                "lines_to_duckdb",
                lambda: land_demo_transactions(con, company, "demo", END, "bench", threads),
            )
            steps.run("checkpoint", lambda: con.execute("checkpoint"))
    if profiler:
        profiler.disable()
    out = {
        "way": way,
        "size": size,
        "lines": int(lines),
        "steps": steps.times,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "file_mb": db.stat().st_size / 1e6 if db.exists() else 0.0,
    }
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
        out["profile"] = text.getvalue()
    return out


def _in_subprocess(way: str, size: int, profile: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="demo_bench_") as folder:
        args = [sys.executable, __file__, "--one", way, "--sizes", str(size), "--folder", folder]
        done = subprocess.run(args + (["--profile"] if profile else []), capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{way} at {size:,} failed:\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000])
    parser.add_argument("--ways", nargs="+", choices=WAYS, default=list(WAYS))
    parser.add_argument("--profile", action="store_true", help="cProfile the stream way")
    parser.add_argument("--one", choices=WAYS, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one_way(args.one, args.sizes[0], args.folder, args.profile)))
        return
    for size in args.sizes:
        results = [_in_subprocess(way, size, args.profile and way == "stream") for way in args.ways]
        base = next((r for r in results if r["way"] == "parquet"), None)
        base_wall = sum(w for w, _ in base["steps"].values()) if base else None
        print(f"\n{size:,} accounts, {results[0]['lines']:,} order lines")
        for r in results:
            wall = sum(w for w, _ in r["steps"].values())
            cpu = sum(c for _, c in r["steps"].values())
            detail = ", ".join(f"{k} {w:.1f}/{c:.1f}" for k, (w, c) in r["steps"].items())
            ratio = f"  x{wall / base_wall:.2f} of parquet" if base_wall else ""
            print(
                f"  {r['way']:<9} wall {wall:6.1f} s  cpu {cpu:6.1f} s  peak RSS {r['peak_rss_gib']:.2f} GiB  "
                f"file {r['file_mb']:.0f} MB{ratio}\n            steps (wall/cpu s): {detail}"
            )
            if r.get("profile"):
                print(r["profile"])


if __name__ == "__main__":
    main()
