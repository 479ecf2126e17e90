"""`covplan export`: one published plan as CSV files or a workbook, with known row counts and plan_id."""

from datetime import date, datetime

import pandas as pd
import pytest
from test_publish import _publish, warehouse  # noqa: F401 - the fixture is used by name

from orchestration.cli import main
from planning.export import export_plan
from planning.publish import PUBLISHED_TABLES, PublishError


@pytest.fixture
def published(warehouse, tmp_path):  # noqa: F811
    out = tmp_path / "published"
    _publish(warehouse, out, "y1", accounts=3, created=datetime(2026, 1, 1))
    _publish(warehouse, out, "s1", kind="scenario", accounts=5, created=datetime(2026, 2, 1))
    _publish(warehouse, out, "y0", as_of=date(2026, 4, 1), accounts=4, created=datetime(2026, 3, 1))
    return out


def test_csv_of_the_plan_in_force(published, tmp_path, capsys):
    out = tmp_path / "csv"
    assert main(["export", "--published", str(published), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.csv" for t in PUBLISHED_TABLES)
    plan = pd.read_csv(out / "account_plan.csv")
    assert len(plan) == 3 and set(plan["plan_id"]) == {"y1"}  # not the newer scenario nor the backfill
    assert pd.read_csv(out / "territories.csv")["goal"].sum() == pytest.approx(30.0)  # 0 + 10 + 20
    assert len(pd.read_csv(out / "plan_runs.csv")) == 1
    assert "plan y1: plan_runs 1, account_plan 3, territories 2" in capsys.readouterr().out


def test_xlsx_of_a_kept_plan_has_a_sheet_per_table_and_the_column_descriptions(published, tmp_path):
    result = export_plan(published, "s1", "xlsx", tmp_path / "xl")
    assert result.files == [tmp_path / "xl" / "s1.xlsx"]
    sheets = pd.read_excel(result.files[0], sheet_name=None)
    assert list(sheets) == [*PUBLISHED_TABLES, "columns"]
    assert len(sheets["account_plan"]) == 5 and set(sheets["account_plan"]["plan_id"]) == {"s1"}
    assert result.row_counts == {
        "plan_runs": 1,
        "account_plan": 5,
        "territories": 2,
        "territory_goals": 2,
        "coverage_summary": 1,
    }
    columns = sheets["columns"]
    goal = columns[(columns["table"] == "account_plan") & (columns["column"] == "goal")]
    assert goal["description"].iloc[0].startswith("Revenue goal this plan sets")


def test_an_unknown_plan_names_the_kept_plans(published, tmp_path, capsys):
    assert (
        main(["export", "--published", str(published), "--plan", "nope", "--out", str(tmp_path / "x")]) == 2
    )
    assert "plan 'nope' is not kept there; kept plans: y0, s1, y1" in capsys.readouterr().err
    with pytest.raises(PublishError, match="no published plan yet"):
        export_plan(tmp_path / "empty", "latest", "csv", tmp_path / "x")


def test_csv_export_into_a_folder_with_a_quote_in_its_name(published, tmp_path):
    out = tmp_path / "o'brien's plan"  # the path reaches DuckDB's COPY as a quoted literal
    result = export_plan(published, "latest", "csv", out)
    assert result.plan_id == "y1" and len(pd.read_csv(out / "account_plan.csv")) == 3
