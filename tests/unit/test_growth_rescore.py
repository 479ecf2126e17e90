"""Quarterly rescoring: the as-of rows scored with the models a yearly run fitted, and the rules for
when such a model may be used (same code, settings and seed; fitted no later than, and less than a year
before, the cut-off it scores)."""

from __future__ import annotations

import pandas as pd
import pytest
from test_growth import CFG, SEED, make_features

from ml.growth import prepare_features, rescore, rescore_problem, train_and_score

HISTORY_START = pd.Timestamp("2022-04-01")  # caps tenure at the first cut-off's 275 days of history


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return make_features(n_accounts=1500)


@pytest.fixture(scope="module")
def fitted(features):
    return train_and_score(features, CFG, SEED, config_hash="abc123", history_start=HISTORY_START)


def test_rescoring_the_fitted_cutoff_gives_the_fits_own_scores(features, fitted):
    latest = features[features["is_latest"]]
    timings: dict = {}
    again = rescore(
        latest, fitted.artifact, HISTORY_START, features["cutoff_date"].min(), threads=2, timings=timings
    )
    pd.testing.assert_frame_equal(again.scores, fitted.scores)
    assert again.model_version == fitted.model_version == "growth-abc123-7"
    assert again.metrics["rescored"] is True and fitted.metrics["rescored"] is False
    assert again.metrics["model_mae"] == fitted.metrics["model_mae"]  # the backtest of the fitted model
    pd.testing.assert_frame_equal(again.backtest, fitted.backtest)
    assert set(timings) == {"score", "reason_codes"}


def test_the_earliest_cutoff_of_the_mart_caps_tenure_as_in_the_fit(features):
    # the as-of rows alone would cap tenure at their own 3 years of history instead of the 275 days the
    # earliest cut-off had, and the model would see tenures it never saw in training
    latest = features[features["is_latest"]]
    fit_cap = prepare_features(features, HISTORY_START)["tenure_days"].max()
    as_fitted = prepare_features(latest, HISTORY_START, first_cutoff=features["cutoff_date"].min())
    alone = prepare_features(latest, HISTORY_START)
    assert fit_cap == as_fitted["tenure_days"].max() == 275
    assert alone["tenure_days"].max() > 1000


def test_a_later_quarter_is_scored_with_the_fitted_model(fitted):
    later = make_features(n_accounts=1500, n_cutoffs=11)  # one more quarter of history
    latest = later[later["is_latest"]]
    scored = rescore(latest, fitted.artifact, HISTORY_START, later["cutoff_date"].min())
    assert len(scored.scores) == 1500 and scored.scores["account_id"].is_unique
    assert scored.metrics["scoring_cutoff"] == "2025-07-01"
    assert scored.metrics["fitted_scoring_cutoff"] == fitted.metrics["scoring_cutoff"] == "2025-04-01"
    assert (scored.scores["potential"] >= scored.scores["expected_revenue_next_4q"]).all()


def test_when_a_fitted_model_may_rescore(fitted):
    art = {**fitted.artifact, "inputs": {"the dbt project": "p1", "scikit-learn": "1.9.1"}}
    same = {"the dbt project": "p1", "scikit-learn": "1.9.1"}
    assert rescore_problem(art, CFG, SEED, pd.Timestamp("2025-04-01"), same) is None
    assert rescore_problem(art, CFG, SEED, pd.Timestamp("2026-01-01"), same) is None  # three quarters on
    assert "4 quarters before" in rescore_problem(art, CFG, SEED, pd.Timestamp("2026-04-01"), same)
    # a backfill of an earlier quarter must not use a model that saw later labels
    assert "after this plan's cut-off 2025-01-01" in rescore_problem(
        art, CFG, SEED, pd.Timestamp("2025-01-01")
    )
    other = CFG.model_copy(update={"max_iter": 50})
    assert "settings or the seed changed" in rescore_problem(art, other, SEED, pd.Timestamp("2025-04-01"))
    assert "settings or the seed changed" in rescore_problem(art, CFG, SEED + 1, pd.Timestamp("2025-04-01"))
    faster = CFG.model_copy(update={"predict_threads": 7, "quarterly_rescore": False})  # not the model
    assert rescore_problem(art, faster, SEED, pd.Timestamp("2025-04-01"), same) is None
    assert "ml/growth.py changed" in rescore_problem({**art, "code": "0" * 16}, CFG, SEED, "2025-04-01")
    old = {k: v for k, v in art.items() if k not in ("code", "industries")}
    assert "predates quarterly rescoring (no code, industries)" in rescore_problem(
        old, CFG, SEED, "2025-04-01"
    )
    dbt_changed = {**same, "the dbt project": "p2"}
    assert rescore_problem(art, CFG, SEED, "2025-04-01", dbt_changed) == (
        "the dbt project changed since the model was fitted"
    )


def test_each_fit_has_its_own_file_and_a_quarterly_run_takes_the_newest_before_it(fitted, tmp_path):
    """A backfill fit of an earlier quarter never replaces the yearly fit a later quarterly run needs."""
    import duckdb

    from orchestration.assets.ml import reusable_model, save_model
    from planning.config import load_config
    from planning.marts import DuckDBTables

    cfg = load_config().model_copy(update={"growth_model": CFG, "seed": SEED})
    inputs = {"the dbt project": "p1", "scikit-learn": "1.9.1"}

    def fit_as_of(day: str) -> dict:
        metrics = {**fitted.artifact["metrics"], "scoring_cutoff": day}
        return {**fitted.artifact, "metrics": metrics, "inputs": inputs}

    models = tmp_path / "models"
    yearly = save_model(fit_as_of("2025-04-01"), models, cfg)
    backfill = save_model(fit_as_of("2024-10-01"), models, cfg)
    assert yearly != backfill and {p.name for p in models.iterdir()} == {yearly.name, backfill.name}
    assert yearly.name.startswith("growth-") and "-7-20250401-" in yearly.name

    def pick(as_of: str):
        with duckdb.connect() as con:
            con.execute(
                f"create schema marts; create table marts.fct_account_features as "
                f"select date '2023-01-01' as cutoff_date union all select date '{as_of}'"
            )
            reader = DuckDBTables.on(con)
            return reusable_model(models, cfg, con, reader, inputs)

    artifact, path, why = pick("2025-07-01")
    assert (path, why) == (yearly, "") and artifact["metrics"]["scoring_cutoff"] == "2025-04-01"
    assert pick("2025-01-01")[1] == backfill  # the newest fit not after the quarter
    artifact, path, why = pick("2024-07-01")
    assert artifact is None and why.startswith("no model fitted with these growth_model settings")
    off = cfg.model_copy(update={"growth_model": CFG.model_copy(update={"quarterly_rescore": False})})
    with duckdb.connect() as con:
        con.execute(
            "create schema marts; create table marts.fct_account_features as select date '2025-07-01' as cutoff_date"
        )
        assert reusable_model(models, off, con, DuckDBTables.on(con), inputs)[2] == (
            "growth_model.quarterly_rescore is off"
        )


def test_an_industry_the_fit_did_not_keep_becomes_other(features):
    latest = features[features["is_latest"]].copy()
    latest.loc[latest.index[:3], "industry"] = "sector_99"
    frame = prepare_features(latest, industries=["sector_01", "sector_02"])
    assert set(frame["industry"].cat.categories) <= {"sector_01", "sector_02", "other"}
    assert (frame["industry"].iloc[:3] == "other").all()
    assert frame.attrs["industries"] == ["sector_01", "sector_02"]
