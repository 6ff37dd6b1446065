"""Critical-point analysis: exact spectrum, Lanczos, verdicts, saddle escape, memory."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dlc.runtime.analysis.critical import CriticalPointReport, Verdict, analyze, classify
from dlc.runtime.analysis.hessian import (
    EXACT_LIMIT,
    Spectrum,
    _lanczos_program,
    escape_saddle,
    exact_spectrum,
    gradient_norm,
    hvp,
    lanczos_extremes,
)


def bowl(p):
    return p["x"] ** 2 + 3.0 * p["y"] ** 2


def saddle(p):
    return p["x"] ** 2 - p["y"] ** 2


def point(x: float, y: float) -> dict:
    return {"x": jnp.asarray(x), "y": jnp.asarray(y)}


def lecture_loss(w: jax.Array) -> jax.Array:
    """y_hat = w2 * (w1 * x), one hidden neuron, identity activation; data x = 1, y = 1; MSE."""
    x, y = 1.0, 1.0
    return (w[1] * (w[0] * x) - y) ** 2


@pytest.fixture
def x64():
    previous = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


def make_mlp(dtype):
    """3-8-1 tanh MLP (41 parameters) on 32 random points."""
    k = jax.random.split(jax.random.key(1), 3)
    xs = jax.random.normal(k[0], (32, 3), dtype)
    ys = jnp.sin(xs.sum(1, keepdims=True))
    params = {
        "w1": 0.7 * jax.random.normal(k[1], (3, 8), dtype),
        "b1": jnp.zeros(8, dtype),
        "w2": 0.5 * jax.random.normal(k[2], (8, 1), dtype),
        "b2": jnp.zeros(1, dtype),
    }

    def loss(p):
        return jnp.mean((jnp.tanh(xs @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"] - ys) ** 2)

    return loss, params


def test_bowl_at_origin_is_local_minimum():
    vals, vecs = exact_spectrum(bowl, point(0.0, 0.0))
    np.testing.assert_allclose(vals, [2.0, 6.0], atol=1e-5)
    np.testing.assert_allclose(np.abs(vecs), np.eye(2), atol=1e-6)
    report = analyze(bowl, point(0.0, 0.0))
    assert isinstance(report, CriticalPointReport)
    assert report.verdict == "local minimum"
    assert (report.method, report.n_params, report.n_negative) == ("exact", 2, 0)
    assert report.minimum_ratio == 1.0
    assert report.grad_norm == 0.0
    assert report.min_eig == pytest.approx(2.0, abs=1e-5)
    assert report.max_eig == pytest.approx(6.0, abs=1e-5)
    assert report.eig_tol == pytest.approx(6.0 * report.eig_rtol, rel=1e-5)


def test_saddle_at_origin():
    report = analyze(saddle, point(0.0, 0.0))
    assert report.verdict == "saddle point"
    assert report.n_negative == 1
    assert report.minimum_ratio == 0.5
    assert (report.min_eig, report.max_eig) == pytest.approx((-2.0, 2.0), abs=1e-5)
    text = report.describe()
    assert "saddle point" in text and "negative: 1" in text and "-2.0000e+00" in text


def test_off_critical_point():
    report = analyze(bowl, point(1.0, 0.0))
    assert report.verdict == "not a critical point"
    assert report.grad_norm == pytest.approx(2.0)
    assert gradient_norm(bowl, point(1.0, 2.0)) == pytest.approx(np.hypot(2.0, 12.0), rel=1e-6)
    # a gradient below the tolerance counts as zero
    assert analyze(bowl, point(1e-5, 0.0)).verdict == "local minimum"
    assert analyze(bowl, point(1e-5, 0.0), tol=1e-6).verdict == "not a critical point"


def test_maximum_and_flat_verdicts():
    assert analyze(lambda p: -bowl(p), point(0.0, 0.0)).verdict == "local maximum"
    flat = analyze(lambda p: 0.0 * bowl(p) + 1.0, point(0.0, 0.0))
    assert flat.verdict == "flat / inconclusive"
    assert flat.n_flat == 2


def test_escape_saddle_lowers_loss():
    params = point(0.0, 0.0)
    _, vecs = exact_spectrum(saddle, params)
    before, after, new = escape_saddle(saddle, params, vecs[:, 0])
    assert before == 0.0 and after < -1e-3
    assert float(saddle(new)) == pytest.approx(after)
    assert abs(float(new["x"])) < 1e-6 and abs(float(new["y"])) > 0.0
    # a fixed step, and a direction given as a params-shaped pytree
    before, after, new = escape_saddle(saddle, params, point(0.0, -1.0), step=0.5)
    assert after == pytest.approx(-0.25)
    assert abs(float(new["y"])) == pytest.approx(0.5)


def test_escape_keeps_params_when_nothing_is_lower():
    params = point(0.0, 0.0)
    before, after, new = escape_saddle(bowl, params, jnp.array([1.0, 0.0]))
    assert before == after == 0.0
    assert new is params
    with pytest.raises(ValueError, match="entries"):
        escape_saddle(bowl, params, jnp.ones(3))


def test_lecture_example_saddle_then_minimum():
    origin = jnp.zeros(2)
    assert gradient_norm(lecture_loss, origin) == 0.0
    vals, vecs = exact_spectrum(lecture_loss, origin)
    np.testing.assert_allclose(vals, [-2.0, 2.0], atol=1e-5)
    report = analyze(lecture_loss, origin)
    assert report.verdict == "saddle point"
    # along the negative-curvature eigenvector (+-(1, 1)/sqrt 2) the loss goes down from 1
    np.testing.assert_allclose(np.abs(vecs[:, 0]), [2**-0.5, 2**-0.5], atol=1e-5)
    before, after, new = escape_saddle(lecture_loss, origin, vecs[:, 0])
    assert before == 1.0 and after < 0.5
    assert float(new[0] * new[1]) > 0  # moved into the w1 * w2 > 0 quadrant
    # w1 = w2 = 1 fits the data: Hessian [[2, 2], [2, 2]], eigenvalues 0 (the valley) and 4
    report = analyze(lecture_loss, jnp.ones(2))
    assert report.verdict == "local minimum"
    assert (report.min_eig, report.max_eig) == pytest.approx((0.0, 4.0), abs=1e-5)
    assert report.n_flat == 1 and report.n_negative == 0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_hvp_and_lanczos_match_exact_on_mlp(x64, dtype):
    loss, params = make_mlp(jnp.dtype(dtype))
    vals, vecs = exact_spectrum(loss, params)
    assert vals.size == 41 and vals[0] < 0 < vals[-1]
    v = np.random.default_rng(0).normal(size=vals.size)
    rtol = 1e-9 if dtype == "float64" else 1e-4
    hv = np.asarray(hvp(loss, params)(v), np.float64)
    np.testing.assert_allclose(hv, (vecs * vals) @ (vecs.T @ v), rtol=rtol, atol=rtol * 10)
    lo, hi, vec = lanczos_extremes(loss, params, iters=20, key=jax.random.key(3))
    scale = np.abs(vals).max()
    assert abs(lo - vals[0]) / scale < 1e-3
    assert abs(hi - vals[-1]) / scale < 1e-3
    assert vec.shape == (41,) and np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)
    assert abs(vec @ vecs[:, 0]) > 0.99
    if dtype == "float64":
        via_lanczos = analyze(loss, params, exact_limit=10, iters=20)
        assert via_lanczos.method == "lanczos" and via_lanczos.n_negative is None
        assert via_lanczos.verdict == "not a critical point"
        assert via_lanczos.min_eig == pytest.approx(vals[0], rel=1e-3)


def test_exact_refuses_large_models():
    with pytest.raises(ValueError, match="Lanczos"):
        exact_spectrum(lambda p: (p**2).sum(), jnp.zeros(EXACT_LIMIT + 1))


def test_hvp_and_lanczos_memory_is_linear_at_200k_params():
    k = jax.random.split(jax.random.key(0), 4)
    xs = jax.random.normal(k[0], (16, 200))
    ys = jax.random.normal(k[1], (16, 1))
    params = {
        "w1": 0.05 * jax.random.normal(k[2], (200, 1000)),
        "w2": 0.05 * jax.random.normal(k[3], (1000, 1)),
    }

    def loss(p):
        return jnp.mean((jnp.tanh(xs @ p["w1"]) @ p["w2"] - ys) ** 2)

    n = 201_000
    square = n * n * 4  # a dense float32 Hessian: 161.6 GB
    hv = hvp(loss, params)
    v = jnp.ones(n)
    compiled = jax.jit(hv).lower(v).compile()
    stats = compiled.memory_analysis()
    used = stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
    assert used < 16 * n * 4 < square / 1000
    out = compiled(v)
    assert out.shape == (n,) and bool(jnp.all(jnp.isfinite(out)))
    assert float(jnp.vdot(v, out)) == pytest.approx(float(jnp.vdot(v, hv(v))), rel=1e-4)

    iters = 8
    program, flat, m = _lanczos_program(loss, params, iters)
    compiled = program.lower(flat, v).compile()
    stats = compiled.memory_analysis()
    used = stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
    assert m == iters
    assert used < (iters + 16) * n * 4  # the Krylov basis plus O(P) work space
    basis, alphas, betas, steps = compiled(flat, v)
    assert int(steps) == iters and basis.shape == (iters + 1, n)
    gram = np.asarray(basis @ basis.T, np.float64)
    np.testing.assert_allclose(gram, np.eye(iters + 1), atol=1e-4)  # orthonormal Krylov basis
    assert np.isfinite(np.asarray(alphas)).all() and float(jnp.min(betas)) > 0


def test_the_verdict_is_one_enum_whose_values_are_the_report_texts():
    report = analyze(bowl, point(0.0, 0.0))
    assert isinstance(report.verdict, Verdict) and report.verdict is Verdict.MINIMUM
    assert report.verdict == "local minimum" and f"{report.verdict}" == "local minimum"
    assert [v.value for v in Verdict] == [
        "local minimum",
        "saddle point",
        "local maximum",
        "not a critical point",
        "flat / inconclusive",
    ]


def test_classify_reads_a_spectrum_without_computing_it():
    flat = Spectrum("exact", -1e-12, 1e-12, np.array([-1e-12, 1e-12]), np.array([1.0, 0.0]))
    assert classify(0.0, flat, 2).verdict is Verdict.FLAT
    lanczos = Spectrum("lanczos", -1.0, 3.0, None, np.array([0.0, 1.0]))
    rep = classify(0.0, lanczos, 2)
    assert rep.verdict is Verdict.SADDLE and rep.n_negative is None


def test_the_analysis_computes_the_spectrum_once(monkeypatch):
    from dlc.runtime.analysis import hessian
    from dlc.runtime.analysis.analyze import critical_point

    calls = []
    real = hessian.exact_spectrum

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hessian, "exact_spectrum", counted)
    out = critical_point(
        lambda p: p[0] ** 2 - p[1] ** 2,
        jnp.zeros(2),
        exact_limit=10,
        tol=1e-3,
        key=jax.random.key(0),
    )
    assert out["hessian"]["verdict"] is Verdict.SADDLE
    assert out["escape"]["loss_after"] < out["escape"]["loss_before"]
    assert len(calls) == 1  # the verdict and the escape direction share it
