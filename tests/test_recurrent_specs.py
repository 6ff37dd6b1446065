"""The recurrent specs train and beat their baselines at reduced size (full-run figures, beside
the transformer versions, are in specs/README.md), and recurrent layers stack with `repeat`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlc.runtime.train.model import CompiledModel


def _fit(spec: Path, overrides: list[str]) -> CompiledModel:
    model = CompiledModel.from_source(spec, overrides=overrides)
    model.fit()
    return model


@pytest.mark.slow
def test_recurrent_layers_stack_with_repeat(specs_dir, tmp_path) -> None:
    data = (specs_dir / "data" / "seattle-weather.csv").resolve()
    spec = tmp_path / "stack.dl"
    spec.write_text(
        (specs_dir / "gru_weather.dl")
        .read_text()
        .replace("data/seattle-weather.csv", str(data))
        .replace("gru 32", "repeat 2 { lstm 8 return_sequences=true }\n  rnn 4 bidirectional=true")
    )
    model = _fit(spec, ["train.epochs=2"])
    assert [k for k in model.params if "lstm" in k or "rnn" in k] == [
        "01_lstm",
        "02_lstm",
        "03_rnn",
    ]
    assert model.params["02_lstm"]["w"].shape == (8, 32)  # reads the first's 8 units per day
    assert model.params["03_rnn"]["bw_u"].shape == (4, 4)
    assert np.isfinite(model.evaluate("valid")["valid_loss"])


@pytest.mark.slow
def test_gru_weather_beats_the_mean(specs_dir) -> None:
    model = _fit(specs_dir / "gru_weather.dl", [])  # 60 epochs of 32 steps: a few seconds
    # predicting the training mean: a validation MSE of about 29 °C² (measured: 6.39)
    assert model.evaluate("valid")["valid_loss"] < 14.5


@pytest.mark.slow
def test_gru_sentiment_beats_the_majority_baseline_on_another_domain(specs_dir) -> None:
    model = _fit(specs_dir / "gru_sentiment.dl", ["train.epochs=8"])
    assert model.evaluate("test")["test_accuracy"] >= 0.7  # 0.5: the majority baseline


@pytest.mark.slow
def test_lstm_pos_tagger_token_accuracy(specs_dir) -> None:
    model = _fit(specs_dir / "lstm_pos_tagging.dl", ["train.epochs=4"])
    assert model.evaluate("test")["test_accuracy"] >= 0.85  # most frequent tag per word: 0.818
