"""Backtests on a plain transaction file, and the BG/NBD + Gamma-Gamma baseline.

`covplan growth backtest` reads any CSV/Parquet with account_id, order_date and amount (an order_id
column, when present, counts orders; other columns are ignored), computes point-in-time features with
DuckDB SQL (one pass over the lines into account × day totals, then windows per cut-off), trains the
growth model on origins whose label window ends by the cut-off, and scores it against the actual revenue
of the `horizon_days` after the cut-off, next to the baselines:

- run-rate: revenue of the trailing 365 days, scaled to the horizon (× horizon / 365);
- last quarter: revenue of the trailing 91 days × horizon / 91;
- BG/NBD + Gamma-Gamma (the `lifetimes` package): purchase days before the cut-off → expected purchase
  days in the horizon × expected value of a purchase day.

Windows are in days: trailing year [c − 365, c), prior year [c − 730, c − 365), last quarter [c − 91, c),
label [c, c + horizon). Nothing dated on or after a cut-off enters its features. Training origins are
c − horizon − 91·k (k = 0..3) while a full trailing year lies in the history, so every training label
ends by the cut-off.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from scipy.special import hyp2f1

from ml.growth import evaluate, fit_expected
from planning.config import GrowthModelConfig

REQUIRED = ("account_id", "order_date", "amount")
TRAILING_DAYS, QUARTER_DAYS = 365, 91
MAX_TRAIN_ORIGINS = 4
FILE_FEATURES = [
    "revenue_t12m",
    "revenue_prev_t12m",
    "revenue_last_q",
    "purchase_days_t12m",
    "orders_t12m",
    "active_quarters_t12m",
    "avg_order_value_t12m",
    "recency_days",
    "tenure_days",
    "momentum",
    "yoy_ratio",
]


class TransactionFileError(ValueError):
    """The transaction file cannot be read as account_id, order_date, amount (message names file/row/column)."""


@dataclass(frozen=True)
class BacktestResult:
    predictions: pd.DataFrame  # account_id, predicted_value (model), one column per baseline, actual
    metrics: pd.DataFrame  # predictor, mae, rmse, spearman, top_decile_capture, bias
    train_origins: list[date]
    history_start: date
    bgnbd_error: str = ""  # why the BG/NBD baseline is missing, when it is


def load_transactions(con: duckdb.DuckDBPyConnection, path: str | Path) -> None:
    """Create the view `tx` (account_id, order_date, amount, order_key) over the file, validated.

    A missing column, or a row whose order_date or amount cannot be read, is an error naming the file,
    the 1-based data row and the column.
    """
    path = Path(path)
    if not path.exists():
        raise TransactionFileError(f"{path}: file not found")
    lit = str(path).replace("'", "''")
    if path.suffix.lower() in (".parquet", ".pq"):
        source = f"read_parquet('{lit}')"
    elif path.suffix.lower() in (".csv", ".txt", ".gz"):
        source = f"read_csv('{lit}', header = true, all_varchar = true)"
    else:
        raise TransactionFileError(f"{path}: use a .csv or .parquet file (got {path.suffix or 'no suffix'})")
    try:
        columns = [r[0].lower() for r in con.execute(f"describe select * from {source}").fetchall()]
    except duckdb.Error as exc:
        raise TransactionFileError(f"{path}: cannot be read: {exc}") from None
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise TransactionFileError(
            f"{path}: missing column(s) {missing}; the file needs {list(REQUIRED)} (found {columns})"
        )
    order_key = "cast(order_id as varchar)" if "order_id" in columns else "null"
    con.execute(
        f"""create or replace temp view tx_raw as
        select row_number() over () as row_no, cast(account_id as varchar) as account_id,
               cast(order_date as varchar) as order_date_text, cast(amount as varchar) as amount_text,
               try_cast(cast(order_date as varchar) as date) as order_date,
               try_cast(cast(amount as varchar) as double) as amount, {order_key} as order_key
        from {source}"""
    )
    checks = (
        ("account_id", "account_id is null or trim(account_id) = ''", "account_id", "is empty"),
        ("order_date", "order_date is null", "order_date_text", "is not a date (YYYY-MM-DD)"),
        ("amount", "amount is null or not isfinite(amount)", "amount_text", "is not a number"),
    )
    for column, bad, shown, what in checks:
        rows = con.execute(
            f"select row_no, {shown} from tx_raw where {bad} order by row_no limit 3"
        ).fetchall()
        if rows:
            n_bad = con.execute(f"select count(*) from tx_raw where {bad}").fetchall()[0][0]
            examples = ", ".join(f"row {r} ({v!r})" for r, v in rows)
            raise TransactionFileError(
                f"{path}: column {column} {what} in {n_bad} row(s), e.g. {examples} (rows counted from 1 "
                "after the header); fix or remove those rows and run again"
            )
    con.execute(
        "create or replace temp view tx as select account_id, order_date, amount, order_key from tx_raw"
    )


DAILY_SQL = """
create or replace temp table tx_daily as
select account_id, order_date, sum(amount) as amount{orders}
from {relation}
group by account_id, order_date
"""

FEATURES_SQL = """
with cutoffs as (select unnest(?::date[]) as cutoff_date, ?::integer as horizon),
windows as (
    select d.account_id, c.cutoff_date,
        sum(case when d.order_date >= c.cutoff_date - 365 and d.order_date < c.cutoff_date then d.amount else 0 end) as revenue_t12m,
        sum(case when d.order_date >= c.cutoff_date - 730 and d.order_date < c.cutoff_date - 365 then d.amount else 0 end) as revenue_prev_t12m,
        sum(case when d.order_date >= c.cutoff_date - 91 and d.order_date < c.cutoff_date then d.amount else 0 end) as revenue_last_q,
        count(case when d.order_date >= c.cutoff_date - 365 and d.order_date < c.cutoff_date and d.amount > 0 then 1 end) as purchase_days_t12m,
        sum(case when d.order_date >= c.cutoff_date - 365 and d.order_date < c.cutoff_date and d.amount > 0 then greatest(d.n_orders, 1) else 0 end) as orders_t12m,
        count(distinct case when d.order_date >= c.cutoff_date - 365 and d.order_date < c.cutoff_date and d.amount > 0
                            then (c.cutoff_date - d.order_date) // 91 end) as active_quarters_t12m,
        max(case when d.order_date < c.cutoff_date and d.amount > 0 then d.order_date end) as last_purchase,
        min(case when d.order_date < c.cutoff_date then d.order_date end) as first_order,
        sum(case when d.order_date >= c.cutoff_date and d.order_date < c.cutoff_date + c.horizon then d.amount else 0 end) as label
    from tx_daily d cross join cutoffs c
    where d.order_date < c.cutoff_date + c.horizon
    group by d.account_id, c.cutoff_date
)
select account_id, cutoff_date, revenue_t12m, revenue_prev_t12m, revenue_last_q,
       purchase_days_t12m, orders_t12m, active_quarters_t12m,
       case when orders_t12m > 0 then revenue_t12m / orders_t12m end as avg_order_value_t12m,
       cutoff_date - last_purchase as recency_days,
       cutoff_date - first_order as tenure_days,
       first_order is not null as known_before_cutoff,
       label
from windows
order by account_id, cutoff_date
"""

RFM_SQL = """
with purchases as (
    -- one row per purchase day, with the running figures of the account's purchase days up to it
    select account_id, order_date,
           count(*) over w as n_days,
           sum(amount) over w - first_value(amount) over w as repeat_amount,
           first_value(order_date) over w as first_date
    from tx_daily
    where amount > 0
    window w as (partition by account_id order by order_date rows between unbounded preceding and current row)
),
cutoffs as (select unnest(?::date[]) as cutoff_date),
grid as (
    select a.account_id, c.cutoff_date
    from (select distinct account_id from purchases) a cross join cutoffs c
)
-- the last purchase day before each cutoff (asof), so no day is joined to every later cutoff
select g.account_id, g.cutoff_date,
       cast(p.n_days - 1 as double) as frequency,
       cast(p.order_date - p.first_date as double) as recency,
       cast(g.cutoff_date - p.first_date as double) as "T",
       case when p.n_days > 1 then p.repeat_amount / (p.n_days - 1) else 0 end as monetary_value
from grid g asof join purchases p on g.account_id = p.account_id and g.cutoff_date > p.order_date
order by g.account_id, g.cutoff_date
"""


def daily_totals(con: duckdb.DuckDBPyConnection, relation: str = "tx", count_orders: bool = True) -> None:
    """Aggregate `relation` (account_id, order_date, amount, order_key) to the temp table tx_daily, with
    n_orders (distinct order keys) when `count_orders`: the BG/NBD inputs need only the amounts, and a
    distinct count over tens of millions of lines is the expensive part of the aggregation."""
    orders = ", count(distinct order_key) as n_orders" if count_orders else ""
    con.execute(DAILY_SQL.format(relation=relation, orders=orders))


def window_features(con: duckdb.DuckDBPyConnection, cutoffs: list[date], horizon_days: int) -> pd.DataFrame:
    """Point-in-time features and the label per account × cutoff, from tx_daily (see module docstring)."""
    frame = con.execute(FEATURES_SQL, [list(cutoffs), int(horizon_days)]).df()
    frame["cutoff_date"] = pd.to_datetime(frame["cutoff_date"])
    for col in ("recency_days", "tenure_days", "purchase_days_t12m", "orders_t12m", "active_quarters_t12m"):
        frame[col] = frame[col].astype("float64")  # nullable ints (no order yet) → NaN
    rev = frame["revenue_t12m"]
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["momentum"] = 4 * frame["revenue_last_q"] / rev.where(rev > 0)
        frame["yoy_ratio"] = rev / frame["revenue_prev_t12m"].where(frame["revenue_prev_t12m"] > 0)
    return frame


def rfm_summary(con: duckdb.DuckDBPyConnection, cutoffs: list[date]) -> pd.DataFrame:
    """BG/NBD inputs per account × cutoff from tx_daily: repeat purchase days, recency and age in days,
    mean value of a repeat purchase day (days with positive net amount are purchases)."""
    frame = con.execute(RFM_SQL, [list(cutoffs)]).df()
    frame["cutoff_date"] = pd.to_datetime(frame["cutoff_date"])
    return frame


def bgnbd_predictions(
    rfm: pd.DataFrame, horizon_days: int, penalizer: float = 0.001, sample_rows: int = 0, seed: int = 0
) -> tuple[pd.DataFrame, dict[str, str]]:
    """BG/NBD (purchase days) × Gamma-Gamma (value per purchase day) per account × cutoff, fitted per
    cutoff on that cutoff's summary only. Time runs in weeks (days / 7) to keep the likelihood tame.
    With `sample_rows` > 0 each cutoff's four BG/NBD and two Gamma-Gamma parameters are fitted on a
    seeded random sample of that many accounts (`bgnbd_sample`), and every account is predicted with
    them: the likelihood and its autograd Hessian cost time in proportion to the rows, and 20,000
    accounts pin six parameters down well. Where lifetimes' BFGS does not converge, the same penalized
    likelihoods are minimised by a trust-region Newton fit (`_fit_bgnbd`, `_fit_gamma_gamma`).
    Returns (account_id, cutoff_date, predicted_value, penalizer) for the cutoffs whose fits converged, and
    {cutoff: why} for those that did not (the caller reports them; they are never filled in).
    """
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    out, failed = [], {}
    for cutoff, part in rfm.groupby("cutoff_date", sort=True):
        f = part["frequency"].to_numpy(float)
        r = part["recency"].to_numpy(float) / 7.0
        t = part["T"].to_numpy(float) / 7.0
        m = np.clip(part["monetary_value"].to_numpy(float), 0.01, None)
        fit = bgnbd_sample(len(part), sample_rows, seed, pd.Timestamp(cutoff))
        try:
            with (
                warnings.catch_warnings(),
                contextlib.redirect_stdout(io.StringIO()),
            ):  # lifetimes prints on failure
                warnings.simplefilter("ignore", RuntimeWarning)
                bg = _fit_bgnbd(BetaGeoFitter, f[fit], r[fit], t[fit], penalizer)
                weeks = horizon_days / 7.0
                purchases = expected_purchases(bg.params, weeks, f, r, t)
                # With (almost) no dropout (a, b -> 0, usual for B2B accounts) lifetimes' hypergeometric term is
                # 0/0 for one-repeat customers; the model's limit there is the NBD expectation (r + x) t / (alpha + T).
                params = bg.params
                degenerate = ~np.isfinite(purchases)
                if degenerate.any() and params["a"] / (params["a"] + params["b"]) > 1e-6:
                    raise FloatingPointError(
                        f"{int(degenerate.sum())} accounts have no finite BG/NBD expectation and dropout is not negligible"
                    )
                limit = (params["r"] + f) * weeks / (params["alpha"] + t)
                purchases = np.where(degenerate, limit, purchases)
                repeat = fit[f[fit] > 0]
                value = gamma_gamma_value(
                    _fit_gamma_gamma(GammaGammaFitter, f[repeat], m[repeat], penalizer).params, f, m
                )
        except Exception as exc:  # lifetimes raises ConvergenceError, ValueError, LinAlgError ...
            failed[pd.Timestamp(cutoff).date().isoformat()] = f"{type(exc).__name__}: {str(exc).strip()}"
            continue
        pred = purchases * value
        out.append(pd.DataFrame({"account_id": part["account_id"].to_numpy(), "cutoff_date": cutoff,
                                 "predicted_value": np.clip(pred, 0, None), "penalizer": bg.penalizer}))  # fmt: skip
    if not out:
        return pd.DataFrame(columns=["account_id", "cutoff_date", "predicted_value", "penalizer"]), failed
    return pd.concat(out, ignore_index=True), failed


def expected_purchases(
    params: pd.Series | dict, t: float, x: np.ndarray, recency: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """BG/NBD expected repeat purchases in the next `t` periods given (x, recency, T): Fader, Hardie and
    Lee (2005), equation (10), evaluated so that it stays finite where lifetimes' evaluation does not.

    lifetimes takes the log of 2F1(r+x, b+x; a+b+x-1; z), which is negative when a+b+x-1 < 0 (an account
    with no repeat purchase and a + b < 1, common in B2B books): NaN for every such account, and the
    baseline was dropped at most cut-offs. Here Euler's transformation
    (1-z)^(r+x) 2F1(r+x, b+x; c; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; c; z), with c = a+b+x-1, gives the same
    term from a hypergeometric whose first two parameters do not grow with x (so it neither overflows
    nor needs a log), and the denominator's ((alpha+T)/(alpha+recency))^(r+x) is taken in log space."""
    r, alpha, a, b = (float(params[k]) for k in ("r", "alpha", "a", "b"))
    x = np.asarray(x, dtype=float)
    recency = np.asarray(recency, dtype=float)
    T = np.asarray(T, dtype=float)
    c = a + b + x - 1
    z = t / (alpha + T + t)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        tail = np.exp((a - 1) * np.log1p(-z)) * hyp2f1(a + b - 1 - r, a - 1, c, z)
        numerator = (c / (a - 1)) * (1 - tail)
        # log of a/(b+x-1) * ((alpha+T)/(alpha+recency))^(r+x), for accounts with a repeat purchase
        log_odds = np.log(a / (b + x - 1)) + (r + x) * np.log((alpha + T) / (alpha + recency))
        denominator = np.where(x > 0, np.logaddexp(0.0, np.where(x > 0, log_odds, 0.0)), 0.0)
        return numerator * np.exp(-denominator)


def gamma_gamma_value(params: pd.Series, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Gamma-Gamma expected value of a purchase day given x repeat days of mean value m (Fader and Hardie's
    note 25, equation 5), by lifetimes' own evaluation so that its fits predict exactly as before."""
    from lifetimes import GammaGammaFitter

    gg = GammaGammaFitter()
    gg.params_ = params
    return gg.conditional_expected_average_profit(pd.Series(x), pd.Series(m)).to_numpy(float)


def bgnbd_sample(n_rows: int, sample_rows: int, seed: int, cutoff: pd.Timestamp) -> np.ndarray:
    """Sorted positions of the accounts a cutoff's BG/NBD fit uses: all of them when `sample_rows` is 0
    or not smaller than `n_rows`, else a random sample seeded by (seed, cutoff) so that each cutoff's
    sample is reproducible on its own."""
    if sample_rows <= 0 or n_rows <= sample_rows:
        return np.arange(n_rows)
    rng = np.random.default_rng([seed, cutoff.toordinal()])
    return np.sort(rng.choice(n_rows, size=sample_rows, replace=False))


LADDER = (1, 10, 100)  # lifetimes' BG/NBD fit is retried with these multiples of the penalizer


@dataclass(frozen=True)
class LifetimesFit:
    """Parameters of one fitted lifetimes model (named as lifetimes names them), the penalizer they were
    fitted with and the optimiser that found them: "bfgs" (lifetimes' own fit) or "trust-exact"."""

    params: pd.Series
    penalizer: float
    optimizer: str


def _fit_bgnbd(fitter: type, f: np.ndarray, r: np.ndarray, t: np.ndarray, penalizer: float) -> LifetimesFit:
    """BG/NBD fit: lifetimes' BFGS with the penalizer, then (lifetimes' own advice) 10× and 100× of it;
    when none converges, the same penalized likelihood minimised by `_trust_region_minimum`.

    The BFGS ladder stays first so that every cut-off that fitted before keeps its parameters. What it
    misses: with (almost) no dropout, usual for B2B books, the maximum lies at a, b -> 0 and BFGS walks
    log a and log b off to about -2000, where exp() underflows to 0 and the likelihood turns NaN (5x demo,
    2024-07-01 at penalizer 0.001). The trust-region Newton fit stops where the gradient vanishes, with a
    and b small but positive."""
    from lifetimes.utils import ConvergenceError

    for multiple in LADDER:
        try:
            bg = fitter(penalizer_coef=multiple * penalizer).fit(f, r, t)
            return LifetimesFit(bg.params_, multiple * penalizer, "bfgs")
        except ConvergenceError:
            continue
    scale = 1.0 / t.max()  # lifetimes' time scaling (oldest age = 1), so the start means the same
    args = (f.astype(int), r * scale, t * scale, np.ones(len(f), dtype=int), penalizer)
    log_params = _trust_region_minimum(fitter._negative_log_likelihood, args, 4, "BG/NBD")
    params = pd.Series(np.exp(log_params), index=["r", "alpha", "a", "b"])
    params["alpha"] /= scale
    return LifetimesFit(params, penalizer, "trust-exact")


def _fit_gamma_gamma(fitter: type, f: np.ndarray, m: np.ndarray, penalizer: float) -> LifetimesFit:
    """Gamma-Gamma fit (accounts with a repeat purchase day): lifetimes' BFGS, else the same penalized
    likelihood minimised by `_trust_region_minimum`.

    lifetimes reports a ConvergenceError whenever BFGS ends with "precision loss", even at the minimum:
    on the 5x demo (cut-offs 2024-07-01 and 2025-01-01) it stopped after 14 iterations with a gradient
    below 2e-7 and a positive definite Hessian, and the baseline was dropped there. A larger penalizer
    would move the optimum instead of confirming it; Newton's method with the exact Hessian confirms it."""
    from lifetimes.utils import ConvergenceError

    try:
        gg = fitter(penalizer_coef=penalizer).fit(f, m)
        return LifetimesFit(gg.params_, penalizer, "bfgs")
    except ConvergenceError:
        pass
    args = (f.astype(float), m.astype(float), np.ones(len(f), dtype=int), penalizer)
    log_params = _trust_region_minimum(fitter._negative_log_likelihood, args, 3, "Gamma-Gamma")
    return LifetimesFit(pd.Series(np.exp(log_params), index=["p", "q", "v"]), penalizer, "trust-exact")


def _trust_region_minimum(nll, args: tuple, n_params: int, model: str) -> np.ndarray:
    """Log-parameters minimising lifetimes' penalized negative log-likelihood `nll(log_params, *args)`,
    from lifetimes' own start (0.1 each), by scipy's exact trust-region Newton method with autograd's
    gradient and Hessian: deterministic, and it ends only where the gradient norm is below 1e-7 (or
    raises ConvergenceError with the optimiser's state, never returns an unconverged point)."""
    from autograd import hessian, value_and_grad
    from lifetimes.utils import ConvergenceError
    from scipy.optimize import minimize

    res = minimize(
        value_and_grad(nll),
        np.full(n_params, 0.1),
        args=args,
        jac=True,
        hess=hessian(nll),
        method="trust-exact",
        tol=1e-7,
    )
    converged = res.success and np.isfinite(res.fun) and np.all(np.isfinite(res.x))
    if converged and np.linalg.eigvalsh(hessian(nll)(res.x, *args)).min() <= 0:
        converged, res.message = False, "the Hessian there is not positive definite (not a minimum)"
    if not converged:
        raise ConvergenceError(
            f"{model} fit did not converge (neither lifetimes' BFGS nor trust-region Newton): {res.message} "
            f"after {res.nit} iterations, log-parameters {np.round(res.x, 4).tolist()}, "
            f"objective {res.fun}, largest gradient {np.max(np.abs(res.jac))}"
        )
    return res.x


def training_origins(history_start: date, cutoff: date, horizon_days: int) -> list[date]:
    """Origins c − horizon − 91·k (k = 0..3) that have a full trailing year in the history, newest first."""
    origins = []
    for k in range(MAX_TRAIN_ORIGINS):
        origin = cutoff - timedelta(days=horizon_days + QUARTER_DAYS * k)
        if origin - timedelta(days=TRAILING_DAYS) >= history_start:
            origins.append(origin)
    return origins


def run_backtest(
    path: str | Path, cutoff: date, horizon_days: int, cfg: GrowthModelConfig, seed: int
) -> BacktestResult:
    """Train on the file's history before `cutoff`, predict the next `horizon_days`, score against actuals."""
    if horizon_days < 1:
        raise TransactionFileError(f"--horizon-days must be at least 1, got {horizon_days}")
    con = duckdb.connect()
    try:
        load_transactions(con, path)
        daily_totals(con)
        first, n_before = con.execute(
            "select min(order_date), count(*) filter (where order_date < ?) from tx_daily", [cutoff]
        ).fetchall()[0]
        if first is None or n_before == 0:
            raise TransactionFileError(f"{path}: no transactions before the cut-off {cutoff}")
        origins = training_origins(first, cutoff, horizon_days)
        if not origins:
            need = first + timedelta(days=TRAILING_DAYS + horizon_days)
            raise TransactionFileError(
                f"{path}: the history starts {first}; training needs a trailing year plus the {horizon_days}-day "
                f"horizon before the cut-off, so use a cut-off on or after {need} or a shorter horizon"
            )
        frame = window_features(con, [*origins, cutoff], horizon_days)
        rfm = rfm_summary(con, [cutoff])
    finally:
        con.close()

    frame.loc[
        frame["cutoff_date"] < pd.Timestamp(first) + pd.Timedelta(days=2 * TRAILING_DAYS), "revenue_prev_t12m"
    ] = np.nan
    frame["yoy_ratio"] = frame["yoy_ratio"].where(frame["revenue_prev_t12m"].notna())
    shortest = float((min(origins) - first).days)
    frame["tenure_days"] = frame["tenure_days"].clip(upper=shortest)
    at_cutoff = frame["cutoff_date"] == pd.Timestamp(cutoff)
    train = ~at_cutoff & frame["known_before_cutoff"]
    scale = horizon_days / TRAILING_DAYS
    X = frame[FILE_FEATURES].astype("float64")
    y_train = np.clip(frame.loc[train, "label"].to_numpy(float), 0, None)
    # the model learns next-horizon revenue over the trailing year's revenue scaled to the horizon
    model = fit_expected(
        X[train], y_train, scale * frame.loc[train, "revenue_t12m"].to_numpy(float), cfg, seed
    )

    scored = frame[at_cutoff].reset_index(drop=True)
    known = scored["known_before_cutoff"].to_numpy()
    run_rate = scale * scored["revenue_t12m"].to_numpy(float)
    pred = np.where(known, model.predict(X[at_cutoff].reset_index(drop=True), run_rate), 0.0)
    bg, bg_failed = bgnbd_predictions(rfm, horizon_days)
    predictions = pd.DataFrame(
        {
            "account_id": scored["account_id"],
            "predicted_value": pred,
            "baseline_runrate": np.clip(run_rate, 0, None),
            "baseline_lastq": np.clip(
                scored["revenue_last_q"].to_numpy(float) * horizon_days / QUARTER_DAYS, 0, None
            ),
            "actual": scored["label"].to_numpy(float),
            "known_before_cutoff": known,
        }
    )
    if not bg_failed:  # accounts without a purchase before the cut-off have no BG/NBD history: 0
        bg_pred = scored[["account_id"]].merge(
            bg[["account_id", "predicted_value"]], on="account_id", how="left"
        )
        predictions["baseline_bgnbd"] = bg_pred["predicted_value"].fillna(0.0).to_numpy()
    rows = []
    for name, col in (("model", "predicted_value"), ("baseline_runrate", "baseline_runrate"),
                      ("baseline_lastq", "baseline_lastq"), ("baseline_bgnbd", "baseline_bgnbd")):  # fmt: skip
        if col not in predictions:
            continue
        rows.append(
            {"predictor": name, **evaluate(predictions[col].to_numpy(), predictions["actual"].to_numpy())}
        )
    return BacktestResult(
        predictions, pd.DataFrame(rows), sorted(origins), first, "; ".join(bg_failed.values())
    )
