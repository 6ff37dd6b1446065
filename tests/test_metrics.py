"""The `report=[...]` metrics are exact over a whole evaluation set, chunk by chunk, and equal
scikit-learn's; the new losses equal their formulas; early stopping can monitor the metrics."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import metrics as skm

from dlc.compiler import metrics
from dlc.compiler.errors import DlcError
from dlc.compiler.losses import BinaryCrossEntropy, CrossEntropy, Focal, Hinge, Huber, KLDivergence
from dlc.runtime.train import step
from dlc.runtime.train.early_stop import monitor_mode
from dlc.runtime.train.model import CompiledModel


def accumulate(name: str, chunks: list[dict], classes: int = 3, outputs: int = 1, rows: int = 99):
    acc = metrics.start(name, classes=classes, outputs=outputs, rows=rows)
    for c in chunks:
        acc = metrics.update(name, acc, **{k: jnp.asarray(v) for k, v in c.items()})
    return float(metrics.finish(name, acc))


def split(n: int, k: int, **arrays: np.ndarray) -> list[dict]:
    """The arrays cut into `k` chunks of rows (of about equal size)."""
    bounds = np.linspace(0, n, k + 1).astype(int)
    return [{a: v[lo:hi] for a, v in arrays.items()} for lo, hi in itertools.pairwise(bounds)]


@pytest.mark.parametrize("average", ["macro", "binary"])
def test_precision_recall_f1_equal_scikit_learn_over_chunks(average: str) -> None:
    rng = np.random.default_rng(0)
    k = 2 if average == "binary" else 4  # class 3 never occurs: left out of the macro average
    labels = rng.integers(0, min(k, 3), 90)
    pred = np.where(rng.random(90) < 0.6, labels, rng.integers(0, min(k, 3), 90))
    w = rng.uniform(0.5, 2.0, 90)
    chunks = split(90, 4, labels=labels, pred=pred, w=w)
    for c in chunks:
        c["binary"] = np.array(average == "binary")
    for name, fn in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        want = fn(labels, pred, average=average, sample_weight=w)
        assert accumulate(name, chunks, classes=k) == pytest.approx(want, abs=1e-5), name
        per = fn(labels, pred, average=None, sample_weight=w)
        for i, v in enumerate(per):
            assert accumulate(f"{name}_{i}", chunks, classes=k) == pytest.approx(v, abs=1e-5)


def test_padding_tokens_and_zero_weights_do_not_count() -> None:
    chunk = {
        "labels": np.array([0, 1, -1, 1]),
        "pred": np.array([0, 1, 1, 0]),
        "w": np.array([1.0, 1.0, 0.0, 1.0]),
        "binary": np.array(False),
    }
    want = skm.f1_score([0, 1, 1], [0, 1, 0], average="macro")
    assert accumulate("f1", [chunk], classes=2) == pytest.approx(want)


def test_roc_auc_equals_scikit_learn_with_ties_weights_and_chunks() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    score = np.round(y * 0.7 + rng.normal(size=200), 1)  # rounded: many ties
    w = rng.uniform(0.2, 3.0, 200)
    w[::17] = 0.0  # padding rows
    chunks = split(200, 3, labels=y, score=score, w=w)
    got = accumulate("roc_auc", chunks, rows=200)
    keep = w > 0
    want = skm.roc_auc_score(y[keep], score[keep], sample_weight=w[keep])
    assert got == pytest.approx(want, abs=1e-6)


def test_r2_equals_scikit_learn_over_chunks() -> None:
    rng = np.random.default_rng(2)
    y = 15.0 + 7.0 * rng.normal(size=(120, 2))  # far from 0: the merge must stay stable
    out = y + rng.normal(size=(120, 2)) * [2.0, 5.0]
    w = rng.uniform(0.5, 1.5, 120)
    got = accumulate("r2", split(120, 5, y=y, out=out, w=w), outputs=2)
    assert got == pytest.approx(skm.r2_score(y, out, sample_weight=w), abs=1e-5)


def test_losses_equal_their_formulas() -> None:
    out = jnp.array([[2.0, -1.0, 0.5], [0.1, 0.2, -3.0]])
    y = jnp.array([0, 2])
    p = np.asarray(jax.nn.softmax(out, axis=-1))
    want = -((1 - p[[0, 1], [0, 2]]) ** 2) * np.log(p[[0, 1], [0, 2]])
    np.testing.assert_allclose(Focal(gamma=2.0).per_example(out, y), want, rtol=1e-5)
    ce = CrossEntropy().per_example(out, y)
    np.testing.assert_allclose(Focal(gamma=0.0).per_example(out, y), ce, rtol=1e-6)
    # label smoothing 0.3 over 3 classes: target 0.8 on the label, 0.1 elsewhere
    soft = np.full((2, 3), 0.1)
    soft[[0, 1], [0, 2]] = 0.8
    smooth = -(soft * np.log(p)).sum(-1)
    np.testing.assert_allclose(
        CrossEntropy(label_smoothing=0.3).per_example(out, y), smooth, rtol=1e-5
    )
    kl = (soft * (np.log(soft) - np.log(p))).sum(-1)
    np.testing.assert_allclose(KLDivergence().per_example(out, jnp.asarray(soft)), kl, rtol=1e-5)
    assert float(KLDivergence().per_example(jnp.log(jnp.asarray(soft)), soft).max()) < 1e-6
    d = jnp.array([[0.5], [3.0]])
    np.testing.assert_allclose(
        Huber(delta=1.0).per_example(d, jnp.zeros((2, 1))), [0.125, 2.5], rtol=1e-6
    )
    s, t = jnp.array([[0.3], [-2.0], [1.5]]), jnp.array([1, 1, 0])
    np.testing.assert_allclose(Hinge().per_example(s, t), [0.7, 3.0, 2.5], rtol=1e-6)
    probs = jnp.array([[0.9], [0.2], [0.6]])
    want = -np.log([0.9, 0.2, 0.4])
    got = BinaryCrossEntropy(from_logits=False).per_example(probs, t)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    logits = jnp.log(probs / (1 - probs))
    np.testing.assert_allclose(BinaryCrossEntropy().per_example(logits, t), want, rtol=1e-5)


def test_a_metric_the_loss_cannot_report_is_an_error_at_its_place(tmp_path) -> None:
    spec = tmp_path / "bad.dl"
    spec.write_text("data { digits }\nmodel { dense 10 }\nloss mse report=[f1]\n")
    with pytest.raises(DlcError) as err:
        CompiledModel.from_source(spec)
    assert ":3:" in str(err.value) and "f1" in str(err.value)


def test_monitor_modes() -> None:
    assert {monitor_mode(f"valid_{m}") for m in ("f1", "recall_2", "roc_auc", "r2")} == {"max"}


@pytest.mark.slow
def test_digits_report_equals_scikit_learn_on_the_whole_test_part(specs_dir, monkeypatch) -> None:
    """Through `evaluate` in chunks of 64 rows; early stopping monitors the macro F1."""
    monkeypatch.setattr(step, "EVAL_CHUNK", 64)
    model = CompiledModel.from_source(
        specs_dir / "focal_digits.dl", overrides=["train.epochs=3", "train.early_stop.patience=2"]
    )
    model.fit()
    x, y = model.data.parts["test"]
    pred = np.asarray(model.predict(x)).argmax(-1)
    got = model.evaluate("test")
    assert got["test_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"), abs=1e-5)
    per = skm.f1_score(y, pred, average=None)
    assert [got[f"test_f1_{i}"] for i in range(10)] == pytest.approx(list(per), abs=1e-5)
    assert got["test_recall"] == pytest.approx(skm.recall_score(y, pred, average="macro"), 1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bce_sentiment", "hinge_sentiment"])
def test_binary_specs_report_equals_scikit_learn(specs_dir, name: str) -> None:
    model = CompiledModel.from_source(specs_dir / f"{name}.dl", overrides=["train.epochs=4"])
    model.fit()
    x, y = model.data.parts["test"]
    score = np.asarray(model.predict(x))[:, 0]
    pred = score > (0.5 if name == "bce_sentiment" else 0.0)
    got = model.evaluate("test")
    assert got["test_accuracy"] > 0.65  # half are positive
    assert got["test_roc_auc"] == pytest.approx(skm.roc_auc_score(y, score), abs=1e-5)
    assert got["test_f1"] == pytest.approx(skm.f1_score(y, pred), abs=1e-5)
    assert got["test_precision"] == pytest.approx(skm.precision_score(y, pred), abs=1e-5)


@pytest.mark.slow
def test_huber_weather_r2_equals_scikit_learn(specs_dir) -> None:
    model = CompiledModel.from_source(specs_dir / "huber_weather.dl", overrides=["train.epochs=30"])
    model.fit()
    x, y = model.data.parts["test"]
    got = model.evaluate("test")["test_r2"]
    assert got == pytest.approx(skm.r2_score(y, np.asarray(model.predict(x))), abs=1e-4)
    assert got > 0.6


@pytest.mark.slow
def test_experiment_lanes_select_by_an_exact_metric(tmp_path, capsys) -> None:
    from dlc.runtime.cli.main import main

    spec = tmp_path / "grid.dl"
    spec.write_text(
        "data { digits; divide 16; split valid=0.15 test=0.15 }\n"
        "model { dense 32; relu; dense 10 }\n"
        "loss cross_entropy report=[f1, recall_per_class]\n"
        "optimizer adam lr=0.001\n"
        "train { batch 64; epochs 4; early_stop patience=3 monitor=valid_f1 }\n"
        'experiment { seeds [0]; grid "optimizer.lr" [0.001, 0.01]; monitor valid_f1 }\n'
    )
    assert main(["experiment", str(spec), "--runs", str(tmp_path / "runs"), "--quiet"]) == 0
    assert "best by valid_f1: optimizer.lr=0.01" in capsys.readouterr().out
