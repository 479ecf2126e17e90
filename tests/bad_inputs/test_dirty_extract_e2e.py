"""End to end: `covplan plan --input-dir` on one extract that combines the matrix's spoilers (on top of
the file-drop extract's own broken rows): every good account reaches the published plan, names arrive
verbatim, the malformed line is quarantined, and a second run on the same extract and config publishes
identical content (plan_runs.content_hashes); a few stop cases fail in one stderr line."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
from file_drop_extract import cli_env, write_extract  # noqa: E402

pytestmark = pytest.mark.e2e

INJECTION = "Robert'); DROP TABLE raw.accounts;--"
LONG = "Long Name Holdings " * 2_000 + "Ltd"
NEWLINE = "First line\nSecond line; with a semicolon"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "orchestration.cli", "plan", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env=cli_env())


def spoil(folder: Path, extract) -> dict:
    """Rename three good accounts verbatim-hard, and break one account line (an unquoted extra field):
    that account and its order lines go to quarantine. Returns what the plan must then hold."""
    path = folder / "accounts.csv"
    with open(path, encoding="latin-1", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    header, body = rows[0], rows[1:]
    name_col, id_col = header.index("account_name"), header.index("account_id")
    parent_col = header.index("parent_account_id")
    parents = {r[parent_col] for r in body}
    # leaf accounts without a parent: breaking one must not take children along (that cascade is tested
    # in the unit tests)
    good = [
        i
        for i, r in enumerate(body)
        if r[id_col] in extract.good_accounts and not r[parent_col] and r[id_col] not in parents
    ]
    renamed = {}
    for i, name in zip(good[20:23], (INJECTION, LONG, NEWLINE), strict=True):
        body[i][name_col] = name
        renamed[body[i][id_col]] = name
    broken = good[30]
    broken_id = body[broken][id_col]
    with open(path, "w", encoding="latin-1", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\n")
        writer.writerow(header)
        for i, row in enumerate(body):
            if i == broken:
                fh.write(";".join(row) + ";surplus field\n")
            else:
                writer.writerow(row)
    return {"renamed": renamed, "broken_id": broken_id, "broken_row": broken + 1}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dirty")
    extract = write_extract(root / "drop")
    spoiled = spoil(extract.folder, extract)
    outs = []
    for name in ("first", "second"):
        proc = run_cli("--input-dir", str(extract.folder), "--out", str(root / name))
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "Traceback" not in proc.stdout + proc.stderr
        outs.append(root / name)
    return extract, spoiled, outs


def test_every_good_account_reaches_the_plan_with_names_verbatim(runs):
    extract, spoiled, outs = runs
    with duckdb.connect(str(outs[0] / "published" / "plan.duckdb"), read_only=True) as pub:
        names = dict(pub.execute("select account_id, account_name from latest_account_plan").fetchall())
    assert set(names) == extract.good_accounts - {spoiled["broken_id"]}
    for account_id, name in spoiled["renamed"].items():
        assert names[account_id] == name


def test_the_malformed_line_is_quarantined_with_its_order_lines(runs):
    extract, spoiled, outs = runs
    with duckdb.connect(str(outs[0] / "warehouse.duckdb"), read_only=True) as wh:
        bad = wh.execute(
            "select _row_number, column_name, original_value from quarantine.accounts where rule = 'malformed_line'"
        ).fetchall()
        orphans = wh.execute(
            "select count(*) from quarantine.transactions where rule = 'unknown_account' and original_value = ?",
            [spoiled["broken_id"]],
        ).fetchall()[0][0]
        details = wh.execute(
            "select detail from quarantine.transactions where original_value = ? limit 1",
            [spoiled["broken_id"]],
        ).fetchall()
    assert len(bad) == 1 and bad[0][0] == spoiled["broken_row"] and bad[0][2].endswith(";surplus field")
    assert orphans > 0 and details[0][0].endswith("is in quarantine.accounts")


def test_two_runs_on_the_same_extract_publish_identical_content(runs):
    _, _, outs = runs
    hashes = []
    for out in outs:
        with duckdb.connect(str(out / "published" / "plan.duckdb"), read_only=True) as pub:
            plan_id, text = pub.execute("select plan_id, content_hashes from latest_plan_runs").fetchall()[0]
        hashes.append((plan_id, json.loads(text)))
    assert hashes[0][0] != hashes[1][0]  # two runs, two plans ...
    assert hashes[0][1] == hashes[1][1]  # ... with the same content in every table
    assert set(hashes[0][1]) == {"account_plan", "territories", "territory_goals", "coverage_summary"}


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"accounts.csv": b"", "transactions.csv": b"transaction_id\nT1\n"},
            "accounts.csv: the file is empty",
        ),
        (
            {"accounts.csv": b"account_id|account_name\nA1|x\n", "transactions.csv": b"transaction_id\nT1\n"},
            "accounts.csv: missing required column(s) account_id",
        ),
        (
            {
                "accounts.csv": b"account_id,account_name\nA1,Comp\x00any\n",
                "transactions.csv": b"transaction_id\nT1\n",
            },
            "accounts.csv: unreadable encoding: NUL byte at line 2",
        ),
    ],
    ids=["empty_file", "wrong_delimiter", "nul_byte"],
)
def test_stop_cases_are_one_line_without_traceback(tmp_path, files, message):
    drop = tmp_path / "drop"
    drop.mkdir()
    for name, data in files.items():
        (drop / name).write_bytes(data)
    proc = run_cli("--input-dir", str(drop), "--out", str(tmp_path / "out"))
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(errors) == 1 and message in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
