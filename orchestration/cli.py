"""`covplan` command line: build a plan with the same Dagster job the schedules run.

    covplan plan [--size small|default|N] [--kind yearly|quarterly] [--out DIR] [--config FILE] [--fresh]
                 [--input-dir DIR] [--as-of YYYY-MM-DD] [--scenario NAME --set key=value ...]
    covplan compare PLAN_A PLAN_B [--out DIR]      covplan docs [--out DIR]
    covplan export [--plan latest|PLAN_ID] [--format csv|xlsx] --out DIR

The run is recorded in a persistent Dagster home (project-local `.dagster_home`, or DIR/dagster_home
with --out), so it shows in `uv run dagster dev` afterwards.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # HistGradientBoosting on 2 cores: 20–60 s → ~1 s


# Subcommands that live in their own modules: each module has `register(subparsers)`, which adds its
# parser and sets `func` (a callable taking the parsed args and returning the exit code).
COMMAND_MODULES: list[str] = [
    "orchestration.cli_growth",
    "orchestration.cli_territories",
    "orchestration.cli_publish",
    "orchestration.cli_export",
]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="covplan", description="Sales-coverage planning: build and publish plans."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="build and publish a plan on the demo data")
    plan.add_argument(
        "--size", default=None, help="demo size: small (~2,000 accounts), default (~20,000) or a number"
    )
    plan.add_argument(
        "--kind",
        choices=["yearly", "quarterly"],
        default="yearly",
        help="yearly: full redesign; quarterly: keep territories, place new accounts",
    )
    plan.add_argument(
        "--out",
        type=Path,
        default=None,
        help="put warehouse, published plan and Dagster home under this folder",
    )
    plan.add_argument("--config", type=Path, default=None, help="plan config (default config/plan.yaml)")
    plan.add_argument(
        "--input-dir",
        type=Path,
        default=None,
        help="build the plan on a file-drop folder (accounts + transactions as CSV/Parquet) instead of the demo",
    )
    plan.add_argument(
        "--fresh",
        action="store_true",
        help="reload the source and rebuild the warehouse even if nothing changed since the last run",
    )
    from orchestration.cli_publish import add_plan_arguments

    add_plan_arguments(plan)
    plan.set_defaults(func=cmd_plan)
    prep = sub.add_parser(
        "prepare", help="parse the dbt project so the Dagster definitions can load (CI does this)"
    )
    prep.set_defaults(func=lambda _args: prepare_dbt(force=True) or 0)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def _set_locations(args: argparse.Namespace) -> Path:
    from orchestration import settings

    if args.config:
        os.environ["COVPLAN_CONFIG"] = str(args.config.resolve())
    if args.out:
        out = args.out.resolve()
        os.environ["COVPLAN_WAREHOUSE"] = str(out / "warehouse.duckdb")
        os.environ["COVPLAN_PUBLISHED_DIR"] = str(out / "published")
        return settings.ensure_dagster_home(Path(os.environ.get("DAGSTER_HOME") or out / "dagster_home"))
    home = settings.ensure_dagster_home()
    if home == settings.DEFAULT_DAGSTER_HOME:
        settings.write_dotenv_dagster_home(home)
    return home


def prepare_dbt(force: bool = False) -> None:
    """Parse the dbt project into its manifest when it is missing or older than a dbt source file."""
    from orchestration.dbt_project import DBT_DIR, dbt_project

    manifest = dbt_project.manifest_path
    sources = [
        p for p in DBT_DIR.rglob("*") if p.suffix in {".sql", ".yml", ".yaml"} and "target" not in p.parts
    ]
    if force or not manifest.exists() or max(p.stat().st_mtime for p in sources) > manifest.stat().st_mtime:
        dbt_project.preparer.prepare(dbt_project)


def _summary(published_dir: Path, run_id: str) -> None:
    import duckdb

    con = duckdb.connect(str(published_dir / "plan.duckdb"), read_only=True)
    try:
        run = con.execute(
            "select plan_id, kind, as_of_date, company_target, model_metrics, territory_metrics "
            "from plan_runs where dagster_run_id = ?",
            [run_id],
        ).fetchone()
        plan = run[0]
        accounts, changed = con.execute(
            "select count(*), count(*) filter (where changed) from account_plan where plan_id = ?", [plan]
        ).fetchone()
        terr = con.execute(
            "select count(*), max(abs(balance_deviation)), count(*) filter (where owner_rep_id is null) "
            "from territories where plan_id = ?",
            [plan],
        ).fetchone()
        tiers = con.execute(
            "select coverage_tier, count(*) from account_plan where plan_id = ? group by 1 order by 2 desc",
            [plan],
        ).fetchall()
        heads = con.execute(
            "select role, headcount, reps_on_staff from coverage_summary where accounts > 0 and plan_id = ? "
            "order by role",
            [plan],
        ).fetchall()
        in_force = con.execute("select plan_id from plan_history where in_force").fetchall()
    finally:
        con.close()
    import json

    model = json.loads(run[4])
    print(f"\nplan {run[0]} ({run[1]}, as of {run[2]})")
    print(
        f"  accounts           {accounts:,} in {terr[0]} territories ({terr[2]} without a rep yet); "
        f"{changed:,} changed territory"
    )
    print(f"  balance            max workload deviation {terr[1]:.2%} (tolerance from config)")
    print(f"  company target     {float(run[3]):,.2f} (sum of territory goals)")
    print(
        f"  growth model       Spearman {model['model_spearman']:.3f} vs run-rate {model['baseline_runrate_spearman']:.3f}; "
        f"MAE {model['model_mae']:,.0f} vs {model['baseline_runrate_mae']:,.0f} "
        f"(mean over {model.get('backtest_origins', '?')} backtest cut-offs)"
    )
    print("  coverage tiers     " + ", ".join(f"{t} {n:,}" for t, n in tiers))
    print("  headcount          " + ", ".join(f"{r} {h} (on staff {s})" for r, h, s in heads))
    print(f"  plan in force      {in_force[0][0] if in_force else 'none'} (the latest_* views)")
    print(f"\npublished: {published_dir / 'plan.duckdb'}")
    print(f"           {published_dir / 'parquet'}/<table>.parquet")


def cmd_plan(args: argparse.Namespace) -> int:
    from planning.config import ConfigError

    home = _set_locations(args)
    from orchestration import settings
    from orchestration.cli_publish import plan_run_choices
    from planning.config import load_config

    try:
        cfg = load_config(settings.config_path())
        choices = plan_run_choices(args, cfg)
        cfg = choices.config
        if args.size is not None:
            from sources.demo import resolve_size

            resolve_size(args.size)
        if args.input_dir:
            from sources.files import check_folder

            check_folder(args.input_dir.resolve(), cfg.sources.columns)  # fail fast on file problems
    except (ConfigError, ValueError) as exc:
        print(f"covplan: {exc}", file=sys.stderr)
        return 2

    t0 = time.perf_counter()
    source = f"files in {args.input_dir}" if args.input_dir else f"demo size {args.size or cfg.demo.size}"
    print(f"covplan plan: {choices.label}, as of {choices.as_of}, {source}")
    print(f"  warehouse {settings.warehouse_path()}\n  dagster home {home}")
    prepare_dbt()
    import dagster as dg

    from orchestration.assets.warehouse import dbt_warehouse
    from orchestration.definitions import defs
    from orchestration.jobs import kind_config

    job = defs.resolve_job_def(f"{args.kind}_plan")
    dbt_nodes = len(dbt_warehouse.keys) + len(dbt_warehouse.check_keys)
    run_config = kind_config(args.kind, choices.scenario)
    run_config["resources"] = choices.resources
    ingest = {"size": str(args.size or "")}
    if args.input_dir:
        ingest.update(source="files", input_dir=str(args.input_dir.resolve()))
    if args.fresh:
        ingest["fresh"] = True
        run_config["ops"]["dbt_warehouse"] = {"config": {"fresh": True}}
    run_config["ops"]["ingest_source"] = {"config": ingest}
    run_config["loggers"] = {"covplan_progress": {"config": {"dbt_nodes": dbt_nodes}}}
    log_path = settings.warehouse_path().parent / "logs" / "last_run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"  full log (dbt output) {log_path}")
    with dg.DagsterInstance.get() as instance, open(log_path, "w") as log, redirect_stdout(log):
        result = job.execute_in_process(
            run_config=run_config,
            instance=instance,
            raise_on_error=False,
            partition_key=choices.partition_key,
        )
    took = time.perf_counter() - t0
    source_error = _source_error(result) if not result.success else None
    if source_error:
        print(f"covplan: {source_error}", file=sys.stderr)
        return 2
    if not result.success:
        print(
            f"\ncovplan: the {args.kind} plan failed after {took:.0f} s; nothing new was published.",
            file=sys.stderr,
        )
        print(
            f"  open `uv run dagster dev` → Runs → {result.run_id[:8]} for the failing step's logs and checks.",
            file=sys.stderr,
        )
        return 1
    print(
        f"\n{args.kind} plan built in {took:.0f} s (Dagster run {result.run_id[:8]}; see it with `uv run dagster dev`)"
    )
    _summary(settings.published_dir(cfg.publish.dir), result.run_id)
    return 0


# Input problems that stop a run with their own one-line message (no stack trace): a file-level
# problem of the extract, or too little order history before the as-of date.
ONE_LINE_ERRORS = ("SourceFileError", "AsOfHistoryError", "InsufficientHistoryError")


def _source_error(result) -> str | None:
    """The one-line message of an input problem (ONE_LINE_ERRORS) that failed the run."""
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            if error.cls_name in ONE_LINE_ERRORS:
                return error.message.strip().split(": ", 1)[-1]  # drop the "module.Class: " prefix
            error = error.cause
    return None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
