"""The BG/NBD and Gamma-Gamma fits of `ml.backtest`: where lifetimes' BFGS converges its parameters are
kept as they are; where it gives up, the trust-region fit finds the minimum of the same penalized
likelihood (checked against an independent minimisation), so the baseline is not dropped."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import ConvergenceError
from scipy.optimize import minimize
from scipy.special import gammaln

from ml.backtest import _fit_bgnbd, _fit_gamma_gamma, bgnbd_predictions, expected_purchases

PENALIZER = 0.001


def synthetic_book(
    seed: int, n: int, bgnbd: tuple[float, float, float, float], gamma_gamma: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(repeat purchases x, recency, age T, mean repeat value m) drawn from the BG/NBD and Gamma-Gamma
    models themselves: a Poisson(lambda) purchase stream on (0, T], cut after a Geometric(p) number of
    repeats; the x-th of n uniform arrival times is T x Beta(x, n - x + 1)."""
    rng = np.random.default_rng(seed)
    r, alpha, a, b = bgnbd
    T = rng.uniform(5.0, 150.0, n)
    rate = rng.gamma(r, 1.0 / alpha, n)
    dropout = rng.beta(a, b, n)
    arrivals = rng.poisson(rate * T)
    x = np.minimum(arrivals, rng.geometric(np.clip(dropout, 1e-12, 1.0)))  # Beta draws can be exactly 0
    x1 = np.maximum(x, 1)
    recency = np.where(x > 0, T * rng.beta(x1, arrivals - x + 1), 0.0)
    p, q, gamma = gamma_gamma
    nu = rng.gamma(q, 1.0 / gamma, n)
    m = np.where(x > 0, rng.gamma(p * x1) / (nu * x1), 0.0)
    return x.astype(float), recency, T, m


# seed 6 of this book: lifetimes' Gamma-Gamma BFGS ends in "precision loss" at its minimum
GG_FAILS = dict(seed=6, n=2000, bgnbd=(3.0, 12.0, 0.1, 30.0), gamma_gamma=(3.0, 1.5, 100.0))
# an interior BG/NBD optimum (real dropout, Fader et al.'s CDNOW-like parameters in weeks)
WITH_DROPOUT = dict(seed=3, n=3000, bgnbd=(0.24, 4.41, 0.79, 2.43), gamma_gamma=(6.0, 4.0, 15.0))


def gamma_gamma_reference(x: np.ndarray, m: np.ndarray, penalizer: float) -> np.ndarray:
    """(p, q, v) minimising the Gamma-Gamma negative log-likelihood (Fader and Hardie's note 25, eq. 1a:
    the mean of x Gamma(p, nu) values with nu ~ Gamma(q, v)), per account, plus penalizer x |params|^2,
    written here from the note and minimised by Nelder-Mead: independent of lifetimes' code and BFGS."""

    def objective(log_params: np.ndarray) -> float:
        p, q, v = np.exp(log_params)
        px = p * x
        ll = (
            gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m)
            + px * np.log(x) - (px + q) * np.log(v + m * x)
        )  # fmt: skip
        return -ll.mean() + penalizer * float(np.sum(np.exp(2 * log_params)))

    res = minimize(
        objective, np.full(3, 0.1), method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000, "maxfev": 20000},
    )  # fmt: skip
    assert res.success
    return np.exp(res.x)


class RefusingBetaGeoFitter(BetaGeoFitter):
    """lifetimes' BG/NBD model whose BFGS fit never converges: drives `_fit_bgnbd` past its ladder."""

    def fit(self, *args, **kwargs):
        raise ConvergenceError("refused")


def _quiet(fn):
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn()


def test_gamma_gamma_where_lifetimes_gives_up_is_the_penalized_maximum_likelihood() -> None:
    x, _, _, m = synthetic_book(**GG_FAILS)
    repeat = x > 0
    with pytest.raises(ConvergenceError):
        _quiet(lambda: GammaGammaFitter(penalizer_coef=PENALIZER).fit(x[repeat], m[repeat]))

    fit = _quiet(lambda: _fit_gamma_gamma(GammaGammaFitter, x[repeat], m[repeat], PENALIZER))
    assert fit.optimizer == "trust-exact" and fit.penalizer == PENALIZER
    reference = gamma_gamma_reference(x[repeat], m[repeat], PENALIZER)
    np.testing.assert_allclose(fit.params[["p", "q", "v"]].to_numpy(), reference, rtol=1e-5)


def test_fits_lifetimes_converges_on_keep_lifetimes_parameters() -> None:
    x, recency, T, m = synthetic_book(**WITH_DROPOUT)
    repeat = x > 0
    bg = _quiet(lambda: _fit_bgnbd(BetaGeoFitter, x, recency, T, PENALIZER))
    theirs = _quiet(lambda: BetaGeoFitter(penalizer_coef=PENALIZER).fit(x, recency, T))
    assert bg.optimizer == "bfgs" and bg.penalizer == PENALIZER
    pd.testing.assert_series_equal(bg.params, theirs.params_)

    gg = _quiet(lambda: _fit_gamma_gamma(GammaGammaFitter, x[repeat], m[repeat], PENALIZER))
    theirs_gg = _quiet(lambda: GammaGammaFitter(penalizer_coef=PENALIZER).fit(x[repeat], m[repeat]))
    assert gg.optimizer == "bfgs"
    pd.testing.assert_series_equal(gg.params, theirs_gg.params_)


def test_bgnbd_trust_region_fit_finds_lifetimes_own_minimum() -> None:
    """Same likelihood, same penalizer, same start: past the ladder the fallback lands where BFGS does."""
    x, recency, T, _ = synthetic_book(**WITH_DROPOUT)
    theirs = _quiet(lambda: BetaGeoFitter(penalizer_coef=PENALIZER).fit(x, recency, T)).params_
    fit = _quiet(lambda: _fit_bgnbd(RefusingBetaGeoFitter, x, recency, T, PENALIZER))
    assert fit.optimizer == "trust-exact" and fit.penalizer == PENALIZER
    assert 0.05 < theirs["a"] / (theirs["a"] + theirs["b"]) < 0.95  # an interior optimum
    np.testing.assert_allclose(fit.params.to_numpy(), theirs[fit.params.index].to_numpy(), rtol=1e-4)


def test_bgnbd_without_dropout_fits_at_the_given_penalizer() -> None:
    """A B2B book where almost nobody leaves (dropout 1e-4 a purchase): at penalizer 0.001 BFGS runs
    log a and log b off towards -inf until the likelihood turns NaN, and the ladder needs 100x the
    penalizer. The trust-region fit converges at 0.001 with a / (a + b) ~ 0, the book's purchase rate
    r / alpha (0.25 a week) and its r (3)."""
    x, recency, T, _ = synthetic_book(
        seed=1, n=3000, bgnbd=(3.0, 12.0, 0.01, 100.0), gamma_gamma=(3.0, 1.5, 100.0)
    )
    with pytest.raises(ConvergenceError):
        _quiet(lambda: BetaGeoFitter(penalizer_coef=PENALIZER).fit(x, recency, T))
    ladder = _quiet(lambda: _fit_bgnbd(BetaGeoFitter, x, recency, T, PENALIZER))
    assert ladder.optimizer == "bfgs" and ladder.penalizer == 100 * PENALIZER

    fit = _quiet(lambda: _fit_bgnbd(RefusingBetaGeoFitter, x, recency, T, PENALIZER))
    p = fit.params
    assert fit.optimizer == "trust-exact" and fit.penalizer == PENALIZER
    assert np.isfinite(p.to_numpy()).all() and (p > 0).all()
    assert p["a"] / (p["a"] + p["b"]) < 1e-3
    assert p["r"] / p["alpha"] == pytest.approx(0.25, rel=0.05)
    assert p["r"] == pytest.approx(3.0, rel=0.1)  # the ladder's 100x penalizer pulls r to about 1.2


def test_bgnbd_baseline_is_kept_where_lifetimes_gamma_gamma_gives_up() -> None:
    """End to end: on main this cut-off was reported failed; now every account has the BG/NBD expectation
    times the Gamma-Gamma expected value of the independent reference fit."""
    x, recency, T, m = synthetic_book(**GG_FAILS)
    days = 7.0  # bgnbd_predictions reads days and fits weeks
    rfm = pd.DataFrame(
        {"account_id": [f"A{i:05d}" for i in range(len(x))], "cutoff_date": pd.Timestamp("2025-01-01"),
         "frequency": x, "recency": recency * days, "T": T * days, "monetary_value": m}
    )  # fmt: skip
    out, failed = bgnbd_predictions(rfm, 364, penalizer=PENALIZER)
    assert failed == {}
    assert len(out) == len(rfm) and np.isfinite(out["predicted_value"]).all()

    bg = _quiet(lambda: BetaGeoFitter(penalizer_coef=PENALIZER).fit(x, recency, T)).params_
    purchases = expected_purchases(bg, 52.0, x, recency, T)
    p, q, v = gamma_gamma_reference(x[x > 0], m[x > 0], PENALIZER)
    m_used = np.clip(m, 0.01, None)
    weight = p * x / (p * x + q - 1)
    value = (1 - weight) * v * p / (q - 1) + weight * m_used
    np.testing.assert_allclose(
        out["predicted_value"].to_numpy(), np.clip(purchases * value, 0, None), rtol=1e-5
    )


def test_a_fit_without_a_minimum_is_reported_not_returned() -> None:
    """Unpenalized, the no-dropout book's likelihood keeps rising towards a, b -> infinity: the
    trust-region fit must raise (the cut-off is then reported as failed), never return where it stopped."""
    x, recency, T, _ = synthetic_book(
        seed=1, n=3000, bgnbd=(3.0, 12.0, 0.01, 100.0), gamma_gamma=(3.0, 1.5, 100.0)
    )
    with pytest.raises(ConvergenceError, match=r"^BG/NBD fit did not converge .* largest gradient"):
        _quiet(lambda: _fit_bgnbd(RefusingBetaGeoFitter, x, recency, T, 0.0))
