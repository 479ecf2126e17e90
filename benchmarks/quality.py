"""Quality-check benchmark: the raw suites run in the warehouse (violations found in DuckDB SQL, GE on
small frames) against the former way (the whole raw.transactions table loaded into pandas and validated
by great-expectations), at multiples of the default demo size. Prints time and peak memory per stage
and the ratio of the two ways at each scale, both measured in this process.

    uv run python benchmarks/quality.py                  # 1x and 5x (20,000 and 100,000 accounts)
    uv run python benchmarks/quality.py --scales 1 --no-baseline

Raw tables are generated with benchmarks/warehouse.py's chunked generator (ids prefixed per chunk).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.warehouse import END_DATE, PeakRss, Run, build_raw, stage  # noqa: E402
from data_quality.load_log import record_loads  # noqa: E402
from data_quality.runner import _ge_expectation, _Validator, run_suite  # noqa: E402
from data_quality.suites import RAW_ENTITIES, RawLimits, raw_suite  # noqa: E402
from sources.demo import SIZES  # noqa: E402


def pandas_baseline(con: duckdb.DuckDBPyConnection) -> int:
    """The former check: select * into pandas, then GE validates the row expectations on every row."""
    suite = raw_suite("transactions", LIMITS)
    rows = [e for e in suite.expectations if e.frame is None and e.ref is None]
    df = con.execute("select * from raw.transactions").df()
    v = _Validator("baseline")
    results = v.validate("all", df, [_ge_expectation(v.gx, e, df, con, i) for i, e in enumerate(rows)])
    return sum(not r.success for r in results)


LIMITS = RawLimits(as_of=END_DATE, max_age_days=120, min_ratio=0.5, max_ratio=2.0)


def measure(scale: int, base: int, work: Path, chunk: int, baseline: bool) -> Run:
    run = Run(scale=scale, accounts=base * scale)
    sampler = PeakRss()
    path = work / f"quality_{scale}x.duckdb"
    build_raw(run, path, chunk, sampler)
    with duckdb.connect(str(path)) as con:
        record_loads(con, list(RAW_ENTITIES), "bench", datetime.now(), "bench")
        _Validator("warm-up")  # import great_expectations outside the timed stages
        with stage(run, "transactions suite (SQL + GE)", sampler):
            res = run_suite(con, raw_suite("transactions", LIMITS))
        assert res.success, res.failures
        with stage(run, "all five raw suites (SQL + GE)", sampler):
            for entity in RAW_ENTITIES:
                res = run_suite(con, raw_suite(entity, LIMITS))
                assert res.success, (entity, res.failures)
        if baseline:
            with stage(run, "baseline: transactions in pandas + GE", sampler):
                failed = pandas_baseline(con)
            assert failed == 0
    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scales", default="1,5")
    parser.add_argument("--base-accounts", type=int, default=SIZES["default"])
    parser.add_argument("--chunk-accounts", type=int, default=20_000)
    parser.add_argument("--no-baseline", action="store_true", help="skip the pandas baseline")
    args = parser.parse_args()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    work = Path(tempfile.mkdtemp(prefix="covplan_quality_"))
    try:
        for scale in [int(s) for s in args.scales.split(",")]:
            run = measure(scale, args.base_accounts, work, args.chunk_accounts, not args.no_baseline)
            print(f"\n{scale}x: {run.accounts:,} accounts, {run.lines:,} order lines")
            for name, s in run.stages.items():
                print(f"  {name:40s} {s.seconds:8.2f} s   peak RSS {s.peak_rss / 2**30:5.2f} GiB")
            new = run.stages["transactions suite (SQL + GE)"]
            old = run.stages.get("baseline: transactions in pandas + GE")
            if old:
                print(
                    f"  baseline / in-warehouse (transactions): time x{old.seconds / new.seconds:.1f}, "
                    f"peak RSS x{old.peak_rss / max(new.peak_rss, 1):.1f}"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
