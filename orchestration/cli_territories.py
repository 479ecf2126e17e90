"""`covplan territories design`: the territory engine on any CSV, outside the pipeline.

    covplan territories design --accounts FILE --territories K [--tolerance 0.05] [--centres FILE]
        [--distances FILE] [--measures workload,revenue] [--current-column C] [--locked-column C]
        --out FILE

Writes account_id, territory_id to --out and prints the plan figures (balance per measure, travel,
diameter, accounts moved, locks honoured).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


class InputError(ValueError):
    """A problem with the user's files; the message names the file, row and column and the fix."""


def register(subparsers) -> None:
    terr = subparsers.add_parser("territories", help="territory design on any CSV")
    sub = terr.add_subparsers(dest="territories_command", required=True)
    p = sub.add_parser(
        "design",
        help="balanced, compact territories for the accounts in a CSV",
        description="Assign every account to one territory, balancing the measures and minimising travel.",
    )
    p.add_argument("--accounts", type=Path, required=True, help="CSV: account_id, lat, lon and the measures")
    p.add_argument("--territories", type=int, default=None, help="number of territories (K)")
    p.add_argument(
        "--tolerance", type=float, default=0.05, help="allowed deviation from the mean (0.05 = ±5%%)"
    )
    p.add_argument(
        "--target", type=float, default=0.01, help="deviation the optimiser aims for (default 0.01)"
    )
    p.add_argument("--centres", type=Path, default=None, help="CSV: territory_id, lat, lon (fixed centres)")
    p.add_argument(
        "--distances", type=Path, default=None, help="CSV: account_id, territory_id, distance (travel matrix)"
    )
    p.add_argument(
        "--measures", default="workload", help="comma-separated measure columns; 'accounts' counts accounts"
    )
    p.add_argument("--current-column", default=None, help="column with each account's current territory")
    p.add_argument("--locked-column", default=None, help="column with a territory the account is locked to")
    p.add_argument("--id-column", default="account_id", help="account id column (default account_id)")
    p.add_argument("--value-column", default=None, help="column whose moved total is reported")
    p.add_argument("--disruption-weight", type=float, default=1.0, help="cost of moving an account")
    p.add_argument("--no-geography", action="store_true", help="balance only; ignore lat/lon")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--time-limit", type=float, default=180.0, help="seconds (a safety net)")
    p.add_argument("--out", type=Path, required=True, help="CSV to write: account_id, territory_id")
    p.set_defaults(func=cmd_design)


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    if not path.exists():
        raise InputError(f"{path}: {what} file not found")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV ({exc})") from None


def _need(df: pd.DataFrame, cols: list[str], path: Path) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; the file has {list(df.columns)}")


def _numeric(df: pd.DataFrame, col: str, path: Path, allow_nan: bool = False) -> pd.Series:
    v = pd.to_numeric(df[col], errors="coerce")
    bad = v.isna() & (df[col].notna() | (not allow_nan))
    if bad.any():
        rows = (bad[bad].index[:3] + 2).tolist()  # +2: header line and 1-based rows
        raise InputError(
            f"{path}: column {col!r} must be numeric; {int(bad.sum())} rows are not (file lines {rows}); fix or remove them"
        )
    return v


def load_inputs(args: argparse.Namespace):
    """Read and check the CSVs; returns the engine's frame, ids, measures and optional centres/distances."""
    from planning.territories import territory_ids

    acc = _read_csv(args.accounts, "accounts")
    _need(acc, [args.id_column], args.accounts)
    ids_col = acc[args.id_column].astype(str)
    dup = ids_col.duplicated()
    if dup.any():
        raise InputError(
            f"{args.accounts}: account id {ids_col[dup].iloc[0]!r} appears more than once "
            f"(file line {int(dup.idxmax()) + 2}); every account must be listed once"
        )
    frame = pd.DataFrame({"account_id": ids_col})
    measures = [m.strip() for m in args.measures.split(",") if m.strip()]
    _need(acc, [m for m in measures if m != "accounts"], args.accounts)
    for m in measures:
        if m != "accounts":
            frame[m] = _numeric(acc, m, args.accounts)
            if (frame[m] < 0).any():
                line = int((frame[m] < 0).idxmax()) + 2
                raise InputError(
                    f"{args.accounts}: column {m!r} is negative on line {line}; measures must be >= 0"
                )
    geographic = not args.no_geography and args.distances is None
    if geographic:
        _need(acc, ["lat", "lon"], args.accounts)
        frame["lat"] = _numeric(acc, "lat", args.accounts)
        frame["lon"] = _numeric(acc, "lon", args.accounts)
    elif {"lat", "lon"} <= set(acc.columns):
        frame["lat"] = pd.to_numeric(acc["lat"], errors="coerce")
        frame["lon"] = pd.to_numeric(acc["lon"], errors="coerce")
    if args.value_column:
        _need(acc, [args.value_column], args.accounts)
        frame[args.value_column] = _numeric(acc, args.value_column, args.accounts)
    centres = distances = None
    if args.centres is not None:
        centres = _read_csv(args.centres, "centres")
        _need(centres, ["territory_id", "lat", "lon"], args.centres)
        centres = centres.assign(
            territory_id=centres["territory_id"].astype(str),
            lat=_numeric(centres, "lat", args.centres),
            lon=_numeric(centres, "lon", args.centres),
        )
        ids = centres["territory_id"].tolist()
    elif args.distances is not None:
        distances = _read_csv(args.distances, "distances")
        _need(distances, ["account_id", "territory_id", "distance"], args.distances)
        distances = distances.assign(
            account_id=distances["account_id"].astype(str),
            territory_id=distances["territory_id"].astype(str),
            distance=_numeric(distances, "distance", args.distances),
        )
        ids = sorted(distances["territory_id"].unique().tolist())
    else:
        if not args.territories or args.territories < 1:
            raise InputError(
                "--territories K is required (a positive number) unless --centres or --distances is given"
            )
        k = args.territories
        current = (
            sorted(acc[args.current_column].dropna().astype(str).unique().tolist())
            if args.current_column
            else []
        )
        ids = (
            current[:k]
            + [t for t in territory_ids("T", k + len(current)) if t not in current][
                : max(k - len(current), 0)
            ]
        )
    if args.territories and len(ids) != args.territories:
        raise InputError(
            f"--territories {args.territories} but the centres/distances file names {len(ids)} territories"
        )
    if args.current_column:
        _need(acc, [args.current_column], args.accounts)
        frame["current_territory_id"] = (
            acc[args.current_column]
            .astype("string")
            .astype(object)
            .where(acc[args.current_column].notna(), None)
        )
    if args.locked_column:
        _need(acc, [args.locked_column], args.accounts)
        lk = (
            acc[args.locked_column]
            .astype("string")
            .astype(object)
            .where(acc[args.locked_column].notna(), None)
        )
        unknown = lk.notna() & ~lk.isin(ids)
        if unknown.any():
            line = int(unknown.idxmax()) + 2
            raise InputError(
                f"{args.accounts}: line {line}, column {args.locked_column!r}: territory {lk[unknown].iloc[0]!r} "
                f"is not one of the territories ({', '.join(ids[:5])}…); lock to an existing territory"
            )
        frame["locked_territory_id"] = lk
    return frame, ids, measures, geographic, centres, distances


def cmd_design(args: argparse.Namespace) -> int:
    import time

    from planning.territories import SolverOptions, TerritoryDesignError, design_pool
    from planning.territories_metrics import plan_metrics, territory_table

    t0 = time.perf_counter()
    try:
        frame, ids, measures, geographic, centres, distances = load_inputs(args)
        opts = SolverOptions(
            tolerance=args.tolerance,
            target=min(args.target, args.tolerance),
            disruption_weight=args.disruption_weight,
            time_limit_seconds=args.time_limit,
            seed=args.seed,
        )
        out, _, sol = design_pool(
            frame,
            ids,
            measures,
            opts,
            geographic,
            centres=centres,
            distances=distances,
            label=str(args.accounts),
        )
    except (InputError, TerritoryDesignError) as exc:
        print(f"covplan territories: {exc}", file=sys.stderr)
        return 2
    took = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out[["account_id", "territory_id"]].to_csv(args.out, index=False)
    rows = frame.drop(columns=["account_id"]).assign(
        account_id=out["account_id"], territory_id=out["territory_id"], travel=out["travel"], pool="all"
    )
    table = territory_table(rows, measures, args.value_column, geographic=geographic or "lat" in rows)
    metrics = plan_metrics(rows, table, measures, args.tolerance, args.value_column)
    metrics["seconds"] = round(took, 2)
    metrics["solver_rounds"] = sol.iterations
    metrics["time_limit_hit"] = sol.time_limit_hit
    print(f"wrote {len(out):,} assignments to {args.out}")
    width = max(len(k) for k in metrics)
    for key, value in metrics.items():
        if key.startswith("max_abs_balance_deviation_"):
            continue
        shown = f"{value:.4%}" if "deviation" in key or key.endswith("_share") else value
        shown = f"{value:,.3f}" if isinstance(value, float) and shown is value else shown
        print(f"  {key:<{width}}  {shown}")
    return 0
