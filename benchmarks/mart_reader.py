"""Reading the planning steps' inputs: the old SQL + `.df()` (baseline) against `planning.marts`'s Arrow
batches from DuckDB and from Parquet directories (the layout a Spark warehouse writes), at 1x and 5x the
default demo's 20,000 accounts (time: fastest of 3 runs). Each (scale, stage, way) runs in a fresh subprocess, so its peak
resident memory above the process's resting size is its own; ratios are against the baseline of the
same scale and stage.

    uv run python benchmarks/mart_reader.py [SCALE ...]      # default: 1 5

Only the per-account tables are built (synthetic, shaped like the real ones; 12 quarters per account in
fct_quarterly_revenue, 3 opportunities per account): these stages never read order lines, so what they
cost grows with accounts. `segments` is the workload step's read of ml.account_segments;
`segment_inputs` the segments step's join of three marts, the scores and the open opportunities.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ACCOUNTS_1X = 20_000
STAGES = ("segments", "segment_inputs", "design", "goals", "quarterly")
WAYS = ("sql_df", "arrow_duckdb", "arrow_parquet")
REPEATS = 3


def build(folder: Path, n: int) -> None:
    """A DuckDB warehouse with the tables the stages read, and the marts also as Spark-style Parquet."""
    import duckdb

    with duckdb.connect(str(folder / "w.duckdb")) as con:
        con.execute("create schema planning; create schema marts; create schema ml; create schema staging")
        con.execute(
            f"create table ids as select 'A' || lpad(cast(i as varchar), 7, '0') as account_id, i "
            f"from range({n}) r(i) order by hash(i)"
        )
        con.execute("""create table planning.account_workload as select account_id,
            ['field_ae', 'inside_sales', 'key_account'][1 + i % 3] as coverage_role,
            10 + (i * 7919 % 997) / 7.0 as workload_hours, 1.0 as hours_visit, 2.0 as hours_call from ids""")
        con.execute("""create table marts.dim_accounts as select account_id, 'Company ' || i as account_name,
            'Industry ' || (i % 40) as industry, 'City ' || (i % 900) as city,
            40 + (i % 100) / 9.0 as lat, -3 + (i % 37) / 11.0 as lon, cast(i % 5000 as integer) as employees,
            ['active', 'prospect', 'churned'][1 + i % 3] as status, (i % 997) * 100.0 as open_pipeline_amount
            from ids""")
        con.execute("""create table marts.fct_account_value as select account_id,
            (i * 104729 % 100003) / 3.0 as revenue_t12m, (i % 977) * 1.5 as revenue_prior_t12m,
            i % 48 as orders_t12m, date '2026-10-01' as as_of_date,
            ['>=50K', '<50K', '<5K', 'blank'][1 + i % 4] as size_bucket from ids""")
        con.execute("""create table ml.account_scores as select account_id, i * 1.25 as potential,
            i * 0.5 as expected_revenue_next_4q, i * 0.75 as headroom,
            'reason ' || (i % 7) || ': momentum' as reason_codes from ids where i % 10 <> 0""")
        con.execute("""create table marts.fct_buying_behaviour as select account_id,
            (i % 101) / 100.0 as price_seeking_index,
            case when i % 9 = 0 then null else cast(i % 700 as integer) end as recency_days from ids""")
        con.execute("""create table staging.stg_crm__opportunities as select 'O' || (3 * i + k) as opportunity_id,
            account_id, ['prospecting', 'qualification', 'proposal', 'negotiation', 'closed_won',
            'closed_lost'][1 + (i + k) % 6] as stage, (i + k) % 6 >= 4 as is_closed,
            (i % 50) * 1000.0 as amount from ids, range(3) r(k)""")
        con.execute("""create table ml.account_segments as select account_id,
            ['small', 'mid', 'large'][1 + i % 3] as size_bucket, 'field_ae' as coverage_role,
            case when i % 5 = 0 then 'none' else 'solutions' end as specialist_overlay,
            'T' || (i % 4) as size_tier, 'C' || (i % 3) as coverage_tier from ids""")
        con.execute("""create table marts.fct_quarterly_revenue as select account_id,
            date '2023-10-01' + to_months(3 * q) as quarter_start, (i * q % 1009) * 1.5 as revenue,
            (i * q % 101) * 0.4 as gross_margin, (i + q) % 9 as orders from ids, range(12) r(q)""")
        con.execute("""create table planning.territory_assignment as
            select account_id, 'T' || (i % 170) as territory_id from ids""")
        for table in ("dim_accounts", "fct_account_value", "fct_buying_behaviour", "fct_quarterly_revenue"):
            out = folder / "spark" / "marts.db" / table
            out.mkdir(parents=True)
            con.execute(
                f"copy marts.{table} to '{out}' (format parquet, per_thread_output true, overwrite true)"
            )


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()


QUARTERLY = ["quarter_start", "revenue"]  # what the goals step reads of the per-account-quarter history


def _segments(warehouse, read_frame, columns):
    with warehouse.readers() as (local, _):
        return read_frame(local, "ml.account_segments", columns)


def _marts_frame(warehouse, read_frame, table, columns):
    with warehouse.readers() as (_, marts):
        return read_frame(marts, table, columns)


def child(folder: str, stage: str, way: str) -> None:
    """One stage one way; prints seconds, peak MiB above the resting size, and rows."""
    import os

    from orchestration.assets.goals import goal_inputs
    from orchestration.assets.ml import segment_inputs
    from orchestration.assets.planning import SEGMENT_COLUMNS, design_inputs
    from orchestration.resources import MARTS_PARQUET_ENV, Warehouse
    from planning.marts import read_frame

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))
    from test_mart_reader import OLD_DESIGN_SQL, OLD_GOALS_SQL, OLD_SEGMENT_SQL  # the steps' SQL before

    warehouse = Warehouse(database=str(Path(folder) / "w.duckdb"))
    if way == "arrow_parquet":
        os.environ[MARTS_PARQUET_ENV] = str(Path(folder) / "spark")
    with warehouse.connection() as con:  # open the file once so its first-open cost is not measured
        con.execute("select 1").fetchall()
    old = {
        "segments": lambda: warehouse.query_df(
            f"select {', '.join(SEGMENT_COLUMNS)} from ml.account_segments"
        ),
        "segment_inputs": lambda: warehouse.query_df(OLD_SEGMENT_SQL),
        "design": lambda: warehouse.query_df(OLD_DESIGN_SQL),
        "goals": lambda: warehouse.query_df(OLD_GOALS_SQL),
        "quarterly": lambda: warehouse.query_df(
            "select quarter_start, revenue from marts.fct_quarterly_revenue"
        ),
    }
    new = {
        "segments": lambda: _segments(warehouse, read_frame, SEGMENT_COLUMNS),
        "segment_inputs": lambda: segment_inputs(warehouse),
        "design": lambda: design_inputs(warehouse),
        "goals": lambda: goal_inputs(warehouse),
        "quarterly": lambda: _marts_frame(warehouse, read_frame, "marts.fct_quarterly_revenue", QUARTERLY),
    }
    run = old[stage] if way == "sql_df" else new[stage]
    rest = _rss()
    t = time.perf_counter()
    frame = run()
    took = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # the first run's high-water mark
    for _ in range(REPEATS - 1):  # the machine is shared: the fastest of a few runs is the least noisy
        del frame
        t = time.perf_counter()
        frame = run()
        took = min(took, time.perf_counter() - t)
    print(json.dumps({"s": took, "mib": max(peak - rest, 0) / 2**20, "rows": len(frame)}))


def main(scales: list[int]) -> None:
    for scale in scales:
        n = scale * ACCOUNTS_1X
        with tempfile.TemporaryDirectory(prefix="covplan-marts-bench-") as tmp:
            build(Path(tmp), n)
            print(f"\n{scale}x = {n:,} accounts  (time s / peak MiB above resting; ratio to sql_df)")
            for stage in STAGES:
                base = None
                for way in WAYS:
                    out = subprocess.run(
                        [sys.executable, __file__, "--child", tmp, stage, way],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                    r = json.loads(out.strip().splitlines()[-1])
                    base = base or r
                    print(
                        f"  {stage:14s} {way:14s} {r['s']:7.3f} s ({r['s'] / base['s']:4.2f}x)  "
                        f"{r['mib']:7.1f} MiB ({r['mib'] / max(base['mib'], 0.1):4.2f}x)  rows {r['rows']:,}"
                    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:5])
    else:
        main([int(a) for a in sys.argv[1:]] or [1, 5])
