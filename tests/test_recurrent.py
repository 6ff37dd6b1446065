"""`rnn`, `lstm` and `gru` against a step-by-step NumPy reference written out here (forward in
float64, gradients against central differences of the reference), known answers, and the
padding mask: padded steps neither change the state nor the output."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dlc.compiler.layers.base import Context
from dlc.compiler.layers.recurrent import Gru, Lstm, Rnn

LAYERS = {"rnn": Rnn, "lstm": Lstm, "gru": Gru}


def sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def ref_direction(kind: str, p: dict, x: np.ndarray, mask: np.ndarray, reverse: bool):
    """One direction, one step at a time: (outputs [B, T, U], final h [B, U])."""
    b, t, _ = x.shape
    units = p["u"].shape[0]
    h = np.zeros((b, units))
    c = np.zeros((b, units))
    out = np.zeros((b, t, units))
    for step in reversed(range(t)) if reverse else range(t):
        for i in range(b):
            if not mask[i, step]:
                continue  # padding: the state stays, the output is 0
            xt, hi = x[i, step], h[i]
            if kind == "rnn":
                h[i] = np.tanh(xt @ p["w"] + hi @ p["u"] + p["b"])
            elif kind == "lstm":
                z = xt @ p["w"] + hi @ p["u"] + p["b"]
                gi, gf, gg, go = np.split(z, 4)
                c[i] = sigmoid(gf) * c[i] + sigmoid(gi) * np.tanh(gg)
                h[i] = sigmoid(go) * np.tanh(c[i])
            else:
                rx, zx, nx = np.split(xt @ p["w"] + p["b"], 3)
                rh, zh, nh = np.split(hi @ p["u"], 3)
                r, z = sigmoid(rx + rh), sigmoid(zx + zh)
                n = np.tanh(nx + r * nh)
                h[i] = (1 - z) * n + z * hi
            out[i, step] = h[i]
    return out, h


def reference(layer, params: dict, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    p64 = {k: np.asarray(v, np.float64) for k, v in params.items()}
    dirs = [ref_direction(layer.dl_name, p64, x, mask, reverse=False)]
    if layer.bidirectional:
        bw = {k[3:]: v for k, v in p64.items() if k.startswith("bw_")}
        dirs.append(ref_direction(layer.dl_name, bw, x, mask, reverse=True))
    return np.concatenate([d[0] if layer.return_sequences else d[1] for d in dirs], axis=-1)


def setup(kind: str, seq: bool, bi: bool):
    layer = LAYERS[kind](units=3, return_sequences=seq, bidirectional=bi)
    params = layer.init_params(jax.random.PRNGKey(0), (5, 2))
    # biases away from zero, so that they are tested too
    params = {k: v + 0.3 if k.endswith("b") else v for k, v in params.items()}
    x = np.random.default_rng(1).normal(size=(2, 5, 2))
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)  # the second: 3 words, 2 pads
    return layer, params, x, mask


def jax_apply(layer, params, x, mask):
    return layer.apply(params, jnp.asarray(x, jnp.float32), Context(mask=jnp.asarray(mask)))


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize(
    ("seq", "bi"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_forward_matches_the_numpy_reference(kind: str, seq: bool, bi: bool) -> None:
    layer, params, x, mask = setup(kind, seq, bi)
    got = np.asarray(jax_apply(layer, params, x, mask))
    assert got.shape == (2, *layer.output_shape((5, 2)))
    np.testing.assert_allclose(got, reference(layer, params, x, mask), atol=2e-6)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_gradients_match_central_differences_of_the_reference(kind: str) -> None:
    layer, params, x, mask = setup(kind, seq=True, bi=True)
    weights = np.random.default_rng(2).normal(size=(2, 5, 6))  # loss = Σ weights ⊙ outputs

    def loss(p):
        return jnp.sum(jax_apply(layer, p, x, mask) * weights)

    grads = jax.grad(loss)(params)
    eps = 1e-6
    for name, value in params.items():
        base = {k: np.asarray(v, np.float64) for k, v in params.items()}
        numeric = np.zeros(value.shape)
        for idx in np.ndindex(value.shape):
            plus = {**base, name: base[name].copy()}
            plus[name][idx] += eps
            minus = {**base, name: base[name].copy()}
            minus[name][idx] -= eps
            diff = reference(layer, plus, x, mask) - reference(layer, minus, x, mask)
            numeric[idx] = np.sum(diff * weights) / (2 * eps)
        np.testing.assert_allclose(np.asarray(grads[name]), numeric, atol=2e-5, err_msg=name)


def test_known_answers() -> None:
    x = np.array([[[0.5], [-1.0], [2.0]]])
    ones = np.ones((1, 3), bool)
    # rnn with w = u = 1, b = 0: h3 = tanh(2 + tanh(-1 + tanh(0.5)))
    rnn = Rnn(units=1)
    p = {"w": jnp.ones((1, 1)), "u": jnp.ones((1, 1)), "b": jnp.zeros(1)}
    want = np.tanh(2 + np.tanh(-1 + np.tanh(0.5)))
    assert float(jax_apply(rnn, p, x, ones)[0, 0]) == pytest.approx(want, abs=1e-6)
    # lstm with zero weights: every gate is 1/2 and g = 0, so c and h stay 0
    lstm = Lstm(units=2, return_sequences=True)
    zero = {k: jnp.zeros(s) for k, s in lstm.param_shapes((3, 1)).items()}
    assert float(jnp.abs(jax_apply(lstm, zero, x, ones)).max()) == 0.0
    # lstm, input gate and g saturated open, forget gate open, output gate open:
    # c counts the steps (c_t = c_{t-1} + 1), h = tanh(c)
    lstm1 = Lstm(units=1, return_sequences=True)
    b = jnp.array([50.0, 50.0, 50.0, 50.0])  # i, f, g, o
    p1 = {"w": jnp.zeros((1, 4)), "u": jnp.zeros((1, 4)), "b": b}
    got = np.asarray(jax_apply(lstm1, p1, x, ones))[0, :, 0]
    np.testing.assert_allclose(got, np.tanh([1.0, 2.0, 3.0]), atol=1e-6)
    # gru with the update gate shut (z = 0): h = n = tanh(x·w_n)
    gru = Gru(units=1, return_sequences=True)
    pg = {"w": jnp.array([[0.0, 0.0, 1.0]]), "u": jnp.zeros((1, 3)), "b": jnp.array([0, -50, 0.0])}
    got = np.asarray(jax_apply(gru, pg, x, ones))[0, :, 0]
    np.testing.assert_allclose(got, np.tanh(x[0, :, 0]), atol=1e-6)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_padding_changes_nothing(kind: str) -> None:
    """A sentence of 3 words gives the same final state (both directions) with or without 2 pads
    after it, whatever the pads hold; outputs at pads are 0."""
    layer = LAYERS[kind](units=4, bidirectional=True)
    params = layer.init_params(jax.random.PRNGKey(3), (5, 2))
    x = np.random.default_rng(4).normal(size=(1, 5, 2))
    short = jax_apply(layer, params, x[:, :3], np.ones((1, 3), bool))
    x2 = x.copy()
    x2[:, 3:] = 123.0
    padded_x = jax_apply(layer, params, np.concatenate([x[:, :3], x2[:, 3:]], 1), [[1, 1, 1, 0, 0]])
    np.testing.assert_allclose(short, padded_x, atol=1e-6)
    seq = LAYERS[kind](units=4, return_sequences=True)
    p2 = seq.init_params(jax.random.PRNGKey(3), (5, 2))
    ys = np.asarray(jax_apply(seq, p2, x2, np.array([[1, 1, 1, 0, 0]], bool)))
    assert np.all(ys[0, 3:] == 0.0)


def test_return_sequences_false_drops_the_mask_and_keeps_it_otherwise() -> None:
    ctx = Context(mask=jnp.ones((1, 3), bool))
    Lstm(units=2).apply(
        Lstm(units=2).init_params(jax.random.PRNGKey(0), (3, 1)), jnp.ones((1, 3, 1)), ctx
    )
    assert ctx.mask is None
    ctx = Context(mask=jnp.ones((1, 3), bool))
    seq = Lstm(units=2, return_sequences=True)
    seq.apply(seq.init_params(jax.random.PRNGKey(0), (3, 1)), jnp.ones((1, 3, 1)), ctx)
    assert ctx.mask is not None


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_padded_inputs_get_no_gradient(kind: str) -> None:
    layer, params, x, mask = setup(kind, seq=True, bi=True)

    def loss(x):
        return jnp.sum(jax_apply(layer, params, x, mask) ** 2)

    g = np.asarray(jax.grad(loss)(jnp.asarray(x, jnp.float32)))
    assert np.all(g[1, 3:] == 0.0)  # the second sequence's two pads
    assert np.all(np.abs(g[1, :3]).sum(-1) > 0) and np.all(np.abs(g[0]).sum(-1) > 0)
