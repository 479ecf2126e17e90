"""File-drop ingest at scale: time and peak memory of landing + row rules versus a plain DuckDB typed
read of the same CSV in the same process (the baseline), for generated extracts.

    uv run python benchmarks/ingest_files.py --lines 1000000 5000000

The extract is written by DuckDB: semicolon-delimited, decimal comma, d.m.Y dates, 1 bad line in 10,000
(unparseable number) so the quarantine path runs too; accounts = lines / 100.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import duckdb

from sources.files import load_folder
from sources.landing import RowRules


def write_extract(folder: Path, lines: int) -> None:
    accounts = max(lines // 100, 10)
    con = duckdb.connect()
    con.execute(
        f"""
        copy (
            select printf('A%07d', i) as account_id, 'Account ' || i as account_name, 'retail' as industry,
                   (i % 900 + 10)::varchar as employees, replace(printf('%.2f', (i % 1000) * 1000.5), '.', ',') as annual_revenue,
                   'Austin' as city, 'TX' as state, '30,27' as lat, '-97,74' as lon,
                   strftime(date '2015-01-01' + (i % 3000)::int, '%d.%m.%Y') as created_at,
                   printf('R%03d', i % 200) as owner_rep_id
            from range({accounts}) t(i)
        ) to '{folder / "accounts.csv"}' (delimiter ';', header true)
        """
    )
    con.execute(
        f"""
        copy (
            select printf('T%010d', i) as transaction_id, printf('O%09d', i // 3) as order_id,
                   printf('A%07d', (i * 7919) % {accounts}) as account_id,
                   strftime(date '2022-01-01' + (i % 1000)::int, '%d.%m.%Y') as order_date,
                   printf('P%05d', i % 420) as product_id, 'hvac' as product_category,
                   case when i % 10000 = 9999 then 'n/a' else ((i % 9) + 1)::varchar end as quantity,
                   replace(printf('%.2f', 5 + (i % 500) * 1.37), '.', ',') as unit_price,
                   replace(printf('%.2f', 3 + (i % 500) * 0.91), '.', ',') as unit_cost,
                   '0,05' as discount, 'web' as channel
            from range({lines}) t(i)
        ) to '{folder / "transactions.csv"}' (delimiter ';', header true)
        """
    )
    con.close()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000])
    args = parser.parse_args()
    rules = RowRules(
        min_date=date(1980, 1, 1),
        as_of_date=date(2026, 11, 25),
        max_future_years=5,
        capacity_hours={"field": 1300.0},
    )
    print(
        f"{'lines':>12} {'csv MB':>8} {'write s':>8} {'baseline s':>11} {'ingest s':>9} {'ratio':>6} "
        f"{'quarantined':>12} {'peak RSS MB':>12}"
    )
    for lines in args.lines:
        with tempfile.TemporaryDirectory(prefix="covplan-bench-") as tmp:
            folder = Path(tmp) / "inbox"
            folder.mkdir()
            t0 = time.perf_counter()
            write_extract(folder, lines)
            wrote = time.perf_counter() - t0
            size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
            con = duckdb.connect(str(Path(tmp) / "wh.duckdb"))
            t0 = time.perf_counter()
            con.execute(  # baseline: DuckDB's own typed read of the same files, no rules, no provenance
                f"create table base_tx as select * from read_csv('{folder / 'transactions.csv'}', delim=';', "
                "decimal_separator=',', dateformat='%d.%m.%Y', ignore_errors=true)"
            )
            con.execute(
                f"create table base_acc as select * from read_csv('{folder / 'accounts.csv'}', delim=';', "
                "decimal_separator=',', dateformat='%d.%m.%Y')"
            )
            baseline = time.perf_counter() - t0
            t0 = time.perf_counter()
            report = load_folder(con, folder, {}, rules, "bench", datetime(2026, 11, 25))
            ingest = time.perf_counter() - t0
            q = report.entities["transactions"].rows_quarantined
            con.close()
            print(
                f"{lines:>12,} {size_mb:>8,.0f} {wrote:>8.1f} {baseline:>11.1f} {ingest:>9.1f} "
                f"{ingest / baseline:>6.1f} {q:>12,} {peak_mb():>12,.0f}"
            )


if __name__ == "__main__":
    main()
