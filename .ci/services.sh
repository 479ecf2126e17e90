#!/usr/bin/env bash
# Services the tests need, installed from Debian's packages and started here (idempotent):
# PostgreSQL 15 (SQL source, dbt postgres target, publish target), Chromium (browser tests) and Java
# 17 (Spark cluster tests).
# Prints the export line for COVPLAN_TEST_PG_URL; .ci/run evals it.
set -euo pipefail

SUDO="" AS_POSTGRES="runuser -u postgres --"
[ "$(id -u)" -eq 0 ] || { SUDO="sudo"; AS_POSTGRES="sudo -u postgres"; }
missing=()
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# Java 17 for the local Spark cluster of tests/spark (pyspark's wheel bundles Spark, not a JVM).
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
if [ ${#missing[@]} -gt 0 ]; then
  echo "ci: apt-get install ${missing[*]}" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2
fi

version=$(ls /etc/postgresql | sort -V | tail -1)
if ! $SUDO pg_ctlcluster "$version" main status >/dev/null 2>&1; then
  $SUDO pg_ctlcluster "$version" main start >&2
fi
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
pg_isready -h 127.0.0.1 -p 5432 >&2

# A login role that may create the throwaway databases the tests use.
$AS_POSTGRES psql -q -v ON_ERROR_STOP=1 -d postgres >&2 <<'SQL'
do $$ begin
  if not exists (select from pg_roles where rolname = 'covplan_test') then
    create role covplan_test login createdb password 'covplan_test';
  end if;
end $$;
SQL
echo "export COVPLAN_TEST_PG_URL=postgresql+psycopg://covplan_test:covplan_test@127.0.0.1:5432/postgres"
