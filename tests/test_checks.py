"""Spec-level checks (`compiler/checks.py`) and the Python API's target checks: mistakes that
used to train silently wrong or crash after `dlc check` are located errors with a fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import load_spec

SPECS = Path(__file__).resolve().parent.parent / "specs"
WEATHER = (
    'data {\n  csv "data/seattle-weather.csv" target=temp_max features=[temp_max]\n  window 7\n}\n'
    "model { dense 1 }\nloss mse\noptimizer adam lr=0.01\n"
)
DIGITS = "data { digits }\nmodel {\n  dense 10\n  softmax\n}\nloss cross_entropy\noptimizer adam\n"


def _error(text: str, **kw: object) -> str:
    with pytest.raises(DlcError) as err:
        load_spec(text, base_dir=SPECS, **kw)  # type: ignore[arg-type]
    return err.value.render()


def test_misspelt_early_stop_monitor_is_an_error_with_did_you_mean() -> None:
    out = _error(WEATHER + "train { early_stop monitor=valid_mea }\n")
    assert "<spec>:8:9: error: early stopping monitors `valid_mea`" in out, out
    assert "did you mean `valid_mae`?" in out
    assert load_spec(WEATHER + "train { early_stop monitor=valid_mae }\n", base_dir=SPECS)
    cls = "data { digits }\nmodel { dense 10 }\nloss cross_entropy report=[f1_per_class]\n"
    ok = cls + "optimizer adam\ntrain { early_stop monitor=valid_f1_3 }\n"
    assert load_spec(ok).spec.train.early_stop is not None
    out = _error(cls + "optimizer adam\ntrain { early_stop monitor=valid_acuracy }\n")
    assert "did you mean `valid_accuracy`?" in out, out


def test_experiment_monitor_is_checked_too() -> None:
    out = _error(WEATHER + "experiment { folds 3; monitor valid_r2 }\n")
    assert "the experiment selects by `valid_r2`" in out, out


@pytest.mark.parametrize("last", ["softmax", "sigmoid"])
def test_squashing_before_a_loss_that_applies_it_is_an_error_at_the_layer(last: str) -> None:
    out = _error(DIGITS.replace("softmax", last))
    assert f"<spec>:4:3: error: `{last}` as the last layer before `loss cross_entropy`" in out
    assert f"remove `{last}`" in out
    bce = "data { digits }\nmodel {\n  dense 1\n  sigmoid\n}\nloss binary_cross_entropy\n"
    assert "from_logits=false" in _error(bce + "optimizer adam\n")
    ok = bce.replace("binary_cross_entropy", "binary_cross_entropy from_logits=false")
    assert load_spec(ok + "optimizer adam\n")  # a probability is what that loss takes
    assert load_spec(DIGITS.replace("  softmax\n", ""))
    assert load_spec(DIGITS.replace("  softmax\n", "  residual { dense 10; softmax }\n"))
    out = _error(DIGITS.replace("  softmax\n", "  repeat 2 { dense 10; softmax }\n"))
    assert "<spec>:4:24: error: `softmax` as the last layer" in out, out


def test_grid_paths_are_checked_at_load_time() -> None:
    out = _error(WEATHER + 'experiment {\n  folds 3\n  grid "optimizer.lrr" [0.1]\n}\n')
    assert "<spec>:10:3: error: grid value `optimizer.lrr=0.1`" in out, out
    assert "`lr`" in out
    out = _error(WEATHER + 'experiment { grid "optimizer.lr" [0.1, -1] }\n')
    assert "grid value `optimizer.lr=-1`" in out, out
    assert load_spec(WEATHER + 'experiment { grid "optimizer.lr" [0.1, 0.2] }\n', base_dir=SPECS)


def test_empty_feature_list_is_an_error_at_the_source() -> None:
    out = _error(WEATHER.replace("features=[temp_max]", "features=[]"))
    assert "<spec>:2:3: error: `features=[]` gives the model no input" in out, out


def test_fit_checks_target_shape_and_dtype() -> None:
    from dlc.runtime.train.model import CompiledModel

    m = CompiledModel.from_source(SPECS / "linear_7days.dl", overrides=["train.epochs=1"])
    x, y = m.data.parts["train"]
    with pytest.raises(DlcError, match=r"shape \(\) per row, the model's outputs \(1,\)") as e:
        m.fit(x, y[:, 0])
    assert "y.reshape(-1, 1)" in e.value.render()
    with pytest.raises(DlcError, match="targets are strings") as e:
        m.fit(x, y.astype(str))
    assert "np.unique" in e.value.render()
    with pytest.raises(DlcError, match="1018 input rows but 5 target rows"):
        m.fit(x, y[:5])
    m.fit(x, y)
    with pytest.raises(DlcError, match="eval targets have shape"):
        m.evaluate(x=x, y=np.zeros((len(x), 2)))
