"""Issue 12, categorical CSV columns: `categorical=[...]` makes one-hot features."""

from __future__ import annotations

import numpy as np
import pytest

from dlc.compiler.errors import DlcError
from dlc.compiler.sources import Csv
from dlc.runtime.data.loaders import load_csv

ROWS = "x,weather,code,y\n1,rain,3,1\n2,sun,1,2\n3,rain,3,3\n4,fog,2,4\n"


def test_one_hot_in_place_sorted(tmp_path):
    (tmp_path / "d.csv").write_text(ROWS)
    raw = load_csv(Csv(path=str(tmp_path / "d.csv"), target="y", categorical=["weather"]), ".")
    assert raw.feature_names == ["x", "weather=fog", "weather=rain", "weather=sun", "code"]
    x = raw.parts["all"][0]
    assert x[:, 1:4].tolist() == [[0, 1, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]]
    assert any("categorical `weather`: 3 one-hot columns" in n for n in raw.notes)
    # a numeric column of codes, in an explicit feature list: one-hot in its place
    raw = load_csv(
        Csv(path=str(tmp_path / "d.csv"), target="y", features=["code", "x"], categorical=[3]),
        ".",
    )
    assert raw.feature_names == ["code=1", "code=2", "code=3", "x"]
    assert raw.parts["all"][0][:, 2].tolist() == [1, 0, 1, 0]


def test_a_text_feature_without_categorical_says_how(tmp_path):
    (tmp_path / "d.csv").write_text(ROWS)
    with pytest.raises(DlcError) as err:
        load_csv(Csv(path=str(tmp_path / "d.csv"), target="y", features=["weather"]), ".")
    assert 'categorical=["weather"]' in (err.value.diagnostics[0].hint or "")


def test_predict_one_hot_from_a_run_folder(tmp_path):
    import dlc
    from dlc.runtime.runs.session import run_spec

    (tmp_path / "d.csv").write_text(ROWS)
    spec = tmp_path / "s.dl"
    spec.write_text(
        'data {\n  csv "d.csv" target=y categorical=[weather]\n  split train=1\n}\n'
        "model { dense 1 }\nloss mse\noptimizer adam\ntrain { epochs 2 }\n"
    )
    run = run_spec(spec, runs_root=tmp_path / "runs").run.path
    model = dlc.load(run)
    (tmp_path / "p.csv").write_text("x,weather,code\n1,rain,3\n1,rain,3\n1,hail,3\n")
    pred = np.asarray(model.predict(tmp_path / "p.csv")).reshape(-1)
    assert pred[0] == pytest.approx(pred[1]) and np.isfinite(pred).all()
