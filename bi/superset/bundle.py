"""Zip the covplan Superset dashboard bundle with YOUR database connection filled in.

The bundle (bi/superset/covplan_dashboard/) leaves the connection open: `COVPLAN_SQLALCHEMY_URI`,
`COVPLAN_DATABASE_EXTRA` and `COVPLAN_SCHEMA` are placeholders, because the published plan lives in a
different place on every machine (a DuckDB file path, or a PostgreSQL server). Standard library only,
so it runs with any Python 3.9+, including Superset's own:

    python bi/superset/bundle.py --duckdb /abs/path/data/published/plan.duckdb --out covplan.zip
    python bi/superset/bundle.py --postgres postgresql://bi_reader:XXXXXXXXXX@db.example.com/sales \
        --schema covplan --out covplan.zip

Then import covplan.zip in Superset (Dashboards → Import, or POST /api/v1/dashboard/import/). Write
the PostgreSQL password as `XXXXXXXXXX` to keep it out of the file: Superset then asks for it at
import (the API's `passwords` field: {"databases/covplan.yaml": "..."}).
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

BUNDLE = Path(__file__).resolve().parent / "covplan_dashboard"
ROOT_IN_ZIP = "covplan_dashboard"  # Superset expects every file under one top folder


def connection(duckdb_path: str | None, postgres_url: str | None, schema: str | None) -> dict[str, str]:
    """Placeholder → text for a DuckDB file (opened read-only) or a PostgreSQL URL."""
    if duckdb_path:
        path = Path(duckdb_path).expanduser().resolve()
        if not path.exists():
            raise SystemExit(f"bundle.py: {path}: no such file (run `covplan plan` first)")
        extra = {"engine_params": {"connect_args": {"read_only": True}}}
        return {"COVPLAN_SQLALCHEMY_URI": f"duckdb:///{path}", "COVPLAN_SCHEMA": schema or "main",
                "COVPLAN_DATABASE_EXTRA": json.dumps(extra)}  # fmt: skip
    if not postgres_url or not postgres_url.startswith("postgresql"):
        raise SystemExit("bundle.py: give --duckdb FILE or --postgres postgresql://user:pass@host:port/db")
    return {"COVPLAN_SQLALCHEMY_URI": postgres_url, "COVPLAN_SCHEMA": schema or "covplan",
            "COVPLAN_DATABASE_EXTRA": "{}"}  # fmt: skip


def write_bundle(out: str | Path, values: dict[str, str], bundle: Path = BUNDLE) -> Path:
    """Every YAML file of `bundle` into the ZIP `out`, placeholders replaced (values JSON-quoted, so
    a path or password with YAML-special characters stays one string)."""
    out = Path(out)
    files = sorted(p for p in bundle.rglob("*.yaml"))
    if not files:
        raise SystemExit(f"bundle.py: {bundle}: no YAML files")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            text = path.read_text()
            for key, value in values.items():
                text = text.replace(
                    key, value if key == "COVPLAN_DATABASE_EXTRA" else json.dumps(value)[1:-1]
                )
            zf.writestr(f"{ROOT_IN_ZIP}/{path.relative_to(bundle).as_posix()}", text)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duckdb", help="absolute path of the published plan.duckdb")
    parser.add_argument("--postgres", help="SQLAlchemy URL of the PostgreSQL publish target")
    parser.add_argument(
        "--schema", default=None, help="schema of the tables (main for DuckDB, covplan for PostgreSQL)"
    )
    parser.add_argument("--out", required=True, help="the ZIP to write")
    args = parser.parse_args(argv)
    out = write_bundle(args.out, connection(args.duckdb, args.postgres, args.schema))
    print(f"{out}: import it in Superset (Dashboards → Import dashboard)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
