#!/usr/bin/env bash
# Apache Superset in its own virtual environment, for the BI tests (tests/bi) and for trying the
# dashboard bundle locally. Never a dependency of the project: Superset pins its own Flask, pandas and
# SQLAlchemy, which would fight the project's.
#
#   bash bi/superset/setup.sh            # prints the venv's path; idempotent, ~1 s when already built
#   COVPLAN_SUPERSET_VENV=DIR bash bi/superset/setup.sh
#
# The venv holds Superset 6.1.0, the DuckDB and PostgreSQL drivers, and three packages its wheel omits
# (rich, cachetools, flask-caching<2.4; STACK.md §11). A marker file records the pin set: when it
# matches, nothing is installed again.
set -euo pipefail

VENV="${COVPLAN_SUPERSET_VENV:-$HOME/.cache/covplan-superset}"
PYTHON="${UV_PYTHON:-python3.11}"
PINS=(
  "apache-superset==6.1.0"
  "duckdb-engine==0.17.*"
  "duckdb==2.0.1"
  "psycopg2-binary"
  "rich"
  "cachetools"
  "flask-caching<2.4"
)
MARKER="$VENV/.covplan-pins"
WANT="$(printf '%s\n' "${PINS[@]}")"

if [[ -x "$VENV/bin/python" && -f "$MARKER" && "$(cat "$MARKER")" == "$WANT" ]]; then
  echo "$VENV"
  exit 0
fi

echo "superset: creating $VENV" >&2
rm -rf "$VENV"
uv venv --quiet --python "$PYTHON" "$VENV" >&2
uv pip install --quiet --python "$VENV/bin/python" "${PINS[@]}" >&2
"$VENV/bin/python" -c "import superset, duckdb_engine, psycopg2" >&2
printf '%s' "$WANT" > "$MARKER"
echo "$VENV"
