"""Level 4: `covplan plan --input-dir` on a small extract with deliberately broken rows (semicolon,
Latin-1, decimal comma, three date styles, no reps file): every good row reaches the published plan,
every bad row is in quarantine with its rule, and a file-level problem is one line without a traceback."""

import subprocess
import sys

import duckdb
import pytest
from file_drop_extract import cli_env, write_extract

pytestmark = pytest.mark.e2e


def run_cli(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "orchestration.cli", "plan", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=cli_env())


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    root = tmp_path_factory.mktemp("files")
    extract = write_extract(root / "drop")
    out = root / "out"
    proc = run_cli("--input-dir", str(extract.folder), "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return extract, out, proc


def test_every_good_account_is_in_the_published_plan(planned):
    extract, out, proc = planned
    assert f"files in {extract.folder}" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    with duckdb.connect(str(out / "published" / "plan.duckdb"), read_only=True) as pub:
        planned_ids = {r[0] for r in pub.execute("select account_id from account_plan").fetchall()}
        names = dict(pub.execute("select account_id, account_name from account_plan").fetchall())
        counts = pub.execute("select input_row_counts from plan_runs").fetchone()[0]
    assert planned_ids == extract.good_accounts
    assert "Müller Gärtnerei & Söhne" in names.values()  # Latin-1 letters survive
    assert f'"transactions": {len(extract.good_transactions)}' in counts


def test_every_good_line_is_in_raw_and_every_bad_row_in_quarantine(planned):
    extract, out, _ = planned
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as wh:
        raw_tx = {r[0] for r in wh.execute("select transaction_id from raw.transactions").fetchall()}
        price = wh.execute("select unit_price from raw.transactions where _row_number = 1").fetchone()[0]
        found = {
            entity: set(
                wh.execute(f"select _row_number, rule, column_name from quarantine.{entity}").fetchall()
            )
            for entity in ("accounts", "transactions")
        }
        originals = {
            (entity, row, col): text
            for entity in ("accounts", "transactions")
            for row, col, text in wh.execute(
                f"select _row_number, column_name, original_value from quarantine.{entity}"
            ).fetchall()
        }
        sources = {
            r[0] for r in wh.execute("select distinct _source from quarantine.transactions").fetchall()
        }
        reps = wh.execute("select count(*), min(_source) from raw.reps").fetchone()
    assert raw_tx == extract.good_transactions
    assert price == 1234.5  # '1.234,50 £'
    assert found == extract.expected
    for key, text in extract.originals.items():
        assert originals[key] == text, key
    assert sources == {str(extract.folder / "transactions.csv")}
    assert reps[0] > 0 and reps[1] == "derived from accounts.owner_rep_id"


def test_missing_required_column_is_one_line_and_nothing_is_published(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "accounts.csv").write_text("account_id;account_name\nA1;Acme\n")
    (drop / "transactions.csv").write_text("transaction_id,account_id\nT1,A1\n")
    proc = run_cli("--input-dir", str(drop), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert errors == [errors[0]] and errors[0].startswith(
        f"covplan: {drop / 'accounts.csv'}: missing required column"
    )
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "out" / "published").exists()


def test_a_quote_never_closed_deep_in_the_file_fails_the_run_with_one_line(tmp_path):
    # caught while landing (not by the fast header check): the failure crosses the Dagster run
    drop = tmp_path / "drop"
    drop.mkdir()
    header = (
        "account_id,account_name,industry,employees,annual_revenue,city,state,lat,lon,created_at,owner_rep_id"
    )
    (drop / "accounts.csv").write_text(f"{header}\nA1,Acme,retail,5,100,Austin,TX,30.2,-97.7,2020-01-01,R1\n")
    tx = "transaction_id,account_id,order_date,product_id,product_category,quantity,unit_price,discount,channel\n"
    tx += 'T1,A1,2024-01-02,P1,hvac,1,10,0,web\nT2,A1,"2024-01-02,P1,hvac,1,10,0,web\nT3,A1,2024-01-03,P1,hvac,1,10,0,web\n'
    (drop / "transactions.csv").write_text(tx)
    proc = run_cli("--input-dir", str(drop), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert errors == [
        f"covplan: {drop / 'transactions.csv'}: row 2 opens a quote that is never closed, so the rest of "
        "the file cannot be read; close or remove that quote"
    ], errors
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "out" / "published").exists()
