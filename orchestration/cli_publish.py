"""`covplan` options and subcommands for versioned plans: as-of quarter, scenarios, compare, dbt docs.

covplan plan ... [--as-of YYYY-MM-DD] [--scenario NAME --set key=value ...]
covplan compare PLAN_A PLAN_B [--published DIR] [--out DIR]
covplan docs [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from planning.config import ConfigError, PlanConfig, load_config


@dataclass(frozen=True)
class PlanRunChoices:
    config: PlanConfig
    as_of: date
    partition_key: str
    scenario: str | None
    overrides: dict
    resources: dict
    label: str


def add_plan_arguments(plan: argparse.ArgumentParser) -> None:
    plan.add_argument(
        "--as-of",
        default=None,
        help="the plan's as-of quarter start (YYYY-MM-DD), e.g. to rebuild a past quarter's plan; "
        "default: plan.as_of_date, else the quarter after the latest data",
    )
    plan.add_argument(
        "--scenario", default=None, help="publish a what-if plan under this name beside the plan in force"
    )
    plan.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key for a scenario, e.g. territories.balance_tolerance=0.03 (repeatable)",
    )


def parse_overrides(items: list[str]) -> dict:
    """`key=value` pairs into dotted-key overrides; values are JSON (numbers, true, null, lists) or text."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"--set {item!r}: write KEY=VALUE, e.g. --set goals.company_target.amount=4e8")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value.strip()
    return out


def plan_run_choices(args: argparse.Namespace, cfg: PlanConfig) -> PlanRunChoices:
    """The validated choices of one `covplan plan`: config with overrides, as-of partition, scenario."""
    from orchestration import settings
    from orchestration.partitions import as_of_partition_key, check_demo_as_of, default_as_of, parse_as_of

    overrides = parse_overrides(args.overrides)
    scenario = (args.scenario or "").strip() or None
    if overrides and not scenario:
        raise ConfigError("--set changes assumptions for a scenario: add --scenario NAME")
    machine = sorted(k for k in overrides if k.split(".")[0] == "warehouse")
    if machine:  # the DuckDB resources are built from the config file, once per process
        raise ConfigError(
            f"--set {machine[0]}: warehouse.* are machine resources, not plan assumptions; set them in the "
            "config file and pass it with --config"
        )
    if overrides:
        cfg = load_config(settings.config_path(), overrides)
    demo = not getattr(args, "input_dir", None) and cfg.sources.default == "demo"
    if args.as_of:
        as_of = parse_as_of(args.as_of)
    else:  # the demo's data ends at demo.end_date; another source's end is not known before ingest
        as_of = default_as_of(cfg.plan.as_of_date, cfg.demo.end_date if demo else None)
    if demo:  # fail fast, before ingest: the demo's history is known from config
        check_demo_as_of(as_of, cfg)
    key = as_of_partition_key(as_of)
    resources = {
        "plan_config": {
            "config": {
                "path": str(settings.config_path()),
                "overrides_json": json.dumps(overrides, sort_keys=True),
            }
        }
    }
    label = f"scenario {scenario!r} ({args.kind} plan)" if scenario else f"{args.kind} plan"
    return PlanRunChoices(cfg, as_of, key, scenario, overrides, resources, label)


def cmd_compare(args: argparse.Namespace) -> int:
    from orchestration import settings
    from planning.compare import compare_plans, to_markdown
    from planning.publish import PublishError, read_plan

    published = args.published or settings.published_dir(load_config(settings.config_path()).publish.dir)
    tables = ["account_plan", "territories", "territory_goals", "coverage_summary"]
    try:
        a = {t: read_plan(published, t, args.plan_a) for t in tables}
        b = {t: read_plan(published, t, args.plan_b) for t in tables}
    except PublishError as exc:
        print(f"covplan compare: {exc}", file=sys.stderr)
        return 2
    ida, idb = a["account_plan"]["plan_id"].iloc[0], b["account_plan"]["plan_id"].iloc[0]
    cmp = compare_plans(ida, a, idb, b)
    print(f"A = {ida}\nB = {idb}\n")
    print(cmp.summary.to_markdown(index=False, floatfmt=",.2f"))
    changed = cmp.territories[cmp.territories["status"] != "in both"]
    print(f"\n{len(changed)} territories only in one plan; {len(cmp.moved_accounts):,} accounts moved")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, df in cmp.sections().items():
            df.to_csv(out / f"{name}.csv", index=False)
        (out / "compare.md").write_text(to_markdown(cmp))
        print(f"written: {out}/compare.md and {', '.join(f'{n}.csv' for n in cmp.sections())}")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    """dbt docs for auditors: one static HTML page (models, columns, tests, lineage) in a folder."""
    import subprocess

    from orchestration import settings
    from orchestration.cli import prepare_dbt
    from orchestration.dbt_project import DBT_DIR

    out = (args.out or settings.warehouse_path().parent / "dbt_docs").resolve()
    prepare_dbt()
    cmd = ["dbt", "docs", "generate", "--static", "--target-path", str(out), "--project-dir", str(DBT_DIR)]
    proc = subprocess.run([*cmd, "--profiles-dir", str(DBT_DIR)], capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n", file=sys.stderr)
        print("covplan docs: dbt docs generate failed (see above); run `covplan plan` first", file=sys.stderr)
        return 1
    print(f"dbt docs: {out / 'static_index.html'} (open in a browser; also index.html + catalog.json)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    compare = sub.add_parser(
        "compare", help="differences between two published plans (ids from plan_history)"
    )
    compare.add_argument("plan_a", help="a plan_id, or `latest` for the plan in force")
    compare.add_argument("plan_b", help="a plan_id, or `latest`")
    compare.add_argument(
        "--published", type=Path, default=None, help="folder with plan.duckdb (default: the published dir)"
    )
    compare.add_argument(
        "--out", type=Path, default=None, help="write compare.md and one CSV per section here"
    )
    compare.set_defaults(func=cmd_compare)
    docs = sub.add_parser("docs", help="generate the dbt docs (models, tests, lineage) as a static page")
    docs.add_argument("--out", type=Path, default=None, help="folder (default data/dbt_docs)")
    docs.set_defaults(func=cmd_docs)
