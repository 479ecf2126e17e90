"""Benchmark: the growth-model stage alone (features → BG/NBD baseline → backtest → scores), old vs new.

    uv run covplan plan --out /tmp/growth-1x                       # once: a warehouse to read
    uv run python benchmarks/growth.py /tmp/growth-1x/warehouse.duckdb
    uv run python benchmarks/growth.py WAREHOUSE --only new --profile /tmp/new.prof   # cProfile one side
    uv run python benchmarks/growth.py WAREHOUSE --marts-parquet DIR   # new side on Spark-layout Parquet

"old" is the stage as it stands at git ref `--baseline-ref` (default main): ml/growth.py and
ml/backtest.py of that ref are loaded from git into a throw-away package and driven the way that ref's
asset drove them. "new" is `ml.stage.run_growth_stage` of the working tree, which the asset calls. Both
run in this process on the same warehouse (opened read-only), one after the other; per step the wall
seconds, CPU seconds and peak RSS (the kernel's high-water mark, reset before each side) are printed,
then the new/old ratios and both sides' backtest metrics (the accuracy the speed must not cost).
The machine is shared: compare the ratios and CPU seconds, not the absolute wall seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib
import os
import pstats
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import duckdb  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ml.stage import (  # noqa: E402
    DAILY_TRANSACTIONS_SQL,
    FEATURES_SQL,
    HISTORY_START_SQL,
    StepTimer,
    stage_sql,
)
from planning.config import PlanConfig, load_config  # noqa: E402

METRIC_KEYS = ("mae", "rmse", "spearman", "top_decile_capture", "bias")


def rss_reset() -> None:
    """Reset the kernel's peak-RSS mark of this process (Linux ≥ 4.0), so each side reports its own."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def rss_peak_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def load_baseline(ref: str) -> types.ModuleType:
    """ml/growth.py and ml/backtest.py at `ref` as the package `ml_baseline` (imports rewritten)."""
    pkg_dir = Path(tempfile.mkdtemp(prefix="growth-baseline-")) / "ml_baseline"
    pkg_dir.mkdir()
    (pkg_dir / "__init__.py").write_text("")
    for name in ("growth", "backtest"):
        text = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{ref}:ml/{name}.py"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (pkg_dir / f"{name}.py").write_text(text.replace("from ml.", "from ml_baseline."))
    sys.path.insert(0, str(pkg_dir.parent))
    return importlib.import_module("ml_baseline")


def run_old(con: duckdb.DuckDBPyConnection, cfg: PlanConfig, ref: str) -> tuple[dict, dict]:
    """The stage as the baseline ref's asset ran it (pandas `.df()` read, per-cutoff fits on all rows)."""
    load_baseline(ref)
    growth = importlib.import_module("ml_baseline.growth")
    backtest = importlib.import_module("ml_baseline.backtest")
    gm = cfg.growth_model
    timer = StepTimer()
    with timer.step("read_features"):
        features = con.execute(stage_sql(FEATURES_SQL, con, None)).df()
        history_start = con.execute(stage_sql(HISTORY_START_SQL, con, None)).fetchall()[0][0]
    labelled = sorted(features.loc[features["label_revenue_next_4q"].notna(), "cutoff_date"].unique())
    with timer.step("bgnbd_inputs_sql"):
        con.execute(stage_sql(DAILY_TRANSACTIONS_SQL, con, None))
        backtest.daily_totals(con)
        rfm = backtest.rfm_summary(con, [pd.Timestamp(c).date() for c in labelled])
    with timer.step("bgnbd_fit"):
        bgnbd, _ = backtest.bgnbd_predictions(rfm, round(365.25 * gm.horizon_quarters / 4))
    old_cfg = growth.GrowthModelConfig(
        **{k: v for k, v in gm.model_dump().items() if k in growth.GrowthModelConfig.model_fields}
    )
    with timer.step("train_and_score"):
        result = growth.train_and_score(
            features, old_cfg, seed=cfg.seed, config_hash=cfg.config_hash(), history_start=history_start,
            bgnbd=bgnbd,
        )  # fmt: skip
    return timer.steps, result.metrics


def run_new(con: duckdb.DuckDBPyConnection, cfg: PlanConfig, marts_parquet: str | None) -> tuple[dict, dict]:
    from ml.stage import run_growth_stage
    from planning.marts import ParquetTables

    out = run_growth_stage(con, cfg, ParquetTables(Path(marts_parquet)) if marts_parquet else None)
    return out.steps, out.result.metrics


def side(name: str, fn, profile: str | None) -> tuple[dict, dict, float, float, float]:
    rss_reset()
    wall, cpu = time.perf_counter(), time.process_time()
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    steps, metrics = fn()
    if prof:
        prof.disable()
        prof.dump_stats(profile)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
    total_wall, total_cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = rss_peak_gib()
    print(f"\n{name}: {total_wall:.1f} s wall, {total_cpu:.1f} CPU s, peak RSS {peak:.2f} GiB")
    for step, t in steps.items():
        print(f"  {step:<28} {t['seconds']:>8.2f} s  {t['cpu_seconds']:>8.2f} CPU s")
    return steps, metrics, total_wall, total_cpu, peak


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("warehouse", help="a warehouse.duckdb built by `covplan plan`")
    parser.add_argument("--config", default=str(ROOT / "config" / "plan.yaml"))
    parser.add_argument("--baseline-ref", default="main", help="git ref of the old stage (default main)")
    parser.add_argument("--only", choices=("old", "new"), help="run one side only")
    parser.add_argument(
        "--marts-parquet",
        help="new side reads the dbt tables from this Parquet warehouse dir (<schema>.db/<table>/), "
        "as with COVPLAN_MARTS_PARQUET_DIR",
    )
    parser.add_argument("--profile", help="write a cProfile of the side(s) run to this path (+ .old/.new)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="growth_model override for the new side, e.g. max_training_rows=0")  # fmt: skip
    args = parser.parse_args()
    overrides: dict = {}
    for item in args.set:
        key, value = item.split("=", 1)
        overrides.setdefault("growth_model", {})[key] = _literal(value)
    cfg = load_config(args.config, overrides=overrides or None)
    con = duckdb.connect(args.warehouse, read_only=True)
    con.execute("set threads = 2")
    n_accounts = con.execute("select count(*) from marts.dim_accounts").fetchall()[0][0]
    print(f"warehouse {args.warehouse}: {n_accounts:,} accounts; load {os.getloadavg()[0]:.1f}")
    results = {}
    for name in ("old", "new"):
        if args.only and args.only != name:
            continue
        profile = f"{args.profile}.{name}" if args.profile else None
        fn = (
            (lambda: run_old(con, cfg, args.baseline_ref))
            if name == "old"
            else (lambda: run_new(con, cfg, args.marts_parquet))
        )
        results[name] = side(name, fn, profile)
    print(f"load at the end {os.getloadavg()[0]:.1f}")
    if len(results) == 2:
        (_, _, w_old, c_old, p_old), (_, _, w_new, c_new, p_new) = results["old"], results["new"]
        print(f"\nnew / old: wall {w_new / w_old:.3f}, CPU {c_new / c_old:.3f}, peak RSS {p_new / p_old:.3f}")
    print("\nbacktest metrics (mean over model origins):")
    print(f"  {'predictor':<18} {'side':<4} " + " ".join(f"{k:>18}" for k in METRIC_KEYS))
    for predictor in ("model", "baseline_runrate", "baseline_bgnbd"):
        for name, (_, metrics, *_rest) in results.items():
            values = [metrics.get(f"{predictor}_{k}", float("nan")) for k in METRIC_KEYS]
            print(f"  {predictor:<18} {name:<4} " + " ".join(f"{v:>18,.4f}" for v in values))


def _literal(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


if __name__ == "__main__":
    main()
