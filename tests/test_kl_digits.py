"""Issue 14, `kl_divergence` on shipped soft labels (specs/kl_digits.dl): the file holds
probability rows, the loss equals KL computed in NumPy, and its `accuracy` is argmax agreement."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np

from dlc.compiler.frontend import load_spec
from dlc.compiler.losses import KLDivergence
from dlc.runtime.data.prepare import prepare

SPECS = Path(__file__).resolve().parents[1] / "specs"


def test_soft_labels_are_probability_rows_of_a_good_teacher() -> None:
    d = np.load(SPECS / "data" / "digits" / "digits_soft.npz")
    soft, y = d["soft_y"], d["train_y"]
    assert soft.shape == (400, 10) and np.allclose(soft.sum(axis=1), 1.0, atol=1e-5)
    assert int((soft.argmax(axis=1) == y).sum()) == 377  # specs/data/README.md
    assert 0.5 < float(soft.max(axis=1).mean()) < 0.9  # soft, not one-hot


def test_kl_loss_and_accuracy_by_hand() -> None:
    rng = np.random.default_rng(0)
    out = rng.normal(size=(6, 4))
    y = rng.dirichlet(np.ones(4), size=6)
    logq = out - out.max(1, keepdims=True)
    logq = logq - np.log(np.exp(logq).sum(1, keepdims=True))
    want = (y * (np.log(y) - logq)).sum(1)
    loss = KLDivergence()
    got = loss.per_example(jnp.asarray(out), jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5)
    acc = loss.metrics(jnp.asarray(out), jnp.asarray(y))["accuracy"]
    np.testing.assert_array_equal(np.asarray(acc), (out.argmax(1) == y.argmax(1)).astype(float))


def test_kl_spec_reads_soft_targets() -> None:
    data = prepare(load_spec(SPECS / "kl_digits.dl"))
    assert data.num_classes is None and data.target_shape == (10,)
    x, y = data.parts["train"]
    assert x.max() <= 1.0 and np.allclose(y.sum(axis=1), 1.0, atol=1e-5)
