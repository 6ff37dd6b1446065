"""The classification specs reach their targets when trained through the Python API."""

from __future__ import annotations

import itertools
from pathlib import Path

import jax
import numpy as np
import pytest

import dlc
from dlc.compiler.frontend import load_spec
from dlc.compiler.layers.base import Context
from dlc.compiler.lower import lower
from dlc.runtime.data.idx import DEBIAN_FASHION_MNIST
from dlc.runtime.train.model import CompiledModel

SPECS = Path(__file__).resolve().parent.parent / "specs"
OPTIMIZER_FAMILY = sorted((SPECS / "optimizers").glob("*.dl"))


def trained(name: str, overrides: list[str] | None = None) -> CompiledModel:
    model = dlc.compile(SPECS / name, overrides=overrides)
    model.fit()
    return model


def test_digits_mlp_reaches_97_percent():
    model = trained("digits_mlp.dl")
    scores = model.evaluate()
    assert scores["test_accuracy"] >= 0.97, scores
    assert scores["train_accuracy"] >= scores["test_accuracy"] - 0.02, scores
    probs = model.predict(model.data.parts["test"][0][:5])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)  # softmax probabilities


@pytest.mark.parametrize("seed", [0, 3])
def test_fizzbuzz_is_perfect_on_1_to_100(seed):
    model = trained("fizzbuzz.dl", [f"train.seed={seed}"])
    x_test, y_test = model.data.parts["test"]
    assert len(x_test) == 100 and "valid" not in model.data.parts
    predicted = model.predict(x_test).argmax(axis=1)
    wrong = [i + 1 for i in np.flatnonzero(predicted != y_test)]
    assert wrong == [], f"wrong on {wrong}"
    assert model.evaluate("test")["test_accuracy"] == 1.0


@pytest.mark.slow
@pytest.mark.skipif(
    not Path(DEBIAN_FASHION_MNIST).is_dir(),
    reason=f"Fashion-MNIST is not installed at {DEBIAN_FASHION_MNIST} "
    "(apt-get install dataset-fashion-mnist)",
)
def test_fashion_mlp_reaches_88_percent():
    model = trained("fashion_mlp.dl")
    assert model.data.summary() == {"train": 54000, "valid": 6000, "test": 10000}
    scores = model.evaluate("test")
    assert scores["test_accuracy"] >= 0.88, scores
    # batchnorm's running statistics were trained: evaluation does not use the initial 0 / 1
    bn = model.state.model_state["02_batchnorm"]
    assert float(np.abs(bn["mean"]).max()) > 0.01 and not np.allclose(bn["var"], 1.0)


def test_optimizer_family_differs_only_in_the_optimizer():
    names = [p.stem for p in OPTIMIZER_FAMILY]
    assert names == sorted(["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
    specs = {p.stem: load_spec(p).spec for p in OPTIMIZER_FAMILY}
    rest = {k: s.model_dump(exclude={"optimizer"}) for k, s in specs.items()}
    assert all(r == rest["sgd"] for r in rest.values())
    opts = {k: s.optimizer for k, s in specs.items()}
    assert {k: o.dl_name for k, o in opts.items()} == {
        "sgd": "sgd",
        "momentum": "sgd",
        "nesterov": "sgd",
        "adagrad": "adagrad",
        "rmsprop": "rmsprop",
        "adam": "adam",
        "adamw": "adamw",
    }
    assert (opts["sgd"].momentum, opts["momentum"].momentum) == (0.0, 0.9)
    assert opts["nesterov"].nesterov and not opts["momentum"].nesterov


@pytest.mark.parametrize("path", OPTIMIZER_FAMILY, ids=lambda p: p.stem)
def test_optimizer_family_trains(path):
    model = trained(str(path.relative_to(SPECS)), ["train.epochs=10"])
    first = model.result.history[0]["valid_loss"]
    scores = model.evaluate("test")
    assert model.result.history[-1]["valid_loss"] < first
    assert scores["test_accuracy"] >= 0.9, scores


def test_selu_mlp_trains_with_lecun_init():
    model = trained("selu_mlp.dl", ["train.epochs=10"])
    program = lower(model.spec, model.data.input_shape, total_steps=1)
    assert [layer.init for layer in program.layers if layer.dl_name == "dense"] == [
        "lecun_normal"
    ] * 4 + ["glorot_uniform"]
    # self-normalizing at the start: activations keep roughly unit variance 4 layers deep
    params, _ = program.init(jax.random.PRNGKey(0))
    x = model.data.parts["train"][0][:512]
    for layer, info in zip(program.layers[:-1], program.infos[:-1], strict=True):
        x = layer.apply(params.get(info.key, {}), x, Context())
    assert 0.5 < float(np.var(x)) < 1.5
    assert model.evaluate("test")["test_accuracy"] >= 0.95


def test_schedules_spec_trains():
    model = trained("schedules.dl")
    steps = [r["step"] for r in model.result.history]
    total = steps[-1]
    assert total == 30 * 40

    def lr(step: int) -> float:  # constant_warmup(100, factor=0.1) then cosine(alpha=0.01)
        if step < 100:
            return 0.2 * 0.1
        t = min(step - 100, total - 100) / (total - 100)
        return 0.2 * (0.99 * 0.5 * (1 + np.cos(np.pi * t)) + 0.01)

    # each epoch's record holds the lr of the step after it
    np.testing.assert_allclose(
        [r["lr"] for r in model.result.history], [lr(s) for s in steps], rtol=1e-5
    )
    assert model.evaluate("test")["test_accuracy"] >= 0.95


def test_plateau_spec_cuts_the_lr_and_trains():
    model = trained("plateau.dl")
    lrs = [r["lr"] for r in model.result.history]
    assert lrs[0] == pytest.approx(0.2) and lrs[-1] < 0.2  # halved at least once
    assert all(b in (a, pytest.approx(a / 2)) for a, b in itertools.pairwise(lrs))
    assert model.evaluate("test")["test_accuracy"] >= 0.95
