"""Issue 12, missing values in a CSV: `missing=error|drop|zero|mean|median`."""

from __future__ import annotations

import numpy as np
import pytest

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import load_spec
from dlc.runtime.data.prepare import prepare

ROWS = "a,b,y\n1,10,1\n,20,2\n3,NA,3\n5,40,\n7,50,5\n13,100,6\n"


def _prepared(tmp_path, rule: str):
    (tmp_path / "d.csv").write_text(ROWS)
    spec = tmp_path / "s.dl"
    spec.write_text(
        f'data {{\n  csv "d.csv" target=y{rule}\n  split train=1\n}}\n'
        "model { dense 1 }\nloss mse\noptimizer adam\n"
    )
    return prepare(load_spec(str(spec)))


def _rows(d):
    x, y = d.parts["train"]
    order = np.argsort(y[:, 0])
    return x[order].tolist(), y[order, 0].tolist()


def test_default_is_an_error_naming_row_and_column(tmp_path):
    with pytest.raises(DlcError) as err:
        _prepared(tmp_path, "")
    d = err.value.diagnostics[0]
    assert "column `a` is numeric but this row is empty" in d.message
    assert d.where.endswith("d.csv:row 3") and "missing=drop" in d.hint


def test_drop(tmp_path):
    x, y = _rows(_prepared(tmp_path, " missing=drop"))
    assert y == [1, 5, 6] and x == [[1, 10], [7, 50], [13, 100]]


def test_zero_mean_median_fill_from_the_training_rows(tmp_path):
    # the row without a target (a=5) always drops; a's values 1, 3, 7, 13; b's 10, 20, 50, 100
    x, y = _rows(_prepared(tmp_path, " missing=zero"))
    assert y == [1, 2, 3, 5, 6] and x[1] == [0, 20] and x[2] == [3, 0]
    d = _prepared(tmp_path, " missing=mean")
    np.testing.assert_allclose(d.stats["fill"], [6.0, 45.0])
    x, _ = _rows(d)
    assert x[1] == [6, 20] and x[2] == [3, 45]
    x, _ = _rows(_prepared(tmp_path, " missing=median"))
    assert x[1] == [5, 20] and x[2] == [3, 35]


def test_a_run_folder_fills_gaps_in_predict_inputs(tmp_path):
    import dlc
    from dlc.runtime.runs.session import run_spec

    (tmp_path / "d.csv").write_text(ROWS)
    spec = tmp_path / "s.dl"
    spec.write_text(
        'data {\n  csv "d.csv" target=y missing=mean\n  split train=1\n}\n'
        "model { dense 1 }\nloss mse\noptimizer adam\ntrain { epochs 2 }\n"
    )
    run = run_spec(spec, runs_root=tmp_path / "runs").run.path
    model = dlc.load(run)
    (tmp_path / "p.csv").write_text("a,b,y\n6,45,1\n,,2\n")
    pred = np.asarray(model.predict(tmp_path / "p.csv")).reshape(-1)
    assert np.isfinite(pred).all() and pred[0] == pytest.approx(pred[1], rel=1e-5)
