"""Differential tests: dlc's compiled forward pass and one training step equal a hand-written
JAX/Optax version from the same initial parameters (micrograd style)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import dlc
from dlc.compiler.frontend import load_spec
from dlc.compiler.lower import lower
from dlc.runtime.train.step import init_state, make_functions

SPEC = """
data { digits }
model {
  dense 16
  relu
  dense 8
  sigmoid
  dense 10
}
loss cross_entropy
optimizer OPT
train { batch 64; epochs 1; seed 3 }
"""


def _spec(opt: str) -> str:
    return SPEC.replace("OPT", opt)


def _forward(params, x):
    h = jax.nn.relu(x @ params["00_dense"]["w"] + params["00_dense"]["b"])
    h = jax.nn.sigmoid(h @ params["02_dense"]["w"] + params["02_dense"]["b"])
    return h @ params["04_dense"]["w"] + params["04_dense"]["b"]


def _data(n=64):
    rng = np.random.default_rng(0)
    return (
        rng.normal(size=(n, 64)).astype(np.float32),
        rng.integers(0, 10, size=n).astype(np.int32),
    )


def test_forward_equals_hand_written() -> None:
    spec = load_spec(_spec("adam")).spec
    prog = lower(spec, (64,), 1)
    params, state = prog.init(jax.random.PRNGKey(0))
    x, _ = _data()
    out, _ = prog.apply(params, state, jnp.asarray(x), train=False)
    np.testing.assert_allclose(out, _forward(params, x), atol=1e-6, rtol=1e-6)


def _one_step_reference(params, x, y, tx):
    def loss(p):
        return optax.softmax_cross_entropy_with_integer_labels(_forward(p, x), y).mean()

    grads = jax.grad(loss)(params)
    updates, _ = tx.update(grads, tx.init(params), params)
    return optax.apply_updates(params, updates)


@pytest.mark.slow
def test_one_training_step_equals_hand_written() -> None:
    for opt, tx in [
        ("adam lr=0.01", optax.adam(0.01)),
        ("sgd lr=0.1 momentum=0.9", optax.sgd(0.1, momentum=0.9)),
    ]:
        spec = load_spec(_spec(opt)).spec
        x, y = _data()
        prog = lower(spec, (64,), 1)
        state = init_state(prog, seed=3)
        expected = _one_step_reference(state.params, x, y, tx)
        fns = make_functions(prog, n_train=64, batch=64, shuffle=False)
        new_state, stats = fns.epoch(state, jnp.asarray(x), jnp.asarray(y), jnp.int32(0))
        assert int(new_state.step) == 1 and bool(stats["finite"])
        for got, want in zip(
            jax.tree.leaves(new_state.params), jax.tree.leaves(expected), strict=True
        ):
            np.testing.assert_allclose(got, want, atol=1e-6, rtol=1e-6)


def test_padded_last_batch_counts_every_row_once() -> None:
    """70 rows at batch 32: 3 steps, the last padded with weight-0 rows."""
    spec = load_spec(_spec("sgd lr=1e-30")).spec
    prog = lower(spec, (64,), 3)
    fns = make_functions(prog, n_train=70, batch=32, shuffle=False)
    x, y = _data(70)
    state = init_state(prog, seed=0)
    params = jax.tree.map(jnp.copy, state.params)  # the epoch donates (deletes) its input
    _, stats = fns.epoch(state, jnp.asarray(x), jnp.asarray(y), jnp.int32(0))
    full = optax.softmax_cross_entropy_with_integer_labels(_forward(params, x), y).mean()
    assert fns.steps_per_epoch == 3
    np.testing.assert_allclose(float(stats["loss"]), float(full), rtol=1e-5)


def test_python_api_on_arrays() -> None:
    m = dlc.compile(_spec("adam lr=0.01").replace("epochs 1", "epochs 30"))
    x, y = _data(256)
    y = (x[:, 0] > 0).astype(np.int32)  # a learnable rule
    result = m.fit(x, y)
    assert len(result.history) == 30
    acc = m.evaluate(x=x, y=y)["eval_accuracy"]
    assert acc > 0.9
    probs = m.predict(x[:5])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
