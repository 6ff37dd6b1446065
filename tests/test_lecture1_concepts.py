"""Lecture 1's concepts as specs (issue 15): hard sigmoid, ReLU as pairs of hard sigmoids, MAE as
the training loss, L1. Each trains at a reduced size on the shipped weather series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dlc
from dlc.compiler.layers.hard_sigmoid import HardSigmoid
from dlc.compiler.layers.relu import Relu
from dlc.runtime.train.model import CompiledModel

SPECS = Path(__file__).resolve().parent.parent / "specs"


def _fit(name: str, *sets: str) -> CompiledModel:
    m = dlc.compile(SPECS / f"{name}.dl", overrides=["train.epochs=30", *sets])
    m.fit()
    return m


def _baseline(m: CompiledModel) -> float:
    """Validation MSE of predicting the training mean."""
    y_train, y_valid = m.data.parts["train"][1], m.data.parts["valid"][1]
    return float(np.mean((y_valid - y_train.mean()) ** 2))


def test_one_hard_sigmoid_is_two_relus() -> None:
    z = np.linspace(-8.0, 8.0, 161, dtype=np.float32)
    pair = np.asarray(Relu().fn(z + 3.0)) / 6 - np.asarray(Relu().fn(z - 3.0)) / 6
    np.testing.assert_allclose(np.asarray(HardSigmoid().fn(z)), pair, atol=1e-6)


@pytest.mark.slow
def test_hard_sigmoid_fit_is_piecewise_linear_and_beats_the_mean() -> None:
    m = _fit("hard_sigmoids")
    assert m.evaluate("valid")["valid_loss"] < 0.5 * _baseline(m)
    # along a line through input space the fitted function is linear between its kinks: each of
    # the 8 hard sigmoids bends twice, and a kink makes at most 2 second differences nonzero (a
    # sum of sigmoids, curved everywhere, gives about 200 of the 599 here)
    x = m.data.parts["valid"][0]
    a, b = x[0], x[1]
    t = np.linspace(-3.0, 3.0, 601, dtype=np.float32)[:, None]
    y = m.predict(a + t * (b - a))[:, 0].astype(np.float64)
    bends = int(np.sum(np.abs(np.diff(y, 2)) > 1e-5 * np.ptp(y)))
    assert bends <= 2 * 2 * 8, bends


@pytest.mark.slow
def test_relu_pairs_mae_loss_and_l1_specs_train() -> None:
    relu = _fit("relu_hard_sigmoids")
    assert relu.spec.model.layers[0].units == 16  # two ReLUs for each of the 8 hard sigmoids
    assert relu.evaluate("valid")["valid_loss"] < 0.5 * _baseline(relu)
    mae = _fit("mae_weather")
    vals = mae.evaluate("valid")
    assert mae.spec.loss.dl_name == "mae" and vals["valid_mse"] < 0.5 * _baseline(mae)
    assert vals["valid_loss"] ** 2 <= vals["valid_mse"]  # MAE² <= MSE (Jensen)
    # L1 pushes weights of the 112 inputs towards zero: more small weights than without it
    small = [
        int(
            np.sum(np.abs(_fit("l1_weather", f"regularize.l1={l1}").params["00_dense"]["w"]) < 1e-2)
        )
        for l1 in (0.0, 0.2)
    ]
    assert small[1] > small[0] + 10, small
