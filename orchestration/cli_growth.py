"""`covplan growth backtest`: the growth model and its baselines on any transaction file.

    covplan growth backtest --transactions FILE --cutoff YYYY-MM-DD --horizon-days N --out FILE

Reads CSV or Parquet with account_id, order_date, amount (order_id optional), uses only lines dated
before the cut-off to train and predict, writes account_id, predicted_value (CSV or Parquet by the
suffix of --out) and prints MAE, RMSE, Spearman, top-decile capture and bias of the model and the
baselines against the actual revenue of the N days from the cut-off.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    growth = subparsers.add_parser("growth", help="growth model tools (backtest on a transaction file)")
    sub = growth.add_subparsers(dest="growth_command", required=True)
    bt = sub.add_parser(
        "backtest",
        help="train on history before a cut-off, predict the next N days, compare with baselines",
    )
    bt.add_argument(
        "--transactions", type=Path, required=True, help="CSV/Parquet: account_id, order_date, amount"
    )
    bt.add_argument(
        "--cutoff", type=date.fromisoformat, required=True, help="first day not seen (YYYY-MM-DD)"
    )
    bt.add_argument("--horizon-days", type=int, required=True, help="days after the cut-off to predict")
    bt.add_argument("--out", type=Path, required=True, help="predictions file (.csv or .parquet)")
    bt.add_argument("--config", type=Path, default=None, help="plan config for model settings and seed")
    bt.set_defaults(func=cmd_backtest)


def cmd_backtest(args: argparse.Namespace) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from tabulate import tabulate

    from ml.backtest import TransactionFileError, run_backtest
    from planning.config import ConfigError, load_config

    if args.out.suffix.lower() not in (".csv", ".parquet"):
        print(f"covplan: --out {args.out}: use a .csv or .parquet file name", file=sys.stderr)
        return 2
    try:
        cfg = load_config(args.config)
        started = time.perf_counter()
        result = run_backtest(args.transactions, args.cutoff, args.horizon_days, cfg.growth_model, cfg.seed)
    except (ConfigError, TransactionFileError) as exc:
        print(f"covplan: {exc}", file=sys.stderr)
        return 2
    took = time.perf_counter() - started
    out = result.predictions[result.predictions["known_before_cutoff"]][["account_id", "predicted_value"]]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix.lower() == ".parquet":
        out.to_parquet(args.out, index=False)
    else:
        out.to_csv(args.out, index=False)
    origins = ", ".join(o.isoformat() for o in result.train_origins)
    actual = result.predictions["actual"]
    print(
        f"growth backtest: history from {result.history_start}, cut-off {args.cutoff}, horizon {args.horizon_days} days; "
        f"trained on origins {origins} in {took:.1f} s"
    )
    print(
        f"{len(out):,} accounts predicted → {args.out}; actual revenue after the cut-off {actual.sum():,.0f} "
        f"over {int((actual != 0).sum()):,} accounts ({int((~result.predictions['known_before_cutoff']).sum()):,} new, predicted 0)"
    )
    print(
        tabulate(
            result.metrics,
            headers="keys",
            showindex=False,
            floatfmt=(".0f", ",.0f", ",.0f", ".4f", ".4f", "+.3f"),
        )
    )
    return 0
