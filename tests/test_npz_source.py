"""The `npz` data source: arrays equal the file's, located errors for bad files (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import load_spec
from dlc.compiler.sources import Npz
from dlc.runtime.data.arrays import load_npz
from dlc.runtime.data.prepare import prepare

SPECS = Path(__file__).resolve().parent.parent / "specs"


def test_shipped_digits_npz_equals_scikit_learn_digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    raw = load_npz(Npz(path="data/digits/digits.npz", x="train_x", y="train_y", classes=10), SPECS)
    x, y = raw.parts["all"]
    np.testing.assert_array_equal(x, d.data[:400].astype(np.float32))
    np.testing.assert_array_equal(y, d.target[:400])
    assert raw.num_classes == 10 and x.dtype == np.float32 and y.dtype == np.int32


def test_spec_prepares_every_row_divided():
    prepared = prepare(load_spec(SPECS / "npz_digits.dl"))
    assert sum(prepared.summary().values()) == 400
    assert prepared.input_shape == (64,) and prepared.num_classes == 10
    assert max(float(x.max()) for x, _ in prepared.parts.values()) <= 1.0


def test_regression_targets_and_image_shapes(tmp_path):
    x = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    y = np.array([1.5, -2.0])
    np.savez(tmp_path / "a.npz", x=x, y=y)
    raw = load_npz(Npz(path="a.npz"), tmp_path)
    got_x, got_y = raw.parts["all"]
    np.testing.assert_array_equal(got_x, x.astype(np.float32))
    np.testing.assert_array_equal(got_y, y.astype(np.float32)[:, None])
    assert raw.num_classes is None


@pytest.mark.parametrize(
    ("arrays", "kw", "message"),
    [
        ({"x": np.ones((3, 2)), "y": np.ones(4)}, {}, "`x` has 3 rows but `y` has 4"),
        ({"x": np.ones((3, 2)), "y": np.ones(3)}, {"x": "feat"}, "no array `feat`"),
        ({"x": np.array([["a"], ["b"]]), "y": np.ones(2)}, {}, "not numbers"),
        ({"x": np.array([[1.0], [np.nan]]), "y": np.ones(2)}, {}, "non-finite values"),
        ({"x": np.ones((2, 1)), "y": np.array([0, 3])}, {"classes": 3}, "label 3 in row 1"),
        ({"x": np.ones((2, 1)), "y": np.array([0, -1])}, {"classes": True}, "label -1 in row 1"),
        ({"x": np.ones((2, 1)), "y": np.array([0.5, 1])}, {"classes": 2}, "not whole numbers"),
    ],
)
def test_located_errors(tmp_path, arrays, kw, message):
    np.savez(tmp_path / "a.npz", **arrays)
    with pytest.raises(DlcError) as err:
        load_npz(Npz(path="a.npz", **kw), tmp_path)
    d = err.value.diagnostics[0]
    assert message in d.message and d.where == str(tmp_path / "a.npz")


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.array([{"a": 1}, None], dtype=object), y=np.ones(2))
    with pytest.raises(DlcError, match="pickle"):
        load_npz(Npz(path="a.npz"), tmp_path)


def test_not_an_npz_file(tmp_path):
    (tmp_path / "a.npz").write_bytes(b"not a zip")
    with pytest.raises(DlcError, match=r"not a readable \.npz"):
        load_npz(Npz(path="a.npz"), tmp_path)
    with pytest.raises(DlcError, match="no such file"):
        load_npz(Npz(path="missing.npz"), tmp_path)


def test_a_single_npy_is_named(tmp_path):
    np.save(tmp_path / "a.npy", np.ones(3))
    (tmp_path / "a.npy").rename(tmp_path / "a.npz")
    with pytest.raises(DlcError, match=r"single \.npy array"):
        load_npz(Npz(path="a.npz"), tmp_path)


def test_predict_and_evaluate_read_the_specs_keys(tmp_path, capsys, monkeypatch):
    from dlc.runtime.cli.main import main

    spec = SPECS / "npz_digits.dl"
    data = SPECS / "data" / "digits" / "digits.npz"
    monkeypatch.chdir(tmp_path)
    main(["run", str(spec), "--set", "train.epochs=1", "--quiet"])
    capsys.readouterr()
    run = next((tmp_path / "runs").iterdir())
    main(
        [
            "evaluate",
            str(spec),
            "--set",
            "train.epochs=1",
            "--run",
            str(run),
            "--input",
            str(data),
            "--json",
        ]
    )
    out = capsys.readouterr().out
    assert json.loads(out)["rows"] == 400, out
