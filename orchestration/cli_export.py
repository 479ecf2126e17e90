"""`covplan export`: one published plan as CSV files or an Excel workbook.

covplan export [--plan latest|PLAN_ID] [--format csv|xlsx] --out DIR [--published DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_export(args: argparse.Namespace) -> int:
    from orchestration import settings
    from planning.config import load_config
    from planning.export import export_plan
    from planning.publish import PublishError

    published = args.published or settings.published_dir(load_config(settings.config_path()).publish.dir)
    try:
        out = export_plan(published, args.plan, args.format, args.out)
    except PublishError as exc:
        print(f"covplan export: {exc}", file=sys.stderr)
        return 2
    rows = ", ".join(f"{t} {n:,}" for t, n in out.row_counts.items())
    print(f"plan {out.plan_id}: {rows} rows")
    for f in out.files:
        print(f"  {f}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser("export", help="export a published plan as CSV files or an Excel workbook")
    export.add_argument(
        "--plan", default="latest", help="a plan_id from plan_history, or `latest` for the plan in force"
    )
    export.add_argument(
        "--format",
        choices=["csv", "xlsx"],
        default="csv",
        help="csv: one file per table; xlsx: one workbook, a sheet per table and a `columns` sheet",
    )
    export.add_argument("--out", type=Path, required=True, help="folder to write into")
    export.add_argument(
        "--published", type=Path, default=None, help="folder with plan.duckdb (default: the published dir)"
    )
    export.set_defaults(func=cmd_export)
