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
    assert raw.categories == {"weather": [1, 2, 3]}  # cut to the training part's by prepare
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
    with pytest.raises(DlcError) as err:  # `hail` is not in the run's category table
        model.predict(tmp_path / "p.csv")
    d = err.value.diagnostics[0]
    assert d.where == f"{tmp_path / 'p.csv'}:row 4" and "`hail`" in d.message
    assert "unseen=zero" in (d.hint or "")
    spec.write_text(spec.read_text().replace("[weather]", "[weather] unseen=zero"))
    model = dlc.load(run_spec(spec, runs_root=tmp_path / "runs2").run.path)
    pred = np.asarray(model.predict(tmp_path / "p.csv")).reshape(-1)
    assert pred[0] == pytest.approx(pred[1]) and np.isfinite(pred).all()


def _time_split_spec(tmp_path, extra: str = "") -> str:
    # rows in file order: train the first 6, test the last 2; `hail` only in row 9 (test)
    rows = ["x,weather,y"] + [f"{i},{w},{i}" for i, w in enumerate("rsrsrsrh", 1)]
    (tmp_path / "t.csv").write_text(
        "\n".join(rows).replace(",r,", ",rain,").replace(",s,", ",sun,").replace(",h,", ",hail,")
        + "\n"
    )
    return (
        f'data {{\n  csv "t.csv" target=y categorical=[weather]{extra}\n'
        "  split train=0.75 test=0.25 order=time\n}\n"
        "model { dense 1 }\nloss mse\noptimizer adam\n"
    )


def test_the_category_table_comes_from_the_training_part(tmp_path):
    from dlc.compiler.frontend import load_spec
    from dlc.runtime.data.prepare import prepare

    with pytest.raises(DlcError) as err:
        prepare(load_spec(_time_split_spec(tmp_path), base_dir=tmp_path))
    d = err.value.diagnostics[0]
    assert d.where == f"{tmp_path / 't.csv'}:row 9" and "`hail`" in d.message
    assert "test part but not in the training part" in d.message
    p = prepare(load_spec(_time_split_spec(tmp_path, " unseen=zero"), base_dir=tmp_path))
    assert p.feature_names == ["x", "weather=rain", "weather=sun"]  # no `weather=hail`
    x_test = p.parts["test"][0]
    assert x_test[:, 1:].tolist() == [[1.0, 0.0], [0.0, 0.0]]  # rain; hail: all zeros
    assert any("2 one-hot columns" in n and "1 other" in n for n in p.notes)
