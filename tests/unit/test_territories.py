import numpy as np
import pandas as pd
import pytest

from planning.territories import (
    SolverOptions,
    TerritoryDesignError,
    assign_new_accounts,
    bisect_geographic,
    design_pool,
    design_territories,
    haversine_km,
    staff_territories,
)


def _accounts(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "account_id": [f"A{i:05d}" for i in range(n)],
            "coverage_role": rng.choice(["field", "inside", "key_account_manager"], n, p=[0.5, 0.45, 0.05]),
            "workload_hours": rng.gamma(2.0, 8.0, n),
            "lat": rng.uniform(26, 48, n),
            "lon": rng.uniform(-122, -70, n),
            "revenue_t12m": rng.gamma(1.0, 1e4, n),
            "potential": rng.gamma(1.0, 2e4, n),
        }
    )


def test_haversine_known_distance():
    # New York City → Los Angeles is about 3,936 km great-circle
    assert haversine_km(40.7128, -74.0060, 34.0522, -118.2437) == pytest.approx(3936, rel=0.01)


def test_bisection_balances_and_keeps_cells_compact():
    rng = np.random.default_rng(1)
    lat, lon = rng.uniform(30, 45, 4000), rng.uniform(-110, -80, 4000)
    w = rng.uniform(1, 3, 4000)
    cell = bisect_geographic(lat, lon, w, 8)
    loads = np.bincount(cell, weights=w)
    assert set(cell) == set(range(8))
    assert np.abs(loads / loads.mean() - 1).max() < 0.01
    # compact: each cell spans a fraction of the whole area
    spans = [np.ptp(lon[cell == c]) * np.ptp(lat[cell == c]) for c in range(8)]
    assert max(spans) < 0.5 * np.ptp(lon) * np.ptp(lat)


def test_design_assigns_every_account_once_within_tolerance():
    accounts = _accounts(3000)
    design = design_territories(
        accounts, {"field": 10, "inside": 6, "key_account_manager": 2}, ["field"], 0.05
    )
    a = design.assignment
    assert len(a) == 3000 and a["account_id"].is_unique
    assert design.metrics["territories"] == 18
    assert design.metrics["territories_outside_tolerance"] == 0
    assert (design.territories["balance_deviation"].abs() <= 0.05).all()
    # territory ids carry the pool: a KAM account never lands in a field territory
    merged = a.merge(accounts, on="account_id")
    assert (merged["role"] == merged["coverage_role"]).all()
    assert design.territories["accounts"].sum() == 3000


def test_design_is_deterministic():
    accounts = _accounts(1500)
    a = design_territories(accounts, {"field": 5, "inside": 3}, ["field"], 0.05).assignment
    b = design_territories(accounts, {"field": 5, "inside": 3}, ["field"], 0.05).assignment
    pd.testing.assert_frame_equal(a, b)


def test_quarterly_keeps_existing_and_places_new_accounts():
    accounts = _accounts(2000)
    first = design_territories(
        accounts.iloc[:1800], {"field": 6, "inside": 4, "key_account_manager": 1}, ["field"], 0.05
    )
    again = assign_new_accounts(accounts, first.assignment, ["field"], 0.05)
    merged = again.assignment.merge(first.assignment, on="account_id", how="left", suffixes=("", "_prev"))
    kept = merged["territory_id_prev"].notna()
    assert (merged.loc[kept, "territory_id"] == merged.loc[kept, "territory_id_prev"]).all()
    assert kept.sum() == 1800 and len(merged) == 2000
    assert again.metrics["accounts_placed"] == 200
    # new field accounts go to an existing field territory, never a new one
    assert set(again.assignment["territory_id"]) == set(first.assignment["territory_id"])


def test_staffing_matches_nearest_rep_and_leaves_vacancies():
    terr = pd.DataFrame(
        {
            "territory_id": ["FLD-001", "FLD-002", "INS-001"],
            "role": ["field", "field", "inside"],
            "centre_lat": [40.7, 34.0, 0.0],
            "centre_lon": [-74.0, -118.2, 0.0],
        }
    )
    reps = pd.DataFrame(
        {
            "rep_id": ["R1", "R2"],
            "role": ["field", "field"],
            "home_lat": [34.1, 40.6],
            "home_lon": [-118.0, -73.9],
        }
    )
    out = staff_territories(terr, reps, ["field"]).set_index("territory_id")
    assert out.loc["FLD-001", "owner_rep_id"] == "R2"  # New York territory → the rep who lives there
    assert out.loc["FLD-002", "owner_rep_id"] == "R1"
    assert pd.isna(out.loc["INS-001", "owner_rep_id"])


# --- the optimiser: known answers ---------------------------------------------------------------


def _field(n: int, seed: int = 3) -> pd.DataFrame:
    acc = _accounts(n, seed)
    return acc.assign(coverage_role="field")


def test_field_pool_reaches_the_one_percent_aim_and_beats_bisection_on_travel():
    accounts = _field(2000)
    design = design_territories(accounts, {"field": 10}, ["field"], 0.05)
    loads = design.assignment.merge(accounts, on="account_id").groupby("territory_id")["workload_hours"].sum()
    assert (loads / loads.mean() - 1).abs().max() <= 0.01 + 1e-9
    # travel versus the compact-rectangle bisection it starts from (same centres rule: mean position)
    cell = bisect_geographic(
        accounts["lat"].to_numpy(), accounts["lon"].to_numpy(), accounts["workload_hours"].to_numpy(), 10
    )
    from planning.territories_engine import centroids

    c_lat, c_lon = centroids(accounts["lat"].to_numpy(), accounts["lon"].to_numpy(), cell, 10)
    bisect_travel = haversine_km(accounts["lat"], accounts["lon"], c_lat[cell], c_lon[cell]).mean()
    assert design.metrics["mean_travel_km"] < bisect_travel


def test_several_measures_each_within_tolerance():
    accounts = _field(1500).assign(coverage_role="inside")
    design = design_territories(
        accounts, {"inside": 6}, [], 0.05, measures=["workload_hours", "revenue_t12m", "accounts"]
    )
    for m in ["workload_hours", "revenue_t12m", "accounts"]:
        assert design.metrics[f"max_abs_deviation_{m}"] <= 0.05, m
    assert design.metrics["territories_outside_tolerance"] == 0


def test_locks_are_always_honoured_even_far_from_their_territory():
    accounts = _field(1200)
    first = design_territories(accounts, {"field": 6}, ["field"], 0.05)
    # lock the 30 westernmost accounts to the territory holding the easternmost account
    east = first.assignment.set_index("account_id").loc[
        accounts.loc[accounts["lon"].idxmax(), "account_id"], "territory_id"
    ]
    west = accounts.nsmallest(30, "lon")["account_id"]
    locks = dict.fromkeys(west, east)
    design = design_territories(accounts, {"field": 6}, ["field"], 0.05, locks=locks)
    got = design.assignment.set_index("account_id").loc[list(west), "territory_id"]
    assert (got == east).all()
    assert design.metrics["locks"] == 30 and design.metrics["locks_honoured"] == 30
    assert design.territories.set_index("territory_id").loc[east, "locked_accounts"] == 30


def test_a_lock_to_an_unknown_territory_is_a_clear_error():
    accounts = _field(200)
    with pytest.raises(TerritoryDesignError, match="A00003.*FLD-099"):
        design_territories(accounts, {"field": 3}, ["field"], 0.05, locks={"A00003": "FLD-099"})


def test_high_disruption_weight_moves_nothing_when_the_current_plan_is_balanced():
    accounts = _field(1500)
    current = design_territories(accounts, {"field": 8}, ["field"], 0.05).assignment
    # a new year: workload shifts a little (still within tolerance for the current plan)
    rng = np.random.default_rng(9)
    shifted = accounts.assign(
        workload_hours=accounts["workload_hours"] * rng.uniform(0.99, 1.01, len(accounts))
    )
    sticky = design_territories(
        shifted,
        {"field": 8},
        ["field"],
        0.05,
        options=SolverOptions(disruption_weight=1000.0),
        previous=current,
    )
    assert sticky.metrics["accounts_moved"] == 0
    loose = design_territories(
        shifted, {"field": 8}, ["field"], 0.05, options=SolverOptions(disruption_weight=0.0), previous=current
    )
    assert sticky.metrics["accounts_moved"] <= loose.metrics["accounts_moved"]
    # and when balance demands it, accounts do move: double the workload in one territory's area
    heavy = current[current["territory_id"] == "FLD-001"]["account_id"]
    skewed = shifted.assign(
        workload_hours=np.where(
            shifted["account_id"].isin(heavy), shifted["workload_hours"] * 1.5, shifted["workload_hours"]
        )
    )
    forced = design_territories(
        skewed,
        {"field": 8},
        ["field"],
        0.05,
        options=SolverOptions(disruption_weight=1000.0),
        previous=current,
    )
    assert forced.metrics["accounts_moved"] > 0
    assert forced.metrics["territories_outside_tolerance"] == 0


def test_quarterly_mode_never_moves_existing_accounts_and_keeps_balance():
    accounts = _field(2200)
    first = design_territories(accounts.iloc[:2000], {"field": 8}, ["field"], 0.05)
    again = assign_new_accounts(accounts, first.assignment, ["field"], 0.05)
    merged = again.assignment.merge(first.assignment, on="account_id", how="left", suffixes=("", "_prev"))
    kept = merged["territory_id_prev"].notna()
    assert kept.sum() == 2000
    assert (merged.loc[kept, "territory_id"] == merged.loc[kept, "territory_id_prev"]).all()
    assert again.metrics["accounts_moved"] == 0
    assert again.metrics["territories_outside_tolerance"] == 0


def test_solver_is_deterministic_with_a_seed():
    accounts = _accounts(1500)
    opts = SolverOptions(seed=5)
    a = design_territories(accounts, {"field": 5, "inside": 3}, ["field"], 0.05, options=opts)
    b = design_territories(accounts, {"field": 5, "inside": 3}, ["field"], 0.05, options=opts)
    pd.testing.assert_frame_equal(a.assignment, b.assignment)
    pd.testing.assert_frame_equal(a.territories, b.territories)


def test_travel_matrix_replaces_geography():
    # two depots; accounts 0-99 are 1 unit from depot N and 10 from S, accounts 100-199 the reverse
    n = 200
    frame = pd.DataFrame({"account_id": [f"A{i:03d}" for i in range(n)], "workload": np.ones(n)})
    near_north = np.arange(n) < 100
    dist = pd.DataFrame(
        {
            "account_id": np.repeat(frame["account_id"].to_numpy(), 2),
            "territory_id": np.tile(["N", "S"], n),
            "distance": np.where(np.repeat(near_north, 2), np.tile([1.0, 10.0], n), np.tile([10.0, 1.0], n)),
        }
    )
    out, _, _ = design_pool(frame, ["N", "S"], ["workload"], SolverOptions(), False, distances=dist)
    assert (out.loc[near_north, "territory_id"] == "N").all()
    assert (out.loc[~near_north, "territory_id"] == "S").all()
    assert out["travel"].sum() == pytest.approx(200.0)
    # unequal sides: 150 near N, 50 near S; balance within the 1 % aim (N holds at most 101) forces
    # 49 of the N side to S at cost 10, and no more: travel 101 x 1 + 49 x 10 + 50 x 1
    skew = np.arange(n) < 150
    dist["distance"] = np.where(np.repeat(skew, 2), np.tile([1.0, 10.0], n), np.tile([10.0, 1.0], n))
    out, _, _ = design_pool(frame, ["N", "S"], ["workload"], SolverOptions(), False, distances=dist)
    assert (out["territory_id"] == "N").sum() == 101
    assert (out.loc[~skew, "territory_id"] == "S").all()
    assert out["travel"].sum() == pytest.approx(641.0)


def test_fixed_centres_keep_their_position():
    frame = _field(600).rename(columns={"workload_hours": "workload"})
    centres = pd.DataFrame({"territory_id": ["W", "E"], "lat": [37.0, 37.0], "lon": [-115.0, -80.0]})
    out, cen, _ = design_pool(frame, ["W", "E"], ["workload"], SolverOptions(), True, centres=centres)
    assert cen["centre_lon"].tolist() == [-115.0, -80.0]
    west = frame.set_index("account_id").loc[out.loc[out["territory_id"] == "W", "account_id"], "lon"]
    east = frame.set_index("account_id").loc[out.loc[out["territory_id"] == "E", "account_id"], "lon"]
    assert west.median() < east.median()


def test_rep_home_bases_as_fixed_centres_give_one_territory_per_rep():
    from orchestration.assets.planning import rep_centres

    accounts = _field(900)
    reps = pd.DataFrame(
        {
            "rep_id": ["R3", "R1", "R2", "I1"],
            "role": ["field", "field", "field", "inside"],
            "home_lat": [40.7, 34.0, 41.9, 0.0],
            "home_lon": [-74.0, -118.2, -87.6, 0.0],
        }
    )
    centres = rep_centres(reps, ["field"])
    assert list(centres) == ["field"] and centres["field"]["territory_id"].tolist() == [
        "FLD-001",
        "FLD-002",
        "FLD-003",
    ]
    design = design_territories(accounts, {"field": 9}, ["field"], 0.05, centres=centres)
    terr = design.territories.set_index("territory_id")
    assert len(terr) == 3 and design.metrics["territories_outside_tolerance"] == 0
    # R1 (sorted first) lives in Los Angeles: FLD-001 is centred there and holds the western accounts
    assert terr.loc["FLD-001", ["centre_lat", "centre_lon"]].tolist() == [34.0, -118.2]
    west = design.assignment.merge(accounts, on="account_id").query("lon < -110")
    assert (west["territory_id"] == "FLD-001").mean() > 0.9


def test_territory_settings_are_validated_at_load():
    from planning.config import ConfigError, load_config

    cfg = load_config(
        overrides={"territories.measures": ["workload", "value"], "territories.locks": {"A1": "FLD-001"}}
    )
    assert cfg.territories.measures == ["workload", "value"] and cfg.territories.balance_target == 0.01
    with pytest.raises(ConfigError, match="territories.measures"):
        load_config(overrides={"territories.measures": ["workload", "hours"]})


def test_staffing_tolerates_reps_without_home_base():
    terr = pd.DataFrame(
        {
            "territory_id": ["FLD-001", "FLD-002"],
            "role": ["field", "field"],
            "centre_lat": [40.7, 34.0],
            "centre_lon": [-74.0, -118.2],
        }
    )
    reps = pd.DataFrame(
        {
            "rep_id": ["R1", "R2"],
            "role": ["field", "field"],
            "home_lat": [34.1, np.nan],
            "home_lon": [-118.0, np.nan],
        }
    )
    out = staff_territories(terr, reps, ["field"]).set_index("territory_id")
    assert out.loc["FLD-002", "owner_rep_id"] == "R1"  # the located rep gets the territory near home
    assert out.loc["FLD-001", "owner_rep_id"] == "R2"  # the rep without a base takes the other one


def _cluster(
    rng: np.random.Generator, n: int, lat: float, lon: float, km: float, prefix: str
) -> pd.DataFrame:
    """n accounts scattered within about `km` of (lat, lon)."""
    return pd.DataFrame(
        {
            "account_id": [f"{prefix}{i:05d}" for i in range(n)],
            "lat": lat + rng.uniform(-1, 1, n) * km / 111.32,
            "lon": lon + rng.uniform(-1, 1, n) * km / 111.32 / np.cos(np.radians(lat)),
            "workload_hours": rng.gamma(4.0, 5.0, n),
        }
    )


def _solve(frame: pd.DataFrame, k: int, measures=("workload_hours",)) -> pd.Series:
    ids = [f"T{i}" for i in range(k)]
    out, _, _ = design_pool(frame, ids, list(measures), SolverOptions(seed=5), geographic=True)
    return out.set_index("account_id")["territory_id"]


def test_two_far_apart_clusters_split_by_cluster():
    # equal workload in Seattle and Miami, k = 2: each city is one territory, whatever the seeding
    rng = np.random.default_rng(11)
    west, east = _cluster(rng, 300, 47.6, -122.3, 60, "W"), _cluster(rng, 300, 25.8, -80.2, 60, "E")
    east["workload_hours"] *= west["workload_hours"].sum() / east["workload_hours"].sum()
    terr = _solve(pd.concat([west, east], ignore_index=True), 2)
    assert terr[west["account_id"]].nunique() == 1
    assert terr[east["account_id"]].nunique() == 1
    assert terr[west["account_id"]].iloc[0] != terr[east["account_id"]].iloc[0]


def test_an_island_group_worth_one_territory_gets_its_own():
    # Hawaii carries exactly one territory's workload out of 6: its territory holds no mainland account
    rng = np.random.default_rng(12)
    mainland = _cluster(rng, 1500, 38.0, -98.0, 900, "M")
    island = _cluster(rng, 300, 20.8, -157.0, 150, "H")
    island["workload_hours"] *= mainland["workload_hours"].sum() / 5 / island["workload_hours"].sum()
    terr = _solve(pd.concat([mainland, island], ignore_index=True), 6)
    assert terr[island["account_id"]].nunique() == 1
    assert not terr[mainland["account_id"]].isin(terr[island["account_id"]]).any()


def test_a_small_island_group_joins_one_territory_only():
    # an island group worth a third of a territory cannot stand alone within ±5 %: it must not be
    # spread over several mainland territories either
    rng = np.random.default_rng(13)
    mainland = _cluster(rng, 2000, 38.0, -98.0, 900, "M")
    island = _cluster(rng, 40, 20.8, -157.0, 150, "H")
    island["workload_hours"] *= mainland["workload_hours"].sum() / 8 / 3 / island["workload_hours"].sum()
    terr = _solve(pd.concat([mainland, island], ignore_index=True), 8)
    assert terr[island["account_id"]].nunique() == 1


def test_travel_stays_close_to_unbalanced_kmeans():
    # k-means minimises travel ignoring balance; the engine balances workload within 1 % and may
    # travel at most 3 % more on this fixed uniform instance (measured 1.015 when written)
    from sklearn.cluster import KMeans

    from planning.territories_engine import centroids

    rng = np.random.default_rng(14)
    n, k = 2000, 10
    frame = pd.DataFrame(
        {
            "account_id": [f"A{i:05d}" for i in range(n)],
            "lat": rng.uniform(38.0, 42.0, n),
            "lon": rng.uniform(-100.0, -95.0, n),
            "workload_hours": rng.gamma(2.0, 8.0, n),
        }
    )
    lat, lon = frame["lat"].to_numpy(), frame["lon"].to_numpy()

    def mean_travel(cell: np.ndarray) -> float:
        c_lat, c_lon = centroids(lat, lon, cell, k)
        return float(haversine_km(lat, lon, c_lat[cell], c_lon[cell]).mean())

    xy = np.column_stack([lon * np.cos(np.radians(40.0)), lat])
    kmeans = KMeans(n_clusters=k, n_init=3, random_state=0).fit_predict(xy)
    terr = _solve(frame, k)
    cell = terr[frame["account_id"]].map({f"T{i}": i for i in range(k)}).to_numpy()
    loads = np.bincount(cell, weights=frame["workload_hours"].to_numpy(), minlength=k)
    assert np.abs(loads / loads.mean() - 1).max() <= 0.01 + 1e-9
    assert mean_travel(cell) <= 1.03 * mean_travel(kmeans)


def test_three_measures_reach_the_one_percent_aim():
    # single moves alone stall here (moving an account out to fix one measure overloads another);
    # exchanging pairs with a neighbour brings every measure within 1 %
    rng = np.random.default_rng(15)
    n, k = 3000, 30
    frame = pd.DataFrame(
        {
            "account_id": [f"A{i:05d}" for i in range(n)],
            "lat": rng.uniform(38.0, 42.0, n),
            "lon": rng.uniform(-100.0, -95.0, n),
            "workload_hours": rng.gamma(2.0, 8.0, n),
            "revenue_t12m": rng.lognormal(9.0, 0.8, n),
            "potential": rng.poisson(6.0, n) + 1.0,
        }
    )
    measures = ["workload_hours", "revenue_t12m", "potential"]
    terr = _solve(frame, k, measures)
    loads = frame.assign(t=terr[frame["account_id"]].to_numpy()).groupby("t")[measures].sum()
    assert (loads / loads.mean() - 1).abs().to_numpy().max() <= 0.01 + 1e-9


def test_accounts_without_weight_stay_on_real_candidates():
    # at scale many accounts round to zero flow units and take their cheapest arc directly; a padding
    # slot (territory -1, cost 0 once costs are normalised) must never be that arc
    from planning.territories_engine import solve_allocation_flow

    cand = np.array([[0, 1, -1], [1, 0, -1], [0, 1, 2], [2, 1, -1]])
    cost = np.array([[1.0, 2.0, 0.0], [1.0, 2.0, 0.0], [1.0, 2.0, 3.0], [1.0, 2.0, 0.0]])
    weight = np.array([0.0, 0.0, 1.0, 1.0])
    share = solve_allocation_flow(cand, cost, weight, 3, np.zeros(3), 0.005, 0.05, 0)
    chosen = cand[np.arange(4), np.argmax(share, axis=1)]
    assert chosen[:2].tolist() == [0, 1]
    assert (chosen >= 0).all()


def test_polish_swaps_misplaced_accounts_but_never_leaves_the_target_band():
    from planning.territories_engine import improve_travel

    # four accounts of weight 1 per territory (load 1.0 each after normalising by 4); account 0 sits
    # in T0 but is 1 from T1 and 5 from T0, account 4 the mirror image: exchanging them cuts travel
    # by 8 and keeps both loads exact; moving either alone would leave the 1 % band, so it must not
    cell = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    cand = np.tile([0, 1], (8, 1))
    arc = np.array([[5, 1], [1, 5], [1, 5], [1, 5], [1, 5], [5, 1], [5, 1], [5, 1]], dtype=float)
    weights = np.full((8, 1), 0.25)
    movable = np.ones(8, dtype=bool)
    new, moves = improve_travel(cell, weights, cand, arc, movable, 2, 0.01, float("inf"))
    assert new.tolist() == [1, 0, 0, 0, 0, 1, 1, 1] and moves == 1
    # with account 4 locked the exchange is impossible and nothing moves
    movable[4] = False
    new, moves = improve_travel(cell, weights, cand, arc, movable, 2, 0.01, float("inf"))
    assert new.tolist() == cell.tolist() and moves == 0


def _equal_accounts_plan(n: int, k: int, hours: float) -> pd.DataFrame:
    """n accounts of `hours` each dealt round-robin into k territories (the best any design can do)."""
    return pd.DataFrame(
        {
            "account_id": [f"A{i}" for i in range(n)],
            "territory_id": [f"T{i % k:02d}" for i in range(n)],
            "pool": "key_account_manager",
            "travel": np.nan,
            "workload_hours": hours,
        }
    )


def test_a_pool_too_lumpy_for_the_tolerance_is_held_to_one_typical_account():
    from planning.territories_metrics import plan_metrics, territory_table

    # 325 equal key accounts in 18 territories: one territory must hold 19 of them, 5.2 % above the mean
    rows = _equal_accounts_plan(325, 18, 76.5)
    table = territory_table(rows, ["workload_hours"], geographic=False)
    metrics = plan_metrics(rows, table, ["workload_hours"], 0.05)
    assert metrics["max_abs_balance_deviation"] == pytest.approx(19 / (325 / 18) - 1)  # 0.0523
    assert metrics["territories_outside_tolerance"] == 0
    assert metrics["balance_band_key_account_manager"] == pytest.approx(18 / 325)  # one account of 18.06
    # the same deviation in a pool of many small accounts is a real miss: no band, counted outside
    rows = _equal_accounts_plan(3250, 18, 7.65)
    rows.loc[rows.index[:10], "territory_id"] = "T00"  # T00 gets ten more small accounts: +5.5 %
    table = territory_table(rows, ["workload_hours"], geographic=False)
    metrics = plan_metrics(rows, table, ["workload_hours"], 0.05)
    assert metrics["territories_outside_tolerance"] == 1 and "balance_band_key_account_manager" not in metrics
