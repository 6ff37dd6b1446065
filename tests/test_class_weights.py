"""Issue 12, class weights: `loss cross_entropy class_weights=balanced|[w0, w1, ...]` weighs each
training example's loss by its class's weight, inside the traced loss; checked against the
weighted loss computed by hand in NumPy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dlc
from dlc.compiler.errors import DlcError
from dlc.compiler.explain import canonical_json
from dlc.compiler.frontend import load_spec
from dlc.compiler.losses import BinaryCrossEntropy, CrossEntropy, Focal
from dlc.compiler.passes import balanced_weights

ROWS = "a,b,label\n" + "".join(
    f"{i % 7 / 7:.3f},{(i * 3) % 5 / 5:.3f},{'x' if i % 6 == 0 else 'y' if i % 3 else 'z'}\n"
    for i in range(60)
)


def _spec(weights: str) -> str:
    return (
        f'data {{\n  csv "{{csv}}" target=label classes=true\n  split train=1\n}}\n'
        "model { dense 3 }\n"
        f"loss cross_entropy {weights}\noptimizer sgd lr=0.1\ntrain {{ epochs 1; batch 64 }}\n"
    )


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("weights", ["class_weights=balanced", "class_weights=[0.5, 2, 4]"])
def test_training_loss_is_the_weighted_mean_by_hand(tmp_path, weights: str) -> None:
    (tmp_path / "d.csv").write_text(ROWS)
    model = dlc.compile(_spec(weights).replace("{csv}", str(tmp_path / "d.csv")))
    x, y = model.data.parts["train"]
    counts = np.bincount(y, minlength=3)
    assert model.data.class_counts() == tuple(counts)
    balanced = len(y) / (3 * counts)  # scikit-learn's "balanced"
    cw = balanced if "balanced" in weights else np.array([0.5, 2.0, 4.0])
    np.testing.assert_allclose(model.spec.loss.class_weights, cw, rtol=1e-12)
    program = model.program(len(x))
    params, state = program.init(jax.random.PRNGKey(0))
    w = np.ones(len(x), np.float32)
    w[:5] = 0.0  # padded rows weigh nothing, whatever their class
    got, _ = program.loss(params, state, jnp.asarray(x), jnp.asarray(y), jnp.asarray(w), None)
    p = params["00_dense"]
    nll = -_log_softmax(x @ np.asarray(p["w"], np.float64) + np.asarray(p["b"]))[
        np.arange(len(y)), y
    ]
    # the weighted mean, as PyTorch's CrossEntropyLoss(weight=...): Σ w·c·l / Σ w·c
    want = np.sum(w * cw[y] * nll) / np.sum(w * cw[y])
    assert float(got) == pytest.approx(want, rel=1e-5)
    # the reported (evaluation) loss stays the plain mean: only training is weighted
    assert want != pytest.approx(float(np.mean(nll)), rel=1e-3)


def test_weights_per_loss_kind() -> None:
    cw = [1.0, 3.0]
    logits = jnp.array([[0.2, -0.1], [1.0, 0.5], [0.0, 0.3]])
    y = jnp.array([1, 0, 1])
    per = CrossEntropy(class_weights=cw).per_example(logits, y)
    np.testing.assert_allclose(CrossEntropy(class_weights=cw).weights_of(y, per), [3, 1, 3])
    onehot = jax.nn.one_hot(y, 2)
    np.testing.assert_allclose(Focal(class_weights=cw).weights_of(onehot, per), [3, 1, 3])
    # per-token labels with padding (-1): shape [B, T]; padding is masked by element_weights
    tags = jnp.array([[1, 0, -1]])
    per_tok = jnp.ones((1, 3))
    np.testing.assert_allclose(
        CrossEntropy(class_weights=cw).weights_of(tags, per_tok), [[3, 1, 1]]
    )
    yb = jnp.array([[1.0], [0.0]])
    per_b = jnp.ones(2)
    np.testing.assert_allclose(BinaryCrossEntropy(class_weights=cw).weights_of(yb, per_b), [3, 1])
    assert [round(v, 4) for v in balanced_weights((6, 2, 0))] == [0.6667, 2.0, 1.0]


def test_wrong_count_is_an_error_at_the_loss(tmp_path) -> None:
    (tmp_path / "d.csv").write_text(ROWS)
    text = _spec("class_weights=[1, 2]").replace("{csv}", str(tmp_path / "d.csv"))
    with pytest.raises(DlcError) as err:
        dlc.compile(text)
    d = err.value.diagnostics[0]
    assert "2 weights for 3 classes" in d.message and d.span.line == 6


def test_regression_losses_have_no_class_weights() -> None:
    with pytest.raises(DlcError) as err:
        load_spec(
            "data { fizzbuzz }\nmodel { dense 1 }\nloss mse class_weights=balanced\n"
            "optimizer adam\n"
        )
    assert "class_weights" in err.value.diagnostics[0].message


def test_hash_unchanged_without_class_weights() -> None:
    spec = load_spec("data { fizzbuzz }\nmodel { dense 4 }\nloss cross_entropy\noptimizer adam\n")
    assert "class_weights" not in canonical_json(spec.spec)
