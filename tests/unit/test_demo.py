"""Known-answer and property tests of the demo data generator (sources/demo.py)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sources import demo, geo
from sources.demo import DemoData, generate_demo, resolve_size

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "raw_contract.md"
END = date(2024, 12, 31)
YEARS = 3
N = 2_000


@pytest.fixture(scope="module")
def data() -> DemoData:
    return generate_demo(N, seed=11, end_date=END, years=YEARS)


def _contract() -> dict[str, list[tuple[str, str | None]]]:
    """Columns (name, type) per table as written in docs/raw_contract.md (truth columns carry no type)."""
    sections = re.split(r"^## ", CONTRACT.read_text(), flags=re.MULTILINE)[1:]
    tables: dict[str, list[tuple[str, str | None]]] = {}
    for section in sections:
        header, body = section.split("\n", 1)
        name = header.split()[0].split(".")[1]
        typed = re.findall(r"\b([a-z_0-9]+) (VARCHAR|INTEGER|DOUBLE|DATE)\b", body)
        if typed:
            tables[name] = typed
        else:  # "account_id, industry_growth (yearly rate ...), wallet (...)"
            flat = " ".join(body.split())
            while re.search(r"\([^()]*\)", flat):
                flat = re.sub(r"\([^()]*\)", "", flat)
            tables[name] = [(col.strip(" .\n"), None) for col in flat.split(",")]
    return tables


def _net(tx: pd.DataFrame) -> pd.Series:
    return tx["quantity"] * tx["unit_price"] * (1.0 - tx["discount"])


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_identical_frames():
    a = generate_demo(300, seed=5, end_date=END)
    b = generate_demo(300, seed=5, end_date=END)
    for field in ("accounts", "contacts", "reps", "opportunities", "transactions", "account_truth"):
        pd.testing.assert_frame_equal(getattr(a, field), getattr(b, field), check_exact=True)


def test_different_seed_gives_different_data():
    a = generate_demo(300, seed=5, end_date=END)
    b = generate_demo(300, seed=6, end_date=END)
    assert not a.accounts.equals(b.accounts)
    assert not a.transactions.equals(b.transactions)
    assert not a.account_truth["wallet"].equals(b.account_truth["wallet"])


# --- contract ----------------------------------------------------------------------------------


def test_contract_parser_sees_every_table():
    assert set(_contract()) == {
        "accounts",
        "contacts",
        "reps",
        "opportunities",
        "transactions",
        "account_truth",
    }


def test_tables_returns_raw_tables_only(data):
    assert list(data.tables()) == ["accounts", "contacts", "reps", "opportunities", "transactions"]
    assert data.tables()["transactions"] is data.transactions


@pytest.mark.parametrize("table", ["accounts", "contacts", "reps", "opportunities", "transactions"])
def test_columns_order_and_types_match_contract(data, table):
    frame = data.tables()[table]
    expected = _contract()[table]
    assert list(frame.columns) == [name for name, _ in expected]
    for name, sql_type in expected:
        dtype = frame[name].dtype
        if sql_type == "VARCHAR":
            assert pd.api.types.is_string_dtype(dtype), (table, name, dtype)
        elif sql_type == "INTEGER":
            assert pd.api.types.is_integer_dtype(dtype), (table, name, dtype)
        elif sql_type == "DOUBLE":
            assert dtype == np.float64, (table, name, dtype)
        elif sql_type == "DATE":
            assert dtype == np.dtype(demo.DATE_DTYPE), (table, name, dtype)
            values = frame[name].dropna()
            assert (values == values.dt.normalize()).all(), (table, name)


def test_truth_columns_match_contract(data):
    assert list(data.account_truth.columns) == [name for name, _ in _contract()["account_truth"]]
    assert (data.account_truth.drop(columns="account_id").dtypes == np.float64).all()


def test_module_column_constants_match_frames(data):
    assert tuple(data.accounts.columns) == demo.ACCOUNT_COLUMNS
    assert tuple(data.contacts.columns) == demo.CONTACT_COLUMNS
    assert tuple(data.reps.columns) == demo.REP_COLUMNS
    assert tuple(data.opportunities.columns) == demo.OPPORTUNITY_COLUMNS
    assert tuple(data.transactions.columns) == demo.TRANSACTION_COLUMNS
    assert tuple(data.account_truth.columns) == demo.TRUTH_COLUMNS


def test_allowed_values(data):
    assert set(data.accounts["status"]) == {"active", "prospect"}
    assert set(data.accounts["country"]) == {"US"}
    assert data.accounts["state"].str.fullmatch(r"[A-Z]{2}").all()
    assert set(data.contacts["role"]) == set(demo.CONTACT_ROLES)
    assert set(data.reps["role"]) == set(demo.REP_ROLES)
    assert set(data.opportunities["stage"]) == set(demo.OPPORTUNITY_STAGES)
    assert set(data.transactions["channel"]) == set(demo.CHANNELS)


def test_no_nulls_outside_nullable_columns(data):
    nullable = {"accounts": {"parent_account_id", "owner_rep_id"}, "contacts": {"last_activity_date"}}
    for table, frame in data.tables().items():
        must = [c for c in frame.columns if c not in nullable.get(table, set())]
        assert not frame[must].isna().any().any(), table


# --- keys and references -----------------------------------------------------------------------


def test_keys_are_unique_and_well_formed(data):
    assert data.accounts["account_id"].is_unique
    assert data.accounts["account_id"].iloc[0] == "A0000001"
    assert data.accounts["account_id"].str.fullmatch(r"A\d{7}").all()
    assert data.reps["rep_id"].is_unique and data.reps["rep_id"].iloc[0] == "R0001"
    assert data.contacts["contact_id"].is_unique
    assert data.opportunities["opportunity_id"].is_unique
    assert data.transactions["transaction_id"].is_unique
    assert data.account_truth["account_id"].tolist() == data.accounts["account_id"].tolist()


def test_order_lines_share_account_site_and_date(data):
    per_order = data.transactions.groupby("order_id")[["account_id", "site_id", "order_date"]].nunique()
    assert (per_order == 1).all().all()


def test_transactions_reference_active_accounts_and_their_sites(data):
    tx, accounts = data.transactions, data.accounts.set_index("account_id")
    assert tx["account_id"].isin(accounts.index).all()
    assert (accounts.loc[tx["account_id"].unique(), "status"] == "active").all()
    prospects = accounts.index[accounts["status"] == "prospect"]
    assert len(prospects) > 0 and not tx["account_id"].isin(prospects).any()
    assert tx["site_id"].str.fullmatch(r"A\d{7}-S\d+").all()
    assert (tx["site_id"].str.slice(0, 8) == tx["account_id"]).all()


def test_contacts_and_opportunities_reference_accounts(data):
    ids = set(data.accounts["account_id"])
    assert data.contacts["account_id"].isin(ids).all()
    assert data.opportunities["account_id"].isin(ids).all()


def test_owner_reps_exist_and_about_five_percent_are_unowned(data):
    owner = data.accounts["owner_rep_id"]
    assert owner.dropna().isin(set(data.reps["rep_id"])).all()
    assert 0.02 < owner.isna().mean() < 0.09


def test_owner_role_follows_account_size(data):
    roles = data.accounts.merge(data.reps[["rep_id", "role"]], left_on="owner_rep_id", right_on="rep_id")
    median = roles.groupby("role")["annual_revenue"].median()
    assert median["key_account_manager"] > median["field"] > median["inside"]
    assert "specialist" not in median.index


def test_hierarchy_has_existing_larger_parents_and_no_cycles(data):
    accounts = data.accounts.set_index("account_id")
    children = accounts[accounts["parent_account_id"].notna()]
    assert 0.03 < len(children) / len(accounts) < 0.07
    assert children["parent_account_id"].isin(accounts.index).all()
    assert (children["parent_account_id"] != children.index).all()
    parents = accounts.loc[children["parent_account_id"]]
    assert parents["parent_account_id"].isna().all()  # one level deep, so no cycles
    assert (parents["employees"].to_numpy() >= children["employees"].to_numpy()).all()
    assert (parents["industry"].to_numpy() == children["industry"].to_numpy()).all()


# --- dates ---------------------------------------------------------------------------------------


def test_order_dates_lie_in_the_history_window(data):
    dates = data.transactions["order_date"]
    end = pd.Timestamp(END)
    assert dates.max() <= end
    assert dates.min() > end - pd.DateOffset(years=YEARS)
    assert dates.max() > end - pd.Timedelta(days=7)
    assert dates.min() < end - pd.DateOffset(years=YEARS) + pd.Timedelta(days=7)


def test_no_order_before_the_account_was_created(data):
    created = data.transactions["account_id"].map(data.accounts.set_index("account_id")["created_at"])
    assert (data.transactions["order_date"] >= created).all()


def test_created_at_spread_over_about_fifteen_years(data):
    created = data.accounts["created_at"]
    end = pd.Timestamp(END)
    assert created.max() <= end
    assert created.min() >= end - pd.DateOffset(years=16)
    assert created.min() < end - pd.DateOffset(years=12)


def test_contact_activity_within_two_years(data):
    activity = data.contacts["last_activity_date"].dropna()
    assert activity.max() <= pd.Timestamp(END)
    assert activity.min() > pd.Timestamp(END) - pd.DateOffset(years=2)


def test_opportunities_are_around_the_end_date(data):
    opp, end = data.opportunities, pd.Timestamp(END)
    assert 0.4 < len(opp) / N < 0.8
    assert (opp["close_date"] >= opp["created_date"]).all()
    assert (opp["created_date"] <= end).all()
    closed = opp["stage"].isin(["closed_won", "closed_lost"])
    assert (opp.loc[closed, "close_date"] <= end).all()
    assert (opp.loc[~closed, "close_date"] > end).any()
    assert (opp["amount"] > 0).all()


# --- geography ---------------------------------------------------------------------------------


def test_locations_are_jittered_real_us_places(data):
    places = geo.us_places()
    lat, lon = data.accounts["lat"].to_numpy(), data.accounts["lon"].to_numpy()
    assert geo.in_us_bounds(lat, lon).all()
    # the named city (same state) lies within the jitter radius of the account
    candidates = (
        data.accounts[["city", "state", "lat", "lon"]]
        .reset_index()
        .merge(places, on=["city", "state"], suffixes=("", "_place"))
    )
    candidates["km"] = geo.distance_km(
        candidates["lat"], candidates["lon"], candidates["lat_place"], candidates["lon_place"]
    )
    nearest = candidates.groupby("index")["km"].min()
    assert len(nearest) == len(data.accounts)
    assert nearest.max() <= 10.0
    assert nearest.median() > 0.5  # jittered, not stacked on the city centre


def test_reps_live_in_real_us_cities(data):
    reps = data.reps.merge(
        geo.us_places(),
        left_on=["home_city", "home_state", "home_lat", "home_lon"],
        right_on=["city", "state", "lat", "lon"],
    )
    assert reps["rep_id"].nunique() == len(data.reps)


def test_bigger_cities_get_more_accounts(data):
    counts = data.accounts["city"].value_counts()
    assert counts.index[0] in {"New York City", "Los Angeles", "Chicago", "Brooklyn", "Houston"}


# --- sizes and volumes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("small", 2_000),
        ("default", 20_000),
        (" Default ", 20_000),
        ("1500", 1_500),
        ("20_000", 20_000),
        (750, 750),
    ],
)
def test_resolve_size(size, expected):
    assert resolve_size(size) == expected
    assert demo.SIZES == {"small": 2_000, "default": 20_000}


@pytest.mark.parametrize("size", ["huge", "", "-5", "1.5", 0, -3, 1.5, True, None, "10000000"])
def test_resolve_size_rejects_bad_input(size):
    with pytest.raises(ValueError, match="demo size"):
        resolve_size(size)


def test_generate_rejects_bad_seed_and_years():
    with pytest.raises(ValueError, match="seed"):
        generate_demo(10, seed=-1, end_date=END)
    with pytest.raises(ValueError, match="years"):
        generate_demo(10, seed=1, end_date=END, years=0)


def test_about_one_hundred_lines_per_account(data):
    assert 80 <= len(data.transactions) / N <= 120


def test_lines_scale_with_years():
    one_year = generate_demo(300, seed=3, end_date=END, years=1)
    assert 25 <= len(one_year.transactions) / 300 <= 42
    assert one_year.transactions["order_date"].min() > pd.Timestamp(END) - pd.DateOffset(years=1)


def test_reps_count_roles_and_capacity(data):
    reps = data.reps
    counts = reps["role"].value_counts()
    # per 1,000 accounts: 0.7 key account managers, 5.4 field, 0.95 inside, 0.35 specialists
    assert counts.to_dict() == {"field": 11, "inside": 2, "key_account_manager": 1, "specialist": 1}
    assert generate_demo(50, seed=1, end_date=END).reps["role"].value_counts().to_dict() == {
        "key_account_manager": 1,
        "field": 1,
        "inside": 1,
        "specialist": 1,
    }
    assert reps["capacity_hours"].between(1_600, 1_800).all()


def test_contacts_per_account_between_1_and_12(data):
    per_account = data.contacts.groupby("account_id").size()
    assert len(per_account) == N
    assert per_account.min() >= 1 and per_account.max() <= 12


# --- transaction content -----------------------------------------------------------------------


def test_line_values_are_plausible(data):
    tx = data.transactions
    assert tx["discount"].between(0.0, 1.0).all()
    assert (tx["unit_price"] > 0).all() and (tx["unit_cost"] > 0).all()
    assert (tx["unit_cost"] < tx["unit_price"]).all()
    assert (tx["quantity"] != 0).all() and (tx["quantity"] == tx["quantity"].round()).all()
    assert 300 <= tx["product_id"].nunique() <= 500
    assert tx["product_category"].nunique() == 12
    assert (tx.groupby("product_id")["product_category"].nunique() == 1).all()
    assert (tx.groupby("product_id")["unit_price"].nunique() == 1).all()


def test_about_two_percent_returns_of_earlier_purchases(data):
    tx = data.transactions
    returns = tx[tx["quantity"] < 0]
    assert 0.01 < len(returns) / len(tx) < 0.035
    purchases = tx[tx["quantity"] > 0]
    bought = purchases.groupby(["account_id", "product_id"])["order_date"].min().rename("first_bought")
    joined = returns.join(bought, on=["account_id", "product_id"])
    assert (joined["first_bought"] < joined["order_date"]).all()


def test_multi_site_accounts_exist_and_some_buy_centrally(data):
    sites = data.transactions.groupby("account_id")["site_id"].nunique()
    assert (sites == 1).mean() > 0.8
    assert sites.max() > 2
    employees = data.accounts.set_index("account_id")["employees"]
    big = employees[employees >= 500].index.intersection(sites.index)
    assert (sites[big] == 1).any()  # central buyers order from one site only


def test_fourth_quarter_is_the_strongest(data):
    tx = data.transactions
    by_quarter = _net(tx).groupby(tx["order_date"].dt.quarter).sum()
    assert by_quarter.idxmax() == 4
    assert by_quarter[4] > 1.1 * by_quarter[1]


def test_industries_grow_at_different_rates(data):
    assert data.accounts["industry"].nunique() == len(demo.INDUSTRIES) == 8
    growth = data.account_truth.groupby(data.accounts["industry"])["industry_growth"].first()
    assert growth["healthcare"] > growth["manufacturing"] > growth["retail"]
    assert growth["retail"] < 0


# --- truth -------------------------------------------------------------------------------------


def test_truth_headroom_is_wallet_minus_current_spend(data):
    truth = data.account_truth
    np.testing.assert_allclose(truth["headroom"], truth["wallet"] - truth["current_spend"], atol=0.01)
    assert (truth["wallet"] > 0).all()
    assert truth["relationship_breadth"].between(0, 1).all() and truth["price_seeking"].between(0, 1).all()


def test_truth_current_spend_is_net_revenue_of_the_last_year(data):
    tx = data.transactions
    last_year = tx["order_date"] > pd.Timestamp(END) - pd.DateOffset(years=1)
    t12m = _net(tx[last_year]).groupby(tx.loc[last_year, "account_id"]).sum()
    truth = data.account_truth.set_index("account_id")
    expected = t12m.reindex(truth.index, fill_value=0.0)
    np.testing.assert_allclose(truth["current_spend"], expected, atol=0.02)


def test_prospects_have_no_current_spend_and_spend_stays_below_wallet(data):
    truth = data.account_truth.set_index("account_id")
    prospects = data.accounts.loc[data.accounts["status"] == "prospect", "account_id"]
    assert (truth.loc[prospects, "current_spend"] == 0).all()
    active = truth.drop(index=prospects)
    assert (active["current_spend"] <= 1.1 * active["wallet"]).mean() > 0.99


def test_some_accounts_lapse(data):
    truth = data.account_truth
    lapsing = (truth["true_growth_rate"] < -0.9).sum()
    assert 0 < lapsing < 0.05 * N


# --- latent drivers are visible in the observable data -------------------------------------------


def test_wallet_is_visible_in_firmographics(data):
    truth = data.account_truth
    assert truth["wallet"].corr(data.accounts["employees"], method="spearman") > 0.5
    assert truth["wallet"].corr(data.accounts["annual_revenue"], method="spearman") > 0.5


def test_high_growth_accounts_have_more_headroom(data):
    truth = data.account_truth.merge(data.accounts[["account_id", "status"]])
    active = truth[(truth["status"] == "active") & (truth["true_growth_rate"] > -0.5)]
    growth = active["true_growth_rate"]
    high, low = active[growth >= growth.quantile(0.75)], active[growth <= growth.quantile(0.25)]
    assert high["headroom"].mean() > low["headroom"].mean()
    assert high["headroom"].median() > low["headroom"].median()
    assert (high["headroom"] / high["wallet"]).mean() > (low["headroom"] / low["wallet"]).mean()


def test_growth_follows_industry_growth(data):
    truth = data.account_truth[data.accounts["status"] == "active"]
    assert truth["true_growth_rate"].corr(truth["industry_growth"], method="spearman") > 0.2


def test_relationship_breadth_is_visible_in_contacts(data):
    contacts = data.contacts.groupby("account_id").agg(n=("role", "size"), roles=("role", "nunique"))
    truth = data.account_truth.set_index("account_id")
    assert truth["relationship_breadth"].corr(contacts["n"], method="spearman") > 0.4
    assert truth["relationship_breadth"].corr(contacts["roles"], method="spearman") > 0.4


def test_price_seeking_is_visible_in_behaviour(data):
    tx = data.transactions.assign(
        net=_net(data.transactions),
        margin=data.transactions["quantity"]
        * (
            data.transactions["unit_price"] * (1 - data.transactions["discount"])
            - data.transactions["unit_cost"]
        ),
        rfp=data.transactions["channel"] == "rfp",
    )
    per_account = tx.groupby("account_id").agg(
        rfp=("rfp", "mean"),
        discount=("discount", "mean"),
        categories=("product_category", "nunique"),
        net=("net", "sum"),
        margin=("margin", "sum"),
    )
    per_account = per_account[per_account["net"] > 0]
    ps = data.account_truth.set_index("account_id").loc[per_account.index, "price_seeking"]
    assert ps.corr(per_account["rfp"], method="spearman") > 0.4
    assert ps.corr(per_account["discount"], method="spearman") > 0.5
    assert ps.corr(per_account["categories"], method="spearman") < -0.2
    assert ps.corr(per_account["margin"] / per_account["net"], method="spearman") < -0.3


def test_share_of_wallet_is_lower_for_narrow_relationships(data):
    truth = data.account_truth.merge(data.accounts[["account_id", "status"]])
    active = truth[truth["status"] == "active"]
    share = active["current_spend"] / active["wallet"]
    assert share.corr(active["relationship_breadth"], method="spearman") > 0.1


def test_opportunities_concentrate_on_high_headroom_accounts(data):
    truth = data.account_truth.set_index("account_id")
    has_opp = truth.index.isin(data.opportunities["account_id"])
    relative = truth["headroom"] / truth["wallet"]
    assert relative[has_opp].mean() > relative[~has_opp].mean()


def _nearest_by_full_sort(lat, lon, to_lat, to_lon, k):
    """The definition: a stable argsort of each row of the full great-circle distance matrix."""
    dist = geo.distance_km(lat[:, None], lon[:, None], to_lat[None, :], to_lon[None, :])
    return np.argsort(dist, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("k", [1, 3, 5])
def test_nearest_reps_equal_the_full_distance_sort_with_shared_homes(k):
    """Reps share home cities, so equal distances are the rule: they must come in index order, as the
    full sort gives them, including locations holding more than k reps and fewer locations than k + 2."""
    rng = np.random.default_rng(7)
    cities = np.column_stack([rng.uniform(25, 49, 6), rng.uniform(-124, -67, 6)])
    home = rng.integers(0, len(cities), 40)  # 40 reps in 6 cities: up to a dozen per city
    to_lat, to_lon = cities[home, 0], cities[home, 1]
    lat, lon = rng.uniform(25, 49, 3_000), rng.uniform(-124, -67, 3_000)
    lat[:5], lon[:5] = to_lat[:5], to_lon[:5]  # accounts sitting exactly on a rep's home
    got = demo._nearest(lat, lon, to_lat, to_lon, k)
    assert got.shape == (3_000, k)
    np.testing.assert_array_equal(got, _nearest_by_full_sort(lat, lon, to_lat, to_lon, k))
    # a city with more than k reps: the nearest account to it gets that city's k lowest rep indices
    city = int(np.bincount(home).argmax())
    at_city = np.flatnonzero(home == city)
    assert len(at_city) > k
    one = demo._nearest(cities[city : city + 1, 0], cities[city : city + 1, 1], to_lat, to_lon, k)
    np.testing.assert_array_equal(one[0], at_city[:k])


def test_nearest_reps_with_one_location_and_more_wanted_than_exist():
    to_lat, to_lon = np.full(2, 40.0), np.full(2, -100.0)
    got = demo._nearest(np.array([41.0, 30.0]), np.array([-99.0, -90.0]), to_lat, to_lon, 3)
    np.testing.assert_array_equal(got, [[0, 1], [0, 1]])
