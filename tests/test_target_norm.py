"""Issue 12, `normalize_target standard`: statistics from the training part; outputs, losses,
metrics and predictions in the target's own units."""

from __future__ import annotations

import numpy as np
import pytest

import dlc
from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import load_spec
from dlc.runtime.data.prepare import prepare

SPEC = """data {{
  csv "d.csv" target=y
  split valid=0.2 test=0.2 seed=1
  normalize standard
  {norm}
}}
model {{ dense 1 }}
loss mse
optimizer adam lr={lr}
train {{ batch 8; epochs {epochs}; shuffle false }}
"""


def _write(tmp_path, norm="normalize_target standard", lr=0.05, epochs=60):
    x = np.arange(40, dtype=float)
    rows = "".join(f"{a:g},{1000 + 50 * a:g}\n" for a in x)
    (tmp_path / "d.csv").write_text("x,y\n" + rows)
    spec = tmp_path / "s.dl"
    spec.write_text(SPEC.format(norm=norm, lr=lr, epochs=epochs))
    return spec


def test_statistics_come_from_the_training_part(tmp_path):
    d = prepare(load_spec(str(_write(tmp_path))))
    y = d.parts["train"][1][:, 0].astype(np.float64)
    np.testing.assert_allclose(d.stats["target_shift"], [y.mean()], rtol=1e-6)
    np.testing.assert_allclose(d.stats["target_scale"], [y.std()], rtol=1e-6)
    assert d.parts["valid"][1].min() >= 1000  # targets stay in their units


def test_predictions_and_metrics_are_in_original_units(tmp_path):
    model = dlc.compile(_write(tmp_path))
    model.fit()
    x, y = model.data.parts["test"]
    pred = model.predict(x)
    np.testing.assert_allclose(pred, y, rtol=0.01)  # y is 1000..2950: original units
    scores = model.evaluate("test")
    np.testing.assert_allclose(scores["test_loss"], np.mean((pred - y) ** 2), rtol=1e-3)
    # the same training without target normalization is still far off (outputs start near 0)
    plain = dlc.compile(_write(tmp_path, norm=""))
    plain.fit()
    assert plain.evaluate("test")["test_loss"] > 100 * max(scores["test_loss"], 1.0)


def test_normalize_target_needs_a_regression_target(tmp_path):
    spec = tmp_path / "c.dl"
    spec.write_text(
        "data {\n  digits\n  normalize_target standard\n}\nmodel { dense 10 }\n"
        "loss cross_entropy\noptimizer adam\n"
    )
    with pytest.raises(DlcError) as err:
        prepare(load_spec(str(spec)))
    d = err.value.diagnostics[0]
    assert "normalize_target is for numeric" in d.message and d.span.line == 3


def test_a_run_folder_predicts_in_original_units(tmp_path):
    from dlc.runtime.runs.session import run_spec

    spec = _write(tmp_path)
    run = run_spec(spec, runs_root=tmp_path / "runs").run.path
    model = dlc.load(run)
    pred = np.asarray(model.predict(tmp_path / "d.csv")).reshape(-1)
    np.testing.assert_allclose(pred, 1000 + 50 * np.arange(40), rtol=0.01)
