"""The growth stage's large-book paths: stratified training samples, the Arrow feature reader, the
as-of RFM summary and the sampled BG/NBD fit, each against a known answer or the path it replaced."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from test_growth import CFG, SEED, make_features

from ml.backtest import bgnbd_predictions, bgnbd_sample, daily_totals, load_transactions, rfm_summary
from ml.growth import label_bands, prepare_features, read_features, train_and_score, training_sample

# The summary the BG/NBD baseline used before the as-of rewrite (one join row per day × later cutoff).
OLD_RFM_SQL = """
with cutoffs as (select unnest(?::date[]) as cutoff_date),
days as (
    select d.account_id, c.cutoff_date, d.order_date, d.amount,
           row_number() over (partition by d.account_id, c.cutoff_date order by d.order_date) as k
    from tx_daily d join cutoffs c on d.order_date < c.cutoff_date
    where d.amount > 0
)
select account_id, cutoff_date,
       cast(count(*) - 1 as double) as frequency,
       cast(max(order_date) - min(order_date) as double) as recency,
       cast(any_value(cutoff_date) - min(order_date) as double) as "T",
       coalesce(avg(case when k > 1 then amount end), 0) as monetary_value
from days
group by account_id, cutoff_date
order by account_id, cutoff_date
"""


def test_training_sample_is_exact_stratified_and_seeded() -> None:
    strata = np.repeat([0, 1, 2, 3], [5000, 3000, 1500, 500])
    pick = training_sample(strata, 1000, seed=3)
    assert len(pick) == 1000 and np.all(np.diff(pick) > 0)  # sorted positions, no repeats
    assert np.bincount(strata[pick]).tolist() == [500, 300, 150, 50]  # every stratum at 10 %
    np.testing.assert_array_equal(pick, training_sample(strata, 1000, seed=3))
    assert not np.array_equal(pick, training_sample(strata, 1000, seed=4))
    # largest remainder: 3 strata of 3 rows, 4 wanted → 2 + 1 + 1 (the first stratum breaks the tie)
    assert np.bincount(np.repeat([0, 1, 2], 3)[training_sample(np.repeat([0, 1, 2], 3), 4, 0)]).tolist() == [
        2,
        1,
        1,
    ]
    np.testing.assert_array_equal(training_sample(strata, 0, seed=3), np.arange(len(strata)))  # 0 = off
    np.testing.assert_array_equal(training_sample(strata, 20_000, seed=3), np.arange(len(strata)))


def test_label_bands_put_zero_labels_apart_and_split_buyers_by_quantile() -> None:
    y = np.concatenate([np.zeros(10), np.arange(1, 101, dtype=float)])
    bands = label_bands(y)
    assert (bands[:10] == 0).all()
    assert np.bincount(bands[10:]).tolist() == [0] + [10] * 10


def test_a_training_cap_samples_each_fit_and_is_reported() -> None:
    features = make_features(n_accounts=3000)
    capped = CFG.model_copy(update={"max_training_rows": 2000})
    result = train_and_score(features, capped, SEED)
    m = result.metrics
    assert m["max_training_rows"] == 2000
    # backtest fits on 3,000 and 6,000 rows, final refit on 18,000: every fit capped at 2,000 (both models)
    assert m["training_rows_sampled"] == 2000 * 6
    assert m["training_rows_available"] > 2000 * 6
    assert m["model_spearman"] >= m["baseline_runrate_spearman"]  # still learns the growing sectors
    again = train_and_score(features, capped, SEED)
    pd.testing.assert_frame_equal(again.scores, result.scores)
    uncapped = train_and_score(features, CFG, SEED).metrics
    assert uncapped["training_rows_sampled"] == uncapped["training_rows_available"]


def test_arrow_reader_gives_the_frame_pandas_gave(tmp_path: Path) -> None:
    features = make_features(n_accounts=400).assign(n_contact_roles=2)
    features.loc[::7, "employees"] = np.nan
    features.loc[::11, "industry"] = None
    con = duckdb.connect()
    con.register("incoming", features.assign(extra_column="not used"))
    con.execute("create table feats as select * from incoming")
    via_pandas = prepare_features(con.execute("select * from feats").df())
    via_arrow = prepare_features(read_features(con, "select * from feats", batch_rows=500))
    pd.testing.assert_frame_equal(via_arrow, via_pandas)
    assert "extra_column" not in read_features(con, "select * from feats").columns


def test_arrow_reader_names_missing_columns() -> None:
    con = duckdb.connect()
    con.execute("create table feats as select 'A1' as account_id, date '2024-01-01' as cutoff_date")
    with pytest.raises(ValueError, match="lacks columns.*is_latest"):
        read_features(con, "select * from feats")


@pytest.fixture
def transactions(tmp_path: Path) -> Path:
    """300 accounts buying as a Poisson process at their own rate from a start day until they drop out
    (the BG/NBD story), with their own order size; 5 % of lines are returns (negative amounts)."""
    rng = np.random.default_rng(5)
    n_acc = 300
    start = rng.integers(0, 365, n_acc)
    stop = np.minimum(start + rng.exponential(900, n_acc), 1095)
    rate = rng.gamma(2.0, 0.02, n_acc)  # purchases per day
    n = rng.poisson(rate * (stop - start))
    acc = np.repeat(np.arange(n_acc), n)
    day = start[acc] + rng.random(len(acc)) * (stop - start)[acc]
    size = rng.lognormal(5, 0.5, n_acc)[acc] * rng.lognormal(0, 0.3, len(acc))
    frame = pd.DataFrame(
        {
            "account_id": [f"A{i:03d}" for i in acc],
            "order_date": pd.Timestamp("2021-01-01") + pd.to_timedelta(day.astype(int), unit="D"),
            "amount": np.round(size * np.where(rng.random(len(acc)) < 0.05, -1, 1), 2),
        }
    )
    path = tmp_path / "tx.parquet"
    frame.to_parquet(path)
    return path


def test_asof_rfm_summary_equals_the_per_cutoff_join(transactions: Path) -> None:
    cutoffs = [date(2022, 1, 1), date(2022, 7, 1), date(2023, 1, 1), date(2023, 10, 1)]
    con = duckdb.connect()
    load_transactions(con, transactions)
    daily_totals(con, count_orders=False)
    new = rfm_summary(con, cutoffs)
    old = con.execute(OLD_RFM_SQL, [cutoffs]).df()
    old["cutoff_date"] = pd.to_datetime(old["cutoff_date"])
    assert len(new) > 800
    pd.testing.assert_frame_equal(new, old, check_exact=False, rtol=1e-9)


def test_rfm_summary_known_values() -> None:
    con = duckdb.connect()
    con.execute(
        """create table tx_daily as select * from (values
        ('A', date '2024-01-10', 100.0), ('A', date '2024-02-10', -5.0), ('A', date '2024-03-10', 40.0),
        ('A', date '2024-04-10', 60.0), ('B', date '2024-03-01', 10.0)) t(account_id, order_date, amount)"""
    )
    got = rfm_summary(con, [date(2024, 3, 1), date(2024, 4, 11)]).set_index(["account_id", "cutoff_date"])
    a_march = got.loc[("A", pd.Timestamp("2024-03-01"))]
    assert (a_march["frequency"], a_march["recency"], a_march["T"], a_march["monetary_value"]) == (
        0,
        0,
        51,
        0,
    )
    a_april = got.loc[("A", pd.Timestamp("2024-04-11"))]  # repeat days 03-10 (40) and 04-10 (60)
    assert (a_april["frequency"], a_april["recency"], a_april["T"], a_april["monetary_value"]) == (
        2,
        91,
        92,
        50,
    )
    assert ("B", pd.Timestamp("2024-03-01")) not in got.index  # bought on the cut-off day: not before it
    assert got.loc[("B", pd.Timestamp("2024-04-11")), "T"] == 41


def test_bgnbd_sample_is_seeded_per_cutoff_and_predicts_every_account(transactions: Path) -> None:
    a = bgnbd_sample(1000, 100, 7, pd.Timestamp("2023-01-01"))
    assert len(a) == 100 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, bgnbd_sample(1000, 100, 7, pd.Timestamp("2023-01-01")))
    assert not np.array_equal(a, bgnbd_sample(1000, 100, 7, pd.Timestamp("2023-04-01")))
    np.testing.assert_array_equal(bgnbd_sample(50, 100, 7, pd.Timestamp("2023-01-01")), np.arange(50))

    con = duckdb.connect()
    load_transactions(con, transactions)
    daily_totals(con, count_orders=False)
    rfm = rfm_summary(con, [date(2023, 1, 1)])
    full, failed_full = bgnbd_predictions(rfm, 365)
    sampled, failed = bgnbd_predictions(rfm, 365, sample_rows=150, seed=7)
    assert not failed and not failed_full
    assert len(sampled) == len(full) == len(rfm) > 250
    # parameters from half the accounts: the same predictions up to sampling noise
    rel = np.abs(sampled["predicted_value"] - full["predicted_value"]).sum() / full["predicted_value"].sum()
    assert rel < 0.15
    assert not np.allclose(sampled["predicted_value"], full["predicted_value"])


def _reference_reason_codes(model, X: pd.DataFrame, run_rate: np.ndarray) -> np.ndarray:
    """The reason codes as ml.growth computed them before the tree-by-tree rewrite: one whole-frame
    prediction per feature with that feature set to its median (most common industry)."""
    from ml.growth import NO_REASON, REASON_WORDS

    n, cols = len(X), [c for c in X.columns if c in model.columns]
    expected = model.from_ratio(model.model.predict(X[model.columns]), run_rate)
    contrib = np.zeros((n, len(cols)))
    words = np.empty((n, len(cols)), dtype=object)
    for j, col in enumerate(cols):
        swapped = X.copy()
        values = X[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            mode = values.mode()
            ref = mode.iloc[0] if len(mode) else np.nan
            swapped[col] = pd.Categorical([ref] * n, categories=values.cat.categories)
            words[:, j] = ("industry " + values.astype("object").fillna("unknown").astype(str)).to_numpy()
        else:
            ref = values.median()
            swapped[col] = ref
            high, low, missing = REASON_WORDS[col]
            v = values.to_numpy(dtype="float64")
            words[:, j] = np.where(np.isnan(v), missing, np.where(v > ref, high, low))
        contrib[:, j] = expected - model.from_ratio(model.model.predict(swapped[model.columns]), run_rate)
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :3]
    picked = np.take_along_axis(contrib, order, axis=1)
    picked_words = np.take_along_axis(words, order, axis=1)
    keep = np.abs(picked) >= np.maximum(0.01 * expected, 1.0)[:, None]
    out = []
    for i in range(n):
        kept = [
            f"{picked_words[i, k]} {'(+)' if picked[i, k] > 0 else '(-)'}" for k in range(3) if keep[i, k]
        ]
        out.append("; ".join(kept) or NO_REASON)
    return np.array(out, dtype=object)


@pytest.fixture(scope="module")
def fitted() -> tuple:
    """A fitted expected-revenue model and as-of rows with missing values and an unseen industry."""
    from ml.growth import EXPECTED_FEATURES, fit_expected

    frame = prepare_features(make_features(n_accounts=1500, n_cutoffs=10, seed=5))
    train = frame[~frame["is_latest"] & frame["label_revenue_next_4q"].notna()]
    y = np.clip(train["label_revenue_next_4q"].to_numpy(), 0, None)
    model = fit_expected(train[EXPECTED_FEATURES], y, train["revenue_t12m"].to_numpy(), CFG, SEED)
    score = frame[frame["is_latest"]].reset_index(drop=True)
    score.loc[::7, "employees"] = np.nan  # missing values take each split's missing direction
    score.loc[::11, "revenue_t12m"] = np.nan
    industry = score["industry"].astype(object)
    industry[::13] = "sector_99"  # not seen in training: predicted as missing
    industry[5::17] = None  # unknown industry: its own words
    score["industry"] = pd.Categorical(industry)
    return model, score[EXPECTED_FEATURES], score["revenue_t12m"].to_numpy()


@pytest.mark.parametrize(("threads", "chunk_rows"), [(1, 50_000), (2, 50_000), (3, 97)])
def test_reason_codes_equal_one_prediction_per_feature(fitted, monkeypatch, threads, chunk_rows) -> None:
    import ml.growth as growth

    model, X, run_rate = fitted
    monkeypatch.setattr(growth, "SUBSTITUTION_CHUNK_ROWS", chunk_rows)  # 97: 16 uneven chunks
    new = growth._reason_codes(model, X, run_rate, threads=threads)
    old = _reference_reason_codes(model, X, run_rate)
    assert (old != growth.NO_REASON).mean() > 0.5  # the comparison is about real codes
    np.testing.assert_array_equal(new, old)


def test_substituted_ratios_are_the_swapped_predictions_bit_for_bit(fitted) -> None:
    """Not only the codes: every substituted prediction equals scikit-learn's on the swapped frame."""
    from ml.growth import _TreeEnsemble

    model, X, _ = fitted
    refs = {"industry": "sector_03", "employees": 150.0, "momentum": 1.1, "tenure_days": np.nan}
    ratio, swapped = _TreeEnsemble(model.model, model.columns).substituted_ratios(X, refs, threads=2)
    np.testing.assert_array_equal(ratio, model.model.predict(X[model.columns]))
    for col, ref in refs.items():
        frame = X[model.columns].copy()
        if col == "industry":
            frame[col] = pd.Categorical([ref] * len(X), categories=X[col].cat.categories)
        else:
            frame[col] = ref
        expected = model.model.predict(frame)
        np.testing.assert_array_equal(swapped[col], expected)
        assert (expected != ratio).any()  # the substitution changes some predictions


def _swapped_predictions(hgb, X: pd.DataFrame, refs: dict) -> dict[str, np.ndarray]:
    out = {}
    for col, ref in refs.items():
        frame = X.copy()
        frame[col] = ref
        out[col] = hgb.predict(frame)
    return out


def test_leaves_sharing_a_value_re_evaluate_the_columns_of_either() -> None:
    """A tree's output names its leaf by value; two leaves with one value (here both pure y = 1 leaves,
    one under a split on b, the other under a split on c) must re-evaluate the columns of both paths."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    from ml.growth import _TreeEnsemble

    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.choice([0.1, 0.3, 0.7, 0.9], size=(4000, 3)), columns=["a", "b", "c"])
    y = (((X["a"] < 0.5) & (X["b"] < 0.5)) | ((X["a"] >= 0.5) & (X["c"] < 0.5))).astype(float)
    hgb = HistGradientBoostingRegressor(
        max_iter=1, learning_rate=1.0, max_leaf_nodes=4, min_samples_leaf=5, early_stopping=False
    ).fit(X, y)
    ensemble = _TreeEnsemble(hgb, ["a", "b", "c"])
    nodes = ensemble.nodes[0]
    leaf_values = nodes.value[nodes.is_leaf]
    assert len(np.unique(leaf_values)) < len(leaf_values)  # the case under test: a value shared
    refs = {"a": 0.2, "b": 0.9, "c": 0.9}
    ratio, swapped = ensemble.substituted_ratios(X, refs, threads=1)
    np.testing.assert_array_equal(ratio, hgb.predict(X))
    for col, expected in _swapped_predictions(hgb, X, refs).items():
        np.testing.assert_array_equal(swapped[col], expected)
        assert (expected != ratio).any()


def test_predict_rows_on_threads_equals_one_call(fitted, monkeypatch) -> None:
    import ml.growth as growth

    model, X, _ = fitted
    monkeypatch.setattr(growth, "PARALLEL_MIN_ROWS", 100)
    single = model.model.predict(X[model.columns])
    for threads in (1, 2, 4):
        np.testing.assert_array_equal(growth.predict_rows(model.model, X[model.columns], threads), single)


def test_predict_threads_must_be_positive() -> None:
    from pydantic import ValidationError

    from planning.config import GrowthModelConfig

    assert GrowthModelConfig().predict_threads == 2
    with pytest.raises(ValidationError, match="predict_threads"):
        GrowthModelConfig(predict_threads=0)


def test_predict_rows_leaves_the_fitting_thread_on_one_openmp_thread(fitted, monkeypatch) -> None:
    """Worker threads limit their own OpenMP pool; the caller's (where the fits run) stays at 1."""
    from threadpoolctl import threadpool_info, threadpool_limits

    import ml.growth as growth

    model, X, _ = fitted
    monkeypatch.setattr(growth, "PARALLEL_MIN_ROWS", 100)
    with threadpool_limits(limits=1, user_api="openmp"):
        growth.predict_rows(model.model, X[model.columns], 2)
        pools = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"]
    assert pools and all(n == 1 for n in pools)


def test_reason_codes_name_the_fix_when_scikit_learn_internals_change():
    """A scikit-learn release that renames the private tree attributes gives one clear error, not a bare
    AttributeError from deep inside the reason codes."""
    from ml import growth

    class Renamed:
        n_trees_per_iteration_ = 1

    with pytest.raises(AttributeError):
        growth._TreeEnsemble(Renamed(), ["a"])
    model = growth.ExpectedModel(model=Renamed(), columns=["a"], floor=1.0, calibration=1.0)
    X = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(RuntimeError, match="install the version in uv.lock"):
        growth._reason_codes(model, X, np.array([1.0, 1.0]))


def test_bgnbd_alignment_matches_a_merge_on_account_and_cutoff() -> None:
    """BG/NBD predictions land on their (account, cut-off) rows; rows of a predicted cut-off with no
    prediction get 0 (no purchase history), rows of a cut-off never predicted get NaN."""
    from ml.growth import _align_bgnbd

    rng = np.random.default_rng(3)
    accounts = np.array([f"A{i:04d}" for i in range(400)], dtype=object)
    cutoffs = pd.to_datetime(["2024-01-01", "2024-04-01", "2024-07-01"])
    frame = pd.DataFrame(
        {"account_id": np.tile(accounts, 3), "cutoff_date": np.repeat(cutoffs, len(accounts))}
    )
    predicted = frame[frame["cutoff_date"] < cutoffs[2]].sample(frac=0.7, random_state=1)
    bgnbd = pd.DataFrame(
        {
            "account_id": np.concatenate([predicted["account_id"].to_numpy(), ["ZZ_not_in_frame"]]),
            "cutoff_date": np.concatenate([predicted["cutoff_date"].dt.date.to_numpy(), [cutoffs[0].date()]]),
            "predicted_value": rng.gamma(2.0, 100.0, len(predicted) + 1),
        }
    ).sample(frac=1.0, random_state=2)  # any order
    bgnbd.loc[bgnbd.index[:5], "predicted_value"] = np.nan

    got = _align_bgnbd(frame, bgnbd)

    b = bgnbd.assign(cutoff_date=pd.to_datetime(bgnbd["cutoff_date"]))
    merged = frame.merge(b, on=["account_id", "cutoff_date"], how="left")
    want = np.where(merged["cutoff_date"] < cutoffs[2], np.nan_to_num(merged["predicted_value"]), np.nan)
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got[frame["cutoff_date"] == cutoffs[2]]).all()
    assert (got[(frame["cutoff_date"] < cutoffs[2]).to_numpy()] == 0).sum() >= 0.3 * 800 - 5
