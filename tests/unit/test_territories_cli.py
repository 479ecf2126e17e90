"""`covplan territories design` on plain CSV files: round trip, metrics, and clear errors."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from orchestration.cli import main


@pytest.fixture
def accounts_csv(tmp_path):
    """Writes a generated accounts CSV (id, lat, lon, workload, revenue); returns its path and frame."""

    def write(n: int = 600, seed: int = 2) -> tuple:
        rng = np.random.default_rng(seed)
        df = pd.DataFrame(
            {
                "id": [f"C{i:04d}" for i in range(n)],
                "lat": rng.uniform(30, 45, n),
                "lon": rng.uniform(-110, -80, n),
                "workload": rng.gamma(2.0, 5.0, n),
                "revenue": rng.gamma(1.5, 1e4, n),
            }
        )
        path = tmp_path / "accounts.csv"
        df.to_csv(path, index=False)
        return path, df

    return write


@pytest.fixture
def design_args():
    """The command line every test shares: accounts file, id column, output file, then its own flags."""

    def build(path, out, *flags: str) -> list[str]:
        return [
            "territories",
            "design",
            "--accounts",
            str(path),
            "--id-column",
            "id",
            *flags,
            "--out",
            str(out),
        ]

    return build


def test_round_trip_writes_every_account_once_and_prints_metrics(tmp_path, capsys, accounts_csv, design_args):
    path, df = accounts_csv()
    out = tmp_path / "assignment.csv"
    flags = ["--territories", "6", "--measures", "workload,revenue", "--tolerance", "0.05"]
    assert main(design_args(path, out, *flags)) == 0
    got = pd.read_csv(out)
    assert list(got.columns) == ["account_id", "territory_id"]
    assert sorted(got["account_id"]) == sorted(df["id"]) and got["territory_id"].nunique() == 6
    loads = (
        got.merge(df, left_on="account_id", right_on="id")
        .groupby("territory_id")[["workload", "revenue"]]
        .sum()
    )
    assert ((loads / loads.mean() - 1).abs() <= 0.05 + 1e-9).all().all()
    printed = capsys.readouterr().out
    for figure in [
        "max_abs_deviation_workload",
        "max_abs_deviation_revenue",
        "mean_travel",
        "max_diameter_km",
    ]:
        assert figure in printed


def test_current_and_locked_columns(tmp_path, capsys, accounts_csv, design_args):
    path, df = accounts_csv(n=400)
    first = tmp_path / "first.csv"
    assert main(design_args(path, first, "--territories", "4")) == 0
    cur = pd.read_csv(first).rename(columns={"territory_id": "owner", "account_id": "id"})
    df = df.merge(cur, on="id")
    df["pin"] = None
    # pin two accounts of other territories to T-004: a shift small enough to stay within tolerance
    pinned = df.index[df["owner"] != "T-004"][:2]
    df.loc[pinned, "pin"] = "T-004"
    df.to_csv(path, index=False)
    out = tmp_path / "second.csv"
    flags = ["--territories", "4", "--current-column", "owner", "--locked-column", "pin"]
    assert main(design_args(path, out, *flags, "--disruption-weight", "1000")) == 0
    got = pd.read_csv(out).merge(df, left_on="account_id", right_on="id")
    assert (got.loc[got["pin"].notna(), "territory_id"] == "T-004").all()
    printed = capsys.readouterr().out
    assert "locks_honoured" in printed and "accounts_moved" in printed
    # with a high disruption weight only the two locked accounts move
    moved = got.loc[got["territory_id"] != got["owner"], "id"]
    assert sorted(moved) == sorted(df.loc[pinned, "id"])


def test_bad_rows_are_named_without_a_traceback(tmp_path, accounts_csv, design_args):
    path, df = accounts_csv(n=50)
    df["workload"] = df["workload"].astype(object)
    df.loc[7, "workload"] = "lots"
    df.to_csv(path, index=False)
    out = tmp_path / "o.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *design_args(path, out, "--territories", "3")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "workload" in proc.stderr and "[9]" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_missing_k_is_explained(tmp_path, capsys, accounts_csv, design_args):
    path, _ = accounts_csv(n=20)
    assert main(design_args(path, tmp_path / "o.csv")) == 2
    assert "--territories" in capsys.readouterr().err
