"""Build the dbt project once on the hand-made fixture (make_fixture.py) and check known answers.

One `dbt build` per module (models, data tests and YAML unit tests); the assertions then read the
marts. Expected values are worked out by hand from the fixture lines, and the point-in-time
windows are re-derived independently in Python from the raw lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import duckdb
import pytest
from dbt_build import run_dbt_build
from make_fixture import ACCOUNTS, TRANSACTIONS, write_fixture

A1 = "A0000001"


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    work_dir = tmp_path_factory.mktemp("dbt_fixture")
    warehouse = write_fixture(work_dir / "warehouse.duckdb")
    run_dbt_build(warehouse, work_dir)
    connection = duckdb.connect(str(warehouse))
    yield connection
    connection.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def one(con: duckdb.DuckDBPyConnection, sql: str) -> dict:
    result = rows(con, sql)
    assert len(result) == 1, f"expected one row from {sql!r}, got {len(result)}"
    return result[0]


def net(line: tuple) -> float:
    """Net revenue of a fixture line, per the raw contract."""
    quantity, unit_price, discount = line[7], line[8], line[10]
    return quantity * unit_price * (1 - discount)


def add_quarters(day: date, n: int) -> date:
    month = day.year * 12 + day.month - 1 + 3 * n
    return date(month // 12, month % 12 + 1, day.day)


def test_schemas_are_exactly_staging_intermediate_marts(con):
    found = {
        (schema, name)
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema not in ('raw', 'main', 'information_schema', 'pg_catalog')"
        ).fetchall()
    }
    # besides the models' schemas, dbt writes only its invocation log (the on-run-start hook)
    assert {n for s, n in found if s == "state"} == {"dbt_invocations"}
    assert {s for s, _ in found} - {"state"} == {"staging", "intermediate", "marts"}
    assert {("marts", m) for m in (
        "dim_accounts", "fct_account_value", "fct_buying_behaviour", "fct_quarterly_revenue", "fct_account_features",
    )} <= found  # fmt: skip
    assert ("staging", "stg_erp__transactions") in found


def test_calendar_derives_as_of_from_latest_order(con):
    calendar = rows(con, "select * from intermediate.int_plan_calendar order by cutoff_date")
    assert [r["cutoff_date"] for r in calendar] == [add_quarters(date(2023, 1, 1), n) for n in range(9)]
    assert {r["as_of_date"] for r in calendar} == {date(2025, 1, 1)}
    assert [r["cutoff_date"] for r in calendar if r["is_latest"]] == [date(2025, 1, 1)]
    assert [r["cutoff_date"] for r in calendar if r["label_observable"]] == [
        add_quarters(date(2023, 1, 1), n) for n in range(5)
    ]


def test_dim_accounts_contacts_and_pipeline(con):
    assert one(con, "select count(*) as n from marts.dim_accounts")["n"] == len(ACCOUNTS)
    a1 = one(con, f"select * from marts.dim_accounts where account_id = '{A1}'")
    assert a1["n_contacts"] == 3
    assert a1["n_contact_roles"] == 2
    assert a1["last_contact_activity_date"] == date(2024, 11, 1)
    assert (a1["n_open_opportunities"], a1["open_pipeline_amount"]) == (1, 5000.0)
    prospect = one(con, "select * from marts.dim_accounts where account_id = 'A0000003'")
    assert (prospect["status"], prospect["n_contacts"], prospect["open_pipeline_amount"]) == (
        "prospect",
        0,
        8000.0,
    )
    assert one(con, "select parent_account_id from marts.dim_accounts where account_id = 'A0000005'") == {
        "parent_account_id": A1
    }


def test_account_value_of_a1(con):
    a1 = one(con, f"select * from marts.fct_account_value where account_id = '{A1}'")
    assert a1["as_of_date"] == date(2025, 1, 1)
    # 2024 lines: 16000 (on 2024-01-01) + 20000 + 14000 - 1000 (return) + 1000 (2024-12-31)
    assert a1["revenue_t12m"] == pytest.approx(50_000)
    assert a1["gross_margin_t12m"] == pytest.approx(17_700)
    assert a1["margin_pct_t12m"] == pytest.approx(0.354)
    # 2023 lines: 9000 + 10000 (on 2023-12-31)
    assert a1["revenue_prev_t12m"] == pytest.approx(19_000)
    assert a1["yoy_growth"] == pytest.approx(31_000 / 19_000)
    assert a1["revenue_lifetime"] == pytest.approx(70_000)
    assert (a1["first_order_date"], a1["last_order_date"]) == (date(2022, 6, 10), date(2024, 12, 31))
    assert a1["tenure_years"] == pytest.approx((date(2025, 1, 1) - date(2022, 6, 10)).days / 365.25)
    assert a1["orders_t12m"] == 3  # O04, O05, O07; O06 holds only a return
    assert a1["clv_estimate"] == pytest.approx(17_700 * 1.1 / 0.3)
    assert a1["size_bucket"] == ">=50K"  # exactly at the threshold


def test_size_buckets_and_yoy_edge_cases(con):
    value = {r["account_id"]: r for r in rows(con, "select * from marts.fct_account_value")}
    assert len(value) == len(ACCOUNTS)
    assert {k: v["size_bucket"] for k, v in value.items()} == {
        "A0000001": ">=50K",
        "A0000002": "<5K",
        "A0000003": "blank",  # prospect
        "A0000004": "blank",  # nothing in the last 12 months
        "A0000005": "<50K",  # exactly 35000
        "A0000006": "<35K",  # 34999.99
        "A0000007": "<5K",
        "A0000008": "<5K",
        "A0000009": "blank",
    }
    assert value["A0000004"]["yoy_growth"] == pytest.approx(-1.0)
    assert value["A0000002"]["yoy_growth"] is None  # nothing the year before
    prospect = value["A0000003"]
    assert (prospect["revenue_t12m"], prospect["orders_t12m"], prospect["clv_estimate"]) == (0, 0, 0)
    assert (prospect["first_order_date"], prospect["tenure_years"]) == (None, 0)


def test_buying_behaviour_of_a1(con):
    a1 = one(con, f"select * from marts.fct_buying_behaviour where account_id = '{A1}'")
    purchases = 51_000  # 2024 purchase lines before returns
    assert (a1["orders_t12m"], a1["lines_t12m"]) == (3, 5)
    assert a1["orders_per_month"] == pytest.approx(3 / 12)
    assert a1["recency_days"] == 1
    assert (a1["n_categories_t12m"], a1["n_products_t12m"]) == (3, 3)
    assert a1["share_rfp"] == pytest.approx(16_000 / purchases)
    assert a1["share_web"] == pytest.approx(34_000 / purchases)
    assert a1["share_phone"] == pytest.approx(1_000 / purchases)
    assert (a1["share_field"], a1["share_edi"]) == (0, 0)
    assert a1["avg_discount_t12m"] == pytest.approx(4_000 / 55_000)
    assert a1["n_sites_t12m"] == 2
    assert a1["top_site_share_t12m"] == pytest.approx(50_000 / purchases)
    assert a1["central_buying"] is True
    assert a1["return_rate_t12m"] == pytest.approx(1 / 5)
    narrowness = 1 - (3 - 1) / (5 - 1)
    expected_index = (16_000 / purchases + (4_000 / 55_000) / 0.3 + narrowness) / 3
    assert a1["price_seeking_index"] == pytest.approx(expected_index)

    prospect = one(con, "select * from marts.fct_buying_behaviour where account_id = 'A0000003'")
    assert prospect["recency_days"] is None
    assert prospect["price_seeking_index"] is None
    assert (prospect["share_web"], prospect["central_buying"]) == (0, False)


def test_quarterly_revenue_of_a1(con):
    quarters = rows(
        con,
        f"select quarter_start, revenue, gross_margin, orders from marts.fct_quarterly_revenue "
        f"where account_id = '{A1}' order by quarter_start",
    )
    assert [(q["quarter_start"], round(q["revenue"], 6), q["orders"]) for q in quarters] == [
        (date(2022, 4, 1), 1_000, 1),
        (date(2023, 1, 1), 9_000, 1),
        (date(2023, 10, 1), 10_000, 1),
        (date(2024, 1, 1), 16_000, 1),
        (date(2024, 4, 1), 34_000, 1),
        (date(2024, 10, 1), 0, 1),  # a 1000 return and a 1000 order
    ]


def test_features_cut_at_the_cutoff_date(con):
    a1 = one(
        con,
        f"select * from marts.fct_account_features where account_id = '{A1}' and cutoff_date = '2024-01-01'",
    )
    assert a1["is_latest"] is False
    assert a1["revenue_t12m"] == pytest.approx(19_000)  # includes the line of 2023-12-31
    assert a1["revenue_last_q"] == pytest.approx(10_000)
    assert a1["revenue_prev_t12m"] == pytest.approx(1_000)
    assert a1["gross_margin_t12m"] == pytest.approx(6_000)
    assert (a1["orders_t12m"], a1["n_categories_t12m"]) == (2, 2)
    assert a1["share_rfp"] == pytest.approx(10_000 / 19_000)
    assert a1["share_web"] == 0
    assert a1["avg_discount"] == pytest.approx(1_000 / 20_000)
    assert a1["recency_days"] == 1
    assert a1["tenure_days"] == (date(2024, 1, 1) - date(2022, 6, 10)).days
    assert a1["n_contacts"] == 3
    assert a1["label_observable"] is True
    assert a1["label_revenue_next_4q"] == pytest.approx(50_000)  # includes the line of 2024-01-01

    later = one(
        con,
        f"select * from marts.fct_account_features where account_id = '{A1}' and cutoff_date = '2024-04-01'",
    )
    assert later["revenue_t12m"] == pytest.approx(26_000)
    assert later["label_revenue_next_4q"] is None


def test_features_only_for_accounts_created_before_the_cutoff(con):
    features = rows(con, "select account_id, cutoff_date, is_latest from marts.fct_account_features")
    created = {a[0]: a[11] for a in ACCOUNTS}
    cutoffs = [add_quarters(date(2023, 1, 1), n) for n in range(9)]
    expected = {(acc, c) for acc, day in created.items() for c in cutoffs if day < c}
    assert {(r["account_id"], r["cutoff_date"]) for r in features} == expected
    assert len(features) == len(expected) == 66
    assert {r["cutoff_date"] for r in features if r["account_id"] == "A0000007"} == set(cutoffs[6:])
    assert all(r["is_latest"] == (r["cutoff_date"] == date(2025, 1, 1)) for r in features)


def test_features_use_only_lines_before_the_cutoff(con):
    """Re-derive every feature window and label from the raw lines: no leakage across the cut-off."""
    features = rows(con, "select * from marts.fct_account_features")
    for f in features:
        cutoff = f["cutoff_date"]
        mine = [t for t in TRANSACTIONS if t[2] == f["account_id"]]
        before = [t for t in mine if t[4] < cutoff]
        t12m = [t for t in before if t[4] >= add_quarters(cutoff, -4)]
        label = [t for t in mine if cutoff <= t[4] < add_quarters(cutoff, 4)]
        key = (f["account_id"], cutoff)
        assert f["revenue_t12m"] == pytest.approx(sum(map(net, t12m))), key
        assert f["recency_days"] == ((cutoff - max(t[4] for t in before)).days if before else None), key
        assert f["tenure_days"] == ((cutoff - min(t[4] for t in before)).days if before else 0), key
        if f["label_observable"]:
            assert f["label_revenue_next_4q"] == pytest.approx(sum(map(net, label))), key
        else:
            assert f["label_revenue_next_4q"] is None, key


def test_account_value_lifecycle_order_value_and_group(con):
    value = {r["account_id"]: r for r in rows(con, "select * from marts.fct_account_value")}
    assert {k: v["lifecycle"] for k, v in value.items()} == {
        "A0000001": "active",
        "A0000002": "active",
        "A0000003": "pipeline",  # prospect with an open opportunity
        "A0000004": "lapsed",  # last order 2023-06-01, 580 days before as_of
        "A0000005": "active",
        "A0000006": "active",
        "A0000007": "active",
        "A0000008": "active",  # status inferred from its lines
        "A0000009": "prospect",  # status inferred, no pipeline
    }
    assert value[A1]["avg_order_value_t12m"] == pytest.approx(51_000 / 3)
    assert value["A0000003"]["avg_order_value_t12m"] is None
    # A1 -> A5 -> A9: the group is A1's tree; A5's rollup is itself and A9.
    for account, depth in ((A1, 0), ("A0000005", 1), ("A0000009", 2)):
        assert value[account]["top_parent_account_id"] == A1
        assert value[account]["hierarchy_depth"] == depth
        assert value[account]["group_revenue_t12m"] == pytest.approx(85_000)
        assert value[account]["n_group_accounts"] == 3
    assert value[A1]["rollup_revenue_t12m"] == pytest.approx(85_000)
    assert value["A0000005"]["rollup_revenue_t12m"] == pytest.approx(35_000)
    assert value["A0000002"]["group_revenue_t12m"] == pytest.approx(4_999.99)
    assert value[A1]["margin_cost_coverage_t12m"] == pytest.approx(1.0)


def test_user_file_without_optional_columns(con):
    """A8 lacks status, order ids, site ids and one unit cost; A9 lacks a status and has no lines."""
    a8 = one(con, "select * from marts.dim_accounts where account_id = 'A0000008'")
    assert (a8["status"], a8["status_inferred"], a8["country"]) == ("active", True, None)
    a9 = one(con, "select * from marts.dim_accounts where account_id = 'A0000009'")
    assert (a9["status"], a9["status_inferred"]) == ("prospect", True)
    assert one(con, f"select status_inferred from marts.dim_accounts where account_id = '{A1}'") == {
        "status_inferred": False
    }
    lines = rows(con, "select * from staging.stg_erp__transactions where account_id = 'A0000008' order by 1")
    assert [(r["order_id"], r["site_id"]) for r in lines] == [
        ("line:T15", "A0000008"),
        ("line:T16", "A0000008"),
    ]
    assert [r["gross_margin"] for r in lines] == [None, pytest.approx(400)]
    value = one(con, "select * from marts.fct_account_value where account_id = 'A0000008'")
    assert value["revenue_t12m"] == pytest.approx(2_000)
    assert value["gross_margin_t12m"] == pytest.approx(400)  # the costed line only
    assert value["margin_pct_t12m"] == pytest.approx(0.4)  # over the costed revenue
    assert value["margin_cost_coverage_t12m"] == pytest.approx(0.5)
    assert value["clv_estimate"] == pytest.approx(400 * 1.1 / 0.3)
    assert (value["orders_t12m"], value["avg_order_value_t12m"]) == (2, pytest.approx(1_000))
    behaviour = one(con, "select * from marts.fct_buying_behaviour where account_id = 'A0000008'")
    assert (behaviour["n_sites_t12m"], behaviour["central_buying"]) == (1, False)
    assert behaviour["share_orders_rfp"] == pytest.approx(0.5)
    assert (behaviour["n_contacts"], behaviour["n_contact_roles"], behaviour["single_threaded"]) == (
        2,
        1,
        True,
    )


def test_buying_behaviour_regularity_and_threads(con):
    a1 = one(con, f"select * from marts.fct_buying_behaviour where account_id = '{A1}'")
    assert (a1["orders_rfp_t12m"], a1["share_orders_rfp"]) == (1, pytest.approx(1 / 3))
    # Purchases in Jan (16000), May (34000) and Dec (1000) 2024; November holds only a return.
    assert a1["active_months_t12m"] == 3
    assert a1["purchase_regularity"] == pytest.approx(0.25)
    monthly = [16_000, 34_000, 1_000] + [0] * 9
    mean = sum(monthly) / 12
    sd = (sum((x - mean) ** 2 for x in monthly) / 12) ** 0.5
    assert a1["monthly_sales_cv_t12m"] == pytest.approx(sd / mean)
    assert (a1["n_contacts"], a1["n_contact_roles"], a1["single_threaded"]) == (3, 2, False)
    a2 = one(con, "select * from marts.fct_buying_behaviour where account_id = 'A0000002'")
    assert a2["single_threaded"] is True  # one contact
    prospect = one(con, "select * from marts.fct_buying_behaviour where account_id = 'A0000003'")
    assert (prospect["purchase_regularity"], prospect["monthly_sales_cv_t12m"]) == (0, None)
    assert prospect["single_threaded"] is False  # no contact at all


def test_monthly_revenue_of_a1(con):
    months = rows(
        con,
        f"select month_start, revenue, n_purchase_lines from intermediate.int_account_months "
        f"where account_id = '{A1}' and month_start >= '2024-01-01' order by month_start",
    )
    assert [(m["month_start"], round(m["revenue"], 6), m["n_purchase_lines"]) for m in months] == [
        (date(2024, 1, 1), 16_000, 1),
        (date(2024, 5, 1), 34_000, 2),
        (date(2024, 11, 1), -1_000, 0),
        (date(2024, 12, 1), 1_000, 1),
    ]


def test_dim_reps_lists_roster_and_unknown_owners(con):
    reps = {r["rep_id"]: r for r in rows(con, "select * from marts.dim_reps")}
    assert set(reps) == {"R0001", "R0002", "R0099"}
    assert (reps["R0001"]["rep_name"], reps["R0001"]["rep_role"], reps["R0001"]["home_city"]) == (
        "Rita Field",
        "field",
        "Chicago",
    )
    assert reps["R0001"]["capacity_hours"] == 1500
    assert (reps["R0001"]["n_accounts_owned"], reps["R0002"]["n_accounts_owned"]) == (3, 3)
    assert reps["R0002"]["n_active_accounts_owned"] == 2  # A2, A7 (A4 lapsed)
    assert reps["R0001"]["revenue_t12m_owned"] == pytest.approx(50_000 + 35_000 + 34_999.99)
    unknown = reps["R0099"]
    assert (unknown["in_roster"], unknown["rep_name"], unknown["n_accounts_owned"]) == (False, None, 1)
