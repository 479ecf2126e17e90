"""Benchmark: the BG/NBD + Gamma-Gamma baseline (`ml.backtest.bgnbd_predictions`) alone, old vs new.

    uv run covplan plan --out /tmp/growth-1x                        # once: a warehouse to read
    uv run python benchmarks/bgnbd.py /tmp/growth-1x/warehouse.duckdb [--rounds 2] [--baseline-ref main]

The inputs are built as the growth stage builds them (ml.stage: staging transactions → daily totals →
RFM per labelled cut-off, warehouse opened read-only), and both sides fit with the configured
`growth_model.bgnbd_sample_rows` and `seed`. "old" is ml/backtest.py (with its ml/growth.py) at `--baseline-ref`
loaded from git (benchmarks/growth.py's load_baseline), "new" the working tree's. The sides alternate (old, new, old, new, ...) in this
process; printed are each side's best wall and CPU seconds, the new/old ratios, the cut-offs each side
left out, and the largest difference of the predictions at the cut-offs both sides fitted (0 when the
new code keeps every fit that converged before). The machine is shared: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import types
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ml import backtest as new_backtest  # noqa: E402
from ml.stage import bgnbd_inputs, labelled_cutoffs  # noqa: E402
from planning.config import load_config  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from growth import load_baseline  # noqa: E402  (ml/growth.py and ml/backtest.py at a git ref)


def rfm_inputs(warehouse: str) -> pd.DataFrame:
    """The RFM frame of every labelled cut-off, as ml.stage.run_growth_stage builds it."""
    con = duckdb.connect(warehouse, read_only=True)
    try:
        return bgnbd_inputs(con, labelled_cutoffs(con))
    finally:
        con.close()


def timed(module: types.ModuleType, rfm: pd.DataFrame, horizon: int, sample_rows: int, seed: int):
    wall, cpu = time.perf_counter(), time.process_time()
    out, failed = module.bgnbd_predictions(rfm, horizon, sample_rows=sample_rows, seed=seed)
    return time.perf_counter() - wall, time.process_time() - cpu, out, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse")
    parser.add_argument("--baseline-ref", default="main")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    cfg = load_config()
    gm = cfg.growth_model
    horizon = round(365.25 * gm.horizon_quarters / 4)
    rfm = rfm_inputs(args.warehouse)
    print(f"{rfm['account_id'].nunique():,} accounts, {rfm['cutoff_date'].nunique()} cut-offs, "
          f"{len(rfm):,} rows; sample {gm.bgnbd_sample_rows:,}, seed {cfg.seed}")  # fmt: skip
    load_baseline(args.baseline_ref)
    sides = {"old": importlib.import_module("ml_baseline.backtest"), "new": new_backtest}
    best: dict[str, tuple[float, float]] = {}
    results = {}
    for _ in range(args.rounds):
        for name, module in sides.items():
            wall, cpu, out, failed = timed(module, rfm, horizon, gm.bgnbd_sample_rows, cfg.seed)
            w, c = best.get(name, (np.inf, np.inf))
            best[name] = (min(w, wall), min(c, cpu))
            results[name] = (out, failed)
    for name in sides:
        out, failed = results[name]
        print(f"{name}: best wall {best[name][0]:.2f} s, CPU {best[name][1]:.2f} s; "
              f"{out['cutoff_date'].nunique()} cut-offs fitted, left out: {sorted(failed) or 'none'}")  # fmt: skip
        for cutoff, why in sorted(failed.items()):
            print(f"    {cutoff}: {why}")
    print(f"new/old: wall {best['new'][0] / best['old'][0]:.2f}, CPU {best['new'][1] / best['old'][1]:.2f}")
    old, new = results["old"][0], results["new"][0]
    both = old.merge(new, on=["account_id", "cutoff_date"], suffixes=("_old", "_new"))
    diff = np.abs(both["predicted_value_new"] - both["predicted_value_old"]).max() if len(both) else 0.0
    print(
        f"largest |new - old| prediction at the {both['cutoff_date'].nunique()} cut-offs both fitted: {diff}"
    )
    totals = new.groupby("cutoff_date")["predicted_value"].sum()
    print("new predicted total per cut-off:")
    print(totals.map("{:,.0f}".format).to_string())


if __name__ == "__main__":
    main()
