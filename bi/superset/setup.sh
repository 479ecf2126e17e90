#!/usr/bin/env bash
# Apache Superset in its own virtual environment, for the BI tests (tests/bi) and for trying the
# dashboard bundle locally. Never a dependency of the project: Superset pins its own Flask, pandas and
# SQLAlchemy, which would fight the project's.
#
#   bash bi/superset/setup.sh            # prints the venv's path; idempotent, ~1 s when already built
#   COVPLAN_SUPERSET_VENV=DIR bash bi/superset/setup.sh
#
# The venv holds Superset 6.1.0, the DuckDB and PostgreSQL drivers, and three packages its wheel omits
# (rich, cachetools, flask-caching<2.4; STACK.md §11). It also holds a ready metadata database
# (`superset db upgrade`, an admin user admin/admin, `superset init`: ~45 s, minutes on a busy
# machine) at $VENV/metadata-template/superset.db, which the tests copy instead of initialising
# Superset every session. A marker file records the pin set: when it matches, nothing is done again.
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
# Bump when the metadata template is made differently (e.g. fix_sqlite_metadata.py changes).
TEMPLATE="metadata-template 2"
MARKER="$VENV/.covplan-pins"
WANT="$(printf '%s\n' "${PINS[@]}" "$TEMPLATE")"

if [[ -x "$VENV/bin/python" && -f "$VENV/metadata-template/superset.db" && -f "$MARKER" &&
      "$(cat "$MARKER")" == "$WANT" ]]; then
  echo "$VENV"
  exit 0
fi

echo "superset: creating $VENV" >&2
rm -rf "$VENV"
uv venv --quiet --python "$PYTHON" "$VENV" >&2
uv pip install --quiet --python "$VENV/bin/python" "${PINS[@]}" >&2
"$VENV/bin/python" -c "import superset, duckdb_engine, psycopg2" >&2

echo "superset: initialising the metadata template" >&2
HERE="$(cd "$(dirname "$0")" && pwd)"
export COVPLAN_SUPERSET_HOME="$VENV/metadata-template" SUPERSET_CONFIG_PATH="$HERE/superset_config.py"
export FLASK_APP="superset.app:create_app"
mkdir -p "$COVPLAN_SUPERSET_HOME"
"$VENV/bin/superset" db upgrade >"$VENV/init.log" 2>&1
"$VENV/bin/superset" fab create-admin --username admin --firstname covplan --lastname ci \
  --email admin@example.invalid --password admin >>"$VENV/init.log" 2>&1
"$VENV/bin/superset" init >>"$VENV/init.log" 2>&1
"$VENV/bin/python" "$HERE/fix_sqlite_metadata.py" "$COVPLAN_SUPERSET_HOME/superset.db"
printf '%s' "$WANT" > "$MARKER"
echo "$VENV"
