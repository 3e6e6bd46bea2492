"""Issue 10, names that mean one thing: every renamed public name, keyword and attribute still works for one
release, emits a DeprecationWarning and gives exactly what the new name gives (CHANGELOG.md, "Structure")."""

import warnings

import numpy as np
import pytest

from odes.common.errors import ParameterError

DEP = pytest.warns(DeprecationWarning)


def _same(a, b):
    """Bitwise-equal arrays / tuples of arrays / dicts of arrays."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        np.testing.assert_array_equal(a, b)


class _Sentinel(Exception):
    pass


class _Probe:
    """Raises on any attribute access: shows which function was reached without building a real result."""

    def __getattr__(self, name):
        raise _Sentinel(name)


# ------------------------------------------------------------------------------------------ population time
@pytest.mark.parametrize("solver, args", [("solve_limit", ()), ("finite_d_modes", (12,)),
                                          ("finite_d_matrix", (6,))])
def test_population_gammas_keyword_is_taus(solver, args):
    from odes.population import highdim as hd
    from odes.population.params import HighDimParams

    p, taus = HighDimParams(0.5, 0.5), [0.0, 0.3, 0.6]
    f = getattr(hd, solver)
    new = f(p, *args, taus=taus)
    with DEP:
        old = f(p, *args, gammas=taus)
    _same((old.tau, old.loss, old.chi, old.trace_excess), (new.tau, new.loss, new.chi, new.trace_excess))
    _same(new.tau, taus)
    with pytest.raises(ParameterError, match="gammas"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        f(p, *args, taus=taus, gammas=taus)


def test_highdim_result_properties_read_the_stored_fields():
    from odes.population.highdim import long_time, solve_limit
    from odes.population.params import HighDimParams

    p = HighDimParams(0.25, 0.5)
    r = solve_limit(p, [0.0, 1.0])
    assert r.tau is r.gamma and r.trace_excess is r.lam
    lt = long_time(p)
    assert lt["lam_inf"] == lt["trace_excess_inf"] == 2.0 * (1 / 0.5 - 1 / 0.25)     # 2(1/kappa* - 1/kappa)


def test_validate_population_gammas_keyword_is_taus():
    from odes.population.params import HighDimParams
    from validation.compare_population import validate_population

    p, taus = HighDimParams(0.5, 0.5), np.linspace(0.0, 0.5, 3)
    new = validate_population(p, [8], 1, taus=taus)
    with DEP:
        old = validate_population(p, [8], 1, gammas=taus)
    assert new.tau is new.gamma
    _same((old.tau, old.loss, old.limit_loss), (new.tau, new.loss, new.limit_loss))


# ------------------------------------------------------------------------------------------ MP ratio
@pytest.mark.parametrize("ratio", [0.5, 2.0])
def test_mp_gamma_keyword_is_ratio(ratio):
    from odes.common import random_matrices as rm

    with DEP:
        old = rm.mp_quantiles(gamma=ratio, d=50)
    _same(old, rm.mp_quantiles(ratio=ratio, d=50))
    _same(old, rm.mp_quantiles(ratio, 50))
    with DEP:
        oldc = rm.mp_cdf_continuous(gamma=ratio, n=101)
    _same(oldc, rm.mp_cdf_continuous(ratio, 101))


def test_free_convolution_gamma_is_mp_ratio():
    from dmft.spectra import FreeConvolution

    fc = FreeConvolution(0.25, 0.1)
    with DEP:
        g = fc.gamma
    assert g == fc.mp_ratio == 4.0                                                   # 1/kappa*


# ------------------------------------------------------------------------------------------ teacher names
def test_teacher_weights_split():
    from odes.finite_width import hessian
    from odes.finite_width.params import FiniteWidthParams
    from odes.population import powerlaw as pl

    with DEP:
        old = pl.teacher_weights(1.0, 10)
    _same(old, pl.teacher_spectrum(1.0, 10))
    par = FiniteWidthParams(2, 2, gamma=0.05, T=[[1.0, 0.3], [0.3, 0.8]])
    with DEP:
        oldv = hessian.teacher_weights(par, 6)
    new = hessian.teacher_vectors(par, 6)
    _same(oldv, new)
    np.testing.assert_allclose(new @ new.T, par.T, rtol=1e-14)                      # U* U*^T = T


def test_powerlaw_lam_keyword_is_spectrum():
    from odes.common.random_matrices import wishart
    from odes.population import powerlaw as pl

    rng = np.random.default_rng(0)
    r, m = 4, 6
    spec = pl.teacher_spectrum(1.0, r)
    G_V, N0 = rng.standard_normal((r, m)) * 0.05, wishart(rng, m, 20, 0.01)
    t = [0.0, 0.5, 1.0]
    for f in (pl.teacher_block_curve, pl.restart_curve, pl.integrate_gram_ode):
        with DEP:
            old = f(G_V, N0, lam=spec, times=t)
        _same(old, f(G_V, N0, spectrum=spec, times=t))
    with DEP:
        old = pl.risk_from_blocks(G_V, N0, lam=spec)
    assert old == pl.risk_from_blocks(G_V, N0, spec)
    diag = np.outer([0.2, 1.0], spec)                   # S_jj below / above lambda_j/2 for every j: J = 0, r
    with DEP:
        old = pl.learned_directions(diag, lam=spec)
    _same(old, pl.learned_directions(diag, spec))
    _same(old, [0, r])
    with DEP:
        prop = pl.RestartPropagator(G_V, N0, lam=spec)
    with DEP:
        lam = prop.lam
    _same(lam, prop.spectrum)
    _same(prop.spectrum, spec)


# ------------------------------------------------------------------------------------------ initial overlaps
def test_initial_state_is_initial_overlaps():
    import odes.finite_width as fw
    from odes.finite_width import integrate
    from odes.finite_width.params import FiniteWidthParams

    par = FiniteWidthParams(2, 1, gamma=0.1)
    new = fw.initial_overlaps(par, [[0.2], [0.1]])
    for mod in (fw, integrate):
        with DEP:
            _same(mod.initial_state(par, [[0.2], [0.1]]), new)
    with DEP:
        _same(fw.initial_state(par, N=100, seed=3), fw.initial_overlaps(par, N=100, seed=3))
    np.testing.assert_allclose(new[0], np.eye(2) + np.array([[0.04, 0.02], [0.02, 0.01]]), rtol=1e-14)  # I + M M^T


# ------------------------------------------------------------------------------------------ plots, deviations
@pytest.mark.parametrize("module, new", [("dmft.plots_stationary", "plot_stationary_validation"),
                                         ("validation.plots_dmft", "plot_dmft_validation"),
                                         ("validation.plots_population", "plot_population_validation")])
def test_plot_validation_aliases(module, new):
    import importlib

    import matplotlib.pyplot as plt

    mod = importlib.import_module(module)
    try:
        with pytest.raises(_Sentinel) as e_new:
            getattr(mod, new)(_Probe())
        with DEP, pytest.raises(_Sentinel) as e_old:
            mod.plot_validation(_Probe())
        assert str(e_old.value) == str(e_new.value)       # reached the same code (same first attribute read)
    finally:
        plt.close("all")


def test_deviations_split():
    from validation import compare_dmft, compare_ode

    rng = np.random.default_rng(1)
    S, n, p, ps = 3, 5, 2, 1
    arrs = (rng.standard_normal((S, n, p, p)), rng.standard_normal((S, n, p, ps)), rng.standard_normal((S, n)),
            rng.standard_normal((S, n, p, p)), rng.standard_normal((S, n, p, ps)), rng.standard_normal((S, n)))
    new = compare_ode.max_deviations(*arrs)
    with DEP:
        _same(compare_ode.deviations(*arrs), new)
    np.testing.assert_array_equal(new["D_eps"], [max(abs(arrs[2][s] - arrs[5][s])) for s in range(S)])
    with pytest.raises(_Sentinel):
        compare_dmft.relative_deviations(_Probe(), _Probe())
    with DEP, pytest.raises(_Sentinel):
        compare_dmft.deviations(_Probe(), _Probe())
