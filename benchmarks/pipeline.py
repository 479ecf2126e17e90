"""Benchmark: the whole yearly plan (`covplan plan`) at 1x, 5x and 25x the default demo size.

    uv run python benchmarks/pipeline.py                      # 1x and 5x (20,000 and 100,000 accounts)
    uv run python benchmarks/pipeline.py --sizes 1,5,25       # adds 500,000 accounts / ~50M lines (long)
    uv run python benchmarks/pipeline.py --sizes 25 --quarterly   # plus the quarterly run at the largest size

Each size runs the real CLI in a subprocess (its own warehouse, published plan and Dagster home under
the work dir), so the figures include everything a user waits for. Per stage it prints the wall time
(from the CLI's stage lines) and the peak resident memory of the whole process tree (CLI + dbt),
sampled from /proc every 0.2 s; then the growth exponent of total time in transaction lines (slope of
a log-log least-squares fit: 1 = linear). Ratios are against the first size of this process, since
absolute seconds on a shared machine are noisy; the load average is printed with every run.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ACCOUNTS = 20_000

# CLI stage line -> benchmark stage (orchestration/progress.py STAGE_NAMES)
STAGES = {
    "source → raw tables": "ingest",
    "transactions suite": "quality",
    "dbt build": "dbt",
    "growth-potential model": "model",
    "segments and coverage tiers": "segments",
    "workload hours": "workload",
    "territory design": "territories",
    "territory goals": "goals",
    "plan tables": "publish",
}
DONE = re.compile(r"✔ done in ([0-9.]+) s")


@dataclass
class Stage:
    seconds: float = 0.0
    peak_rss: int = 0
    cpu_start: float = 0.0
    cpu_seconds: float = 0.0


@dataclass
class Run:
    label: str
    accounts: int
    kind: str
    lines: int = 0
    total: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss: int = 0
    load: str = ""
    stages: dict[str, Stage] = field(default_factory=dict)


def tree_usage(pid: int) -> tuple[int, float]:
    """Resident bytes and CPU seconds (user + system, including reaped children such as a finished
    dbt) of `pid` and all its descendants, from /proc. CPU time is what a busy shared machine does not
    distort much: wall time there depends on how many other jobs compete for the cores."""
    children: dict[int, list[int]] = {}
    usage: dict[int, tuple[int, float]] = {}
    page, tick = os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            ppid, pages = int(parts[1]), int(parts[21])
            cpu = sum(int(v) for v in parts[11:15]) / tick  # utime, stime, cutime, cstime
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        usage[int(entry)] = (pages * page, cpu)
    rss, cpu, todo = 0, 0.0, [pid]
    while todo:
        p = todo.pop()
        r, c = usage.get(p, (0, 0.0))
        rss, cpu = rss + r, cpu + c
        todo.extend(children.get(p, []))
    return rss, cpu


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_plan(run: Run, out: Path, log: Path, extra: list[str]) -> None:
    """One `covplan plan` run; fills per-stage wall time and peak RSS of the process tree."""
    cmd = [sys.executable, "-m", "orchestration.cli", "plan", "--size", str(run.accounts), "--kind", run.kind]
    cmd += ["--out", str(out), *extra]
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.setdefault("OMP_NUM_THREADS", "1")
    run.load = load_average()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    current: list[str | None] = [None]
    cpu_now = [0.0]
    with log.open("w") as sink:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )

        def follow() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                sink.write(line)
                sink.flush()
                if "▶" in line:
                    name = next((v for k, v in STAGES.items() if k in line), line.strip("▶ \n"))
                    run.stages.setdefault(name, Stage(cpu_start=cpu_now[0]))
                    current[0] = name
                elif (m := DONE.search(line)) and current[0]:
                    stage = run.stages[current[0]]
                    stage.seconds = float(m.group(1))
                    stage.cpu_seconds = cpu_now[0] - stage.cpu_start

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        while proc.poll() is None:
            rss, cpu = tree_usage(proc.pid)
            cpu_now[0] = max(cpu_now[0], cpu)
            run.peak_rss = max(run.peak_rss, rss)
            if current[0]:
                stage = run.stages[current[0]]
                stage.peak_rss = max(stage.peak_rss, rss)
            time.sleep(0.2)
        reader.join()
    run.total = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the whole reaped tree, exact
    run.cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"covplan plan failed at {run.label} ({run.kind}); see {log}")
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        run.lines = con.execute("select count(*) from raw.transactions").fetchall()[0][0]


def gib(n: int) -> str:
    return f"{n / 2**30:.2f}"


def growth_exponent(runs: list[Run], cpu: bool = False) -> float | None:
    """Least-squares slope of log(total seconds) on log(transaction lines) (wall or CPU seconds)."""
    pts = [
        (math.log(r.lines), math.log(r.cpu_seconds if cpu else r.total))
        for r in runs
        if r.lines > 0 and (r.cpu_seconds if cpu else r.total) > 0
    ]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else None


def report(runs: list[Run]) -> None:
    base = runs[0]
    print("\n## Per stage (x = ratio to the first run)\n")
    print("| run | stage | seconds | x time | CPU s | peak RSS GiB |")
    print("|---|---|---|---|---|---|")
    for r in runs:
        for name, s in r.stages.items():
            b = base.stages.get(name)
            ratio = f"{s.seconds / b.seconds:.1f}" if b and b.seconds > 0 else "-"
            print(
                f"| {r.label} | {name} | {s.seconds:.1f} | {ratio} | {s.cpu_seconds:.0f} | {gib(s.peak_rss)} |"
            )
    print("\n## Totals\n")
    print(
        "| run | accounts | lines | total s | x time | x lines | CPU s | peak RSS GiB | load (1, 5, 15 min) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(
            f"| {r.label} | {r.accounts:,} | {r.lines:,} | {r.total:.0f} | {r.total / base.total:.2f} | "
            f"{r.lines / base.lines:.2f} | {r.cpu_seconds:.0f} | {gib(r.peak_rss)} | {r.load} |"
        )
    yearly = [r for r in runs if r.kind == "yearly"]
    slope, slope_cpu = growth_exponent(yearly), growth_exponent(yearly, cpu=True)
    if slope is not None and slope_cpu is not None:
        print(
            f"\ngrowth exponent of total yearly-plan time in transaction lines: wall {slope:.2f}, "
            f"CPU {slope_cpu:.2f} (1 = linear)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,5", help="comma-separated multiples of the default demo size")
    parser.add_argument("--base-accounts", type=int, default=DEFAULT_ACCOUNTS, help="accounts at 1x")
    parser.add_argument(
        "--quarterly", action="store_true", help="also time a quarterly run at the largest size"
    )
    parser.add_argument(
        "--work-dir", default="/tmp/covplan_bench_pipeline", help="warehouses and logs go here"
    )
    parser.add_argument("--config", default="", help="plan config (default config/plan.yaml)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    extra = ["--config", args.config] if args.config else []
    print(
        f"machine: {os.cpu_count()} cores, {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.1f} GiB RAM"
    )
    runs: list[Run] = []
    for size in sizes:
        run = Run(label=f"{size}x yearly", accounts=args.base_accounts * size, kind="yearly")
        out = work / f"x{size}"
        print(f"{run.label}: {run.accounts:,} accounts (log {work / f'x{size}.log'}) ...", flush=True)
        run_plan(run, out, work / f"x{size}.log", extra)
        print(
            f"  {run.lines:,} lines, {run.total:.0f} s, peak {gib(run.peak_rss)} GiB, load {run.load}",
            flush=True,
        )
        runs.append(run)
    if args.quarterly:
        size = max(sizes)
        run = Run(label=f"{size}x quarterly", accounts=args.base_accounts * size, kind="quarterly")
        print(f"{run.label} ...", flush=True)
        run_plan(run, work / f"x{size}", work / f"x{size}-quarterly.log", extra)
        print(f"  {run.total:.0f} s, peak {gib(run.peak_rss)} GiB, load {run.load}", flush=True)
        runs.append(run)
    report(runs)


if __name__ == "__main__":
    main()
