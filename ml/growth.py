"""Growth-potential model: expected revenue over the next four quarters, and a "wallet" per account.

This is the walking-skeleton model: one time-based holdout (the latest cutoff whose label is observable),
gradient-boosted trees, and two naive baselines run side by side so a reader can see whether the model
earns its keep. A later issue adds rolling-origin backtests over every cutoff and a BG/NBD-style
transaction baseline; until then the metrics come from a single validation cutoff.

- Expected revenue: expected = exposure × multiple. The exposure is the account's trailing-12-month
  revenue, floored at the 10th percentile of the training rows' positive run-rates so prospects and tiny
  accounts still have a scale; the multiple is a HistGradientBoostingRegressor with Poisson loss (log
  link) on every point-in-time feature, fitted to label / exposure with every account weighing the
  same. Because the exposure is itself a feature, exposure × E[multiple | features] is still the
  conditional *mean* of next-year revenue (account predictions add up to a sensible total for goals),
  and unlike trees on revenue itself it does not cap the largest accounts at the largest leaf seen in
  training. (Weighting rows by exposure, i.e. a Poisson offset model, let the biggest accounts dictate
  the growth pattern, scored worse on synthetic holdouts and made scikit-learn 1.9's weighted binning
  take seconds.)
- Potential ("wallet"): the `potential_quantile` quantile of what look-alike accounts bought over the
  next four quarters, learnt from characteristics only (industry, size, contacts, channel and discount
  behaviour, tenure), never from the account's own revenue. potential = max(that quantile, expected,
  revenue_t12m); headroom = potential − revenue_t12m.

Threads: scikit-learn's histogram gradient boosting parallelises with OpenMP. On small or shared machines
(2 cores here, with dbt and Dagster running alongside) the OpenMP threads contend with everything else:
single fits that take about a second on one thread were seen to take 20–60 s, and a whole
`train_and_score` on 20,000 accounts × 9 cutoffs measured 8–12 s on one thread against 9–23 s on two.
So this module sets OMP_NUM_THREADS=1 *before* importing scikit-learn's ensemble module unless the
variable is already set, and also limits the OpenMP pool to that number around every fit and predict
(threadpoolctl), which holds even when another module imported scikit-learn first. Set OMP_NUM_THREADS
yourself (e.g. on a large dedicated machine) to use more threads.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before sklearn.ensemble is imported; see module docstring

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from planning.config import GrowthModelConfig

KEY_COLUMNS = ["account_id", "cutoff_date", "is_latest", "label_revenue_next_4q"]
NUMERIC_FEATURES = [
    "employees",
    "annual_revenue",
    "n_contacts",
    "revenue_t12m",
    "revenue_prev_t12m",
    "revenue_last_q",
    "gross_margin_t12m",
    "orders_t12m",
    "n_categories_t12m",
    "share_rfp",
    "share_web",
    "avg_discount",
    "recency_days",
    "tenure_days",
]
CATEGORICAL_FEATURES = ["industry"]
EXPECTED_FEATURES = CATEGORICAL_FEATURES + NUMERIC_FEATURES
# Wallet look-alikes: who the account is and how it buys, not how much it buys from us.
POTENTIAL_FEATURES = [
    "industry",
    "employees",
    "annual_revenue",
    "n_contacts",
    "share_rfp",
    "share_web",
    "avg_discount",
    "tenure_days",
]
REQUIRED_COLUMNS = KEY_COLUMNS + EXPECTED_FEATURES
MAX_CATEGORIES = 250  # HistGradientBoosting accepts at most 255 categories per feature

# Words for reason codes: (above the portfolio median, below it, missing).
REASON_WORDS = {
    "employees": ("many employees", "few employees", "employees unknown"),
    "annual_revenue": ("large company revenue", "small company revenue", "company revenue unknown"),
    "n_contacts": ("many contacts", "few contacts", "contacts unknown"),
    "revenue_t12m": ("high trailing-12-month revenue", "low trailing-12-month revenue", "no recent revenue"),
    "revenue_prev_t12m": ("high prior-year revenue", "low prior-year revenue", "no prior-year revenue"),
    "revenue_last_q": ("strong last quarter", "weak last quarter", "no last-quarter revenue"),
    "gross_margin_t12m": ("high gross margin", "low gross margin", "margin unknown"),
    "orders_t12m": ("frequent orders", "few orders", "no orders"),
    "n_categories_t12m": ("broad category mix", "narrow category mix", "no categories bought"),
    "share_rfp": ("high RFP share", "low RFP share", "RFP share unknown"),
    "share_web": ("high web share", "low web share", "web share unknown"),
    "avg_discount": ("deep discounts", "shallow discounts", "discount unknown"),
    "recency_days": ("long since last order", "ordered recently", "no orders yet"),
    "tenure_days": ("long tenure", "short tenure", "tenure unknown"),
}
NO_REASON = "close to the portfolio's typical account"


class GrowthInputError(ValueError):
    """The feature frame cannot be used as given (missing columns, duplicate accounts, no as-of rows)."""


class InsufficientHistoryError(ValueError):
    """Too little labelled history to train and honestly validate the growth model."""


@dataclass(frozen=True)
class GrowthResult:
    """Scores for the as-of cutoff, the holdout metrics that justify them, and the model's version."""

    scores: pd.DataFrame  # account_id, revenue_t12m, expected_revenue_next_4q, potential, headroom, baseline_next_4q, reason_codes
    metrics: dict[str, float | int | str]
    model_version: str  # hgb-<config hash>-<seed>


def train_and_score(
    features: pd.DataFrame, cfg: GrowthModelConfig, seed: int, config_hash: str = ""
) -> GrowthResult:
    """Validate on a time holdout against two run-rate baselines, refit on all labels, score the as-of rows.

    `features` is `marts.fct_account_features` (one row per account × cutoff_date). Validation cutoff: the
    latest cutoff with an observable label; training: labelled cutoffs at least `horizon_quarters` before
    it, so no training label window overlaps the validation window. Raises InsufficientHistoryError when
    that leaves fewer than `min_training_rows` rows. reason_codes: see `_reason_codes` (median substitution,
    one batch prediction per feature).
    """
    frame = _prepare(features)
    h = cfg.horizon_quarters
    quarter = _quarter_index(frame["cutoff_date"])
    latest = frame["is_latest"].to_numpy()
    label = frame["label_revenue_next_4q"].to_numpy(dtype="float64")
    labelled = ~np.isnan(label) & ~latest
    if not latest.any():
        raise GrowthInputError("no row has is_latest = true: the feature frame has no as-of cutoff to score")
    if not labelled.any():
        raise InsufficientHistoryError(
            _history_message(frame, quarter, labelled, h, "no cutoff has an observable label_revenue_next_4q")
        )
    valid_cutoff = frame.loc[labelled, "cutoff_date"].max()
    valid_q = quarter[(frame["cutoff_date"] == valid_cutoff).to_numpy()][0]
    train = labelled & (quarter <= valid_q - h)
    valid = labelled & (frame["cutoff_date"] == valid_cutoff).to_numpy()
    if train.sum() < cfg.min_training_rows:
        problem = (
            f"only {int(train.sum())} training rows (growth_model.min_training_rows is {cfg.min_training_rows}) "
            f"end their label window by the validation cutoff {valid_cutoff.date()}"
        )
        raise InsufficientHistoryError(_history_message(frame, quarter, labelled, h, problem))
    if np.clip(label[train], 0, None).sum() <= 0:
        raise InsufficientHistoryError(
            f"every training label_revenue_next_4q (cutoffs up to {valid_cutoff.date()} minus {h} quarters) "
            "is zero: no account bought anything in those windows, so there is no growth to learn"
        )
    score = latest

    X = frame[EXPECTED_FEATURES]
    X_pot = frame[POTENTIAL_FEATURES]
    y = np.clip(label, 0, None)
    run_rate = frame["revenue_t12m"].to_numpy(dtype="float64")
    n_threads = _omp_threads()
    with threadpool_limits(limits=n_threads, user_api="openmp"):
        # 1) honest holdout: fit on training cutoffs only, evaluate on the validation cutoff
        holdout = _fit_expected(X[train], y[train], run_rate[train], cfg, seed)
        pred_valid = holdout.predict(X[valid], run_rate[valid])
        wallet_holdout = _potential_model(cfg, seed).fit(X_pot[train], np.log1p(y[train]))
        wallet_valid = np.expm1(wallet_holdout.predict(X_pot[valid]))
        # 2) refit on every labelled row and score the as-of cutoff
        model = _fit_expected(X[labelled], y[labelled], run_rate[labelled], cfg, seed)
        wallet = _potential_model(cfg, seed).fit(X_pot[labelled], np.log1p(y[labelled]))
        X_score = X[score]
        expected = model.predict(X_score, run_rate[score])
        quantile = np.clip(np.expm1(wallet.predict(X_pot[score])), 0, None)
        reasons = _reason_codes(model, X_score, run_rate[score])

    actual = y[valid]
    runrate = frame.loc[valid, "revenue_t12m"].to_numpy(dtype="float64")
    lastq = 4 * frame.loc[valid, "revenue_last_q"].to_numpy(dtype="float64")
    revenue_t12m = frame.loc[score, "revenue_t12m"].to_numpy(dtype="float64")
    potential = np.fmax(np.fmax(quantile, expected), np.nan_to_num(revenue_t12m))
    scores = pd.DataFrame(
        {
            "account_id": frame.loc[score, "account_id"].to_numpy(),
            "revenue_t12m": revenue_t12m,
            "expected_revenue_next_4q": expected,
            "potential": potential,
            "headroom": np.clip(potential - np.nan_to_num(revenue_t12m), 0, None),
            "baseline_next_4q": np.clip(np.nan_to_num(revenue_t12m), 0, None),
            "reason_codes": reasons,
        }
    )

    version = f"hgb-{config_hash or _cfg_hash(cfg)}-{seed}"
    metrics: dict[str, float | int | str] = {}
    for name, pred in (("model", pred_valid), ("baseline_runrate", runrate), ("baseline_lastq", lastq)):
        metrics.update({f"{name}_{k}": v for k, v in _evaluate(pred, actual).items()})
    metrics["oracle_top_decile_capture"] = _top_decile_capture(actual, actual)
    metrics["potential_quantile"] = cfg.potential_quantile
    metrics["potential_valid_coverage"] = float(np.mean(actual <= wallet_valid))
    metrics.update(
        {
            "train_rows": int(train.sum()),
            "valid_rows": int(valid.sum()),
            "final_train_rows": int(labelled.sum()),
            "scored_rows": int(score.sum()),
            "train_cutoff_min": frame.loc[train, "cutoff_date"].min().date().isoformat(),
            "train_cutoff_max": frame.loc[train, "cutoff_date"].max().date().isoformat(),
            "valid_cutoff": valid_cutoff.date().isoformat(),
            "scoring_cutoff": frame.loc[score, "cutoff_date"].max().date().isoformat(),
            "horizon_quarters": h,
            "model_n_iter": int(model.model.n_iter_),
            "exposure_floor": model.floor,
            "seed": seed,
            "model_version": version,
        }
    )
    return GrowthResult(scores=scores.reset_index(drop=True), metrics=metrics, model_version=version)


def _prepare(features: pd.DataFrame) -> pd.DataFrame:
    """Check the columns and return a copy with plain float features, datetimes and a categorical industry."""
    missing = [c for c in REQUIRED_COLUMNS if c not in features.columns]
    if missing:
        raise GrowthInputError(
            f"fct_account_features lacks columns {missing}; the growth model needs {REQUIRED_COLUMNS}"
        )
    frame = features[REQUIRED_COLUMNS].reset_index(drop=True).copy()
    frame["cutoff_date"] = pd.to_datetime(frame["cutoff_date"])
    frame["is_latest"] = frame["is_latest"].fillna(False).astype(bool)
    for col in [*NUMERIC_FEATURES, "label_revenue_next_4q"]:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    # One category set for every fit and prediction; rare industries beyond 250 share "other".
    industry = frame["industry"].astype("object").where(frame["industry"].notna(), None)
    counts = industry.value_counts()
    if len(counts) > MAX_CATEGORIES:
        industry = industry.where(
            industry.isin(counts.index[: MAX_CATEGORIES - 1]) | industry.isna(), "other"
        )
    frame["industry"] = pd.Categorical(industry, categories=sorted(industry.dropna().unique()))
    dup = frame.loc[frame["is_latest"], "account_id"].duplicated()
    if dup.any():
        examples = frame.loc[frame["is_latest"], "account_id"][dup].head(3).tolist()
        raise GrowthInputError(
            f"{int(dup.sum())} accounts appear twice on the is_latest cutoff, e.g. {examples}"
        )
    return frame


def _history_message(
    frame: pd.DataFrame, quarter: np.ndarray, labelled: np.ndarray, h: int, problem: str
) -> str:
    """Say how much history the time split needs and what the feature frame holds."""
    cutoffs = np.sort(frame["cutoff_date"].unique())
    span = (
        f" ({pd.Timestamp(cutoffs[0]).date()} .. {pd.Timestamp(cutoffs[-1]).date()})" if len(cutoffs) else ""
    )
    return (
        f"{problem}. The growth model needs at least {2 * h + 1} quarterly cutoffs: the as-of cutoff, {h} "
        f"quarters before it one whose next-{h}-quarter label is observable (validation), and {h} quarters "
        f"before that one to train on, so its label window ends where validation starts; about "
        f"{(2 * h + 4) / 4:g} years of orders including a trailing year before the first cutoff. Found "
        f"{len(cutoffs)} cutoff(s){span}, {np.unique(quarter[labelled]).size} with observable labels. Load "
        "more order history (or lower growth_model.min_training_rows in config/plan.yaml for a small book)."
    )


def _omp_threads() -> int:
    """OpenMP threads for fitting: OMP_NUM_THREADS (first level if nested, e.g. "4,2"), else 1."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "1").split(",")[0]))
    except ValueError:
        return 1


def _quarter_index(dates: pd.Series) -> np.ndarray:
    """Quarters since year 0, so cutoffs a whole number of quarters apart differ by that number."""
    return (dates.dt.year * 4 + (dates.dt.month - 1) // 3).to_numpy()


def _cfg_hash(cfg: GrowthModelConfig) -> str:
    return hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:12]


@dataclass(frozen=True)
class _ExpectedModel:
    """Poisson model of the growth multiple over a floored run-rate exposure (see module docstring)."""

    model: HistGradientBoostingRegressor
    floor: float  # exposure = max(revenue_t12m, floor); floor = 10th percentile of positive run-rates

    def exposure(self, run_rate: np.ndarray) -> np.ndarray:
        return np.fmax(np.nan_to_num(run_rate), self.floor)

    def multiple(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.predict(X)

    def predict(self, X: pd.DataFrame, run_rate: np.ndarray) -> np.ndarray:
        return np.clip(self.multiple(X) * self.exposure(run_rate), 0, None)


def _fit_expected(
    X: pd.DataFrame, y: np.ndarray, run_rate: np.ndarray, cfg: GrowthModelConfig, seed: int
) -> _ExpectedModel:
    positive = run_rate[run_rate > 0]
    floor = float(np.quantile(positive, 0.1)) if positive.size else 1.0
    exposure = np.fmax(np.nan_to_num(run_rate), floor)
    model = HistGradientBoostingRegressor(
        loss="poisson",
        max_iter=cfg.max_iter,
        learning_rate=cfg.learning_rate,
        max_leaf_nodes=cfg.max_leaf_nodes,
        categorical_features="from_dtype",
        random_state=seed,
    )
    model.fit(X, y / exposure)  # unweighted on purpose: see the module docstring
    return _ExpectedModel(model=model, floor=floor)


def _potential_model(cfg: GrowthModelConfig, seed: int) -> HistGradientBoostingRegressor:
    # Fitted on log1p(revenue): quantiles survive monotone transforms and the log tames the skew.
    return HistGradientBoostingRegressor(
        loss="quantile",
        quantile=cfg.potential_quantile,
        max_iter=cfg.max_iter,
        learning_rate=cfg.learning_rate,
        max_leaf_nodes=cfg.max_leaf_nodes,
        categorical_features="from_dtype",
        random_state=seed,
    )


def _evaluate(pred: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, Spearman rank correlation, top-decile capture and aggregate bias of `pred`."""
    pred = np.nan_to_num(pred)
    err = pred - actual
    rho = spearmanr(pred, actual).statistic if len(actual) > 1 else np.nan
    total = actual.sum()
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "spearman": float(rho),
        "top_decile_capture": _top_decile_capture(pred, actual),
        "bias": float(pred.sum() / total - 1) if total > 0 else float("nan"),
    }


def _top_decile_capture(pred: np.ndarray, actual: np.ndarray) -> float:
    """Share of actual revenue bought by the top 10 % of accounts ranked by `pred` (ties: input order)."""
    total = actual.sum()
    if total <= 0:
        return float("nan")
    n_top = max(1, int(np.ceil(0.1 * len(actual))))
    top = np.argsort(-pred, kind="stable")[:n_top]
    return float(actual[top].sum() / total)


def _reason_codes(model: _ExpectedModel, X: pd.DataFrame, run_rate: np.ndarray) -> np.ndarray:
    """Up to three features that most raised (+) or lowered (-) each account's expected revenue.

    Method (one-at-a-time median substitution): for each feature, predict the whole portfolio's growth
    multiple again with that feature set to the portfolio's median (most common industry), and express
    the change in currency at the account's own run-rate: exposure × (multiple − multiple with the
    feature at the median). One batch prediction per feature. The account's own run-rate is the
    starting point, so the codes explain what moves the account above or below it relative to a typical
    account, not that big accounts are big. The method ignores interactions, splits credit poorly between
    correlated features (trailing, prior-year and last-quarter revenue), and substituted rows can be
    unlike any real account: a readable pointer, not an attribution with guarantees (SHAP would be).
    Changes below 1 % of the account's expected revenue (or below 1 currency unit) are not reported.
    """
    n, cols = len(X), list(X.columns)
    exposure = model.exposure(run_rate)
    multiple = model.multiple(X)
    expected = multiple * exposure
    contrib = np.zeros((n, len(cols)))
    words = np.empty((n, len(cols)), dtype=object)
    for j, col in enumerate(cols):  # one batch prediction per feature, never per account
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
        contrib[:, j] = exposure * (multiple - model.multiple(swapped))

    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :3]
    picked = np.take_along_axis(contrib, order, axis=1)
    picked_words = np.take_along_axis(words, order, axis=1)
    # the threshold is the same for an account's three picks, so a dropped pick is never followed by a kept one
    keep = np.abs(picked) >= np.maximum(0.01 * expected, 1.0)[:, None]
    parts = [
        pd.Series(np.where(keep[:, k], picked_words[:, k] + np.where(picked[:, k] > 0, " (+)", " (-)"), ""))
        for k in range(order.shape[1])
    ]
    if not parts:
        return np.full(n, NO_REASON, dtype=object)
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.where(part == "", joined + "; " + part)
    return joined.where(joined != "", NO_REASON).to_numpy(dtype="object")
