"""The `npy` data source, features and labels in two `.npy` files (issue 12): arrays equal the
`.npz` form's, and malformed arrays (wrong rank, mismatched rows, pickled objects, not .npy)
end in errors naming the file and a hint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import load_spec
from dlc.compiler.sources import Npy, Npz
from dlc.runtime.data.arrays import load_npy, load_npz
from dlc.runtime.data.prepare import prepare

SPECS = Path(__file__).resolve().parent.parent / "specs"


def test_shipped_npy_pair_equals_the_npz():
    a = load_npy(Npy(x="data/digits/digits_x.npy", y="data/digits/digits_y.npy", classes=10), SPECS)
    b = load_npz(Npz(path="data/digits/digits.npz", x="train_x", y="train_y", classes=10), SPECS)
    for got, want in zip(a.parts["all"], b.parts["all"], strict=True):
        np.testing.assert_array_equal(got, want)
    assert a.num_classes == 10


def test_spec_prepares_like_npz_digits():
    p = prepare(load_spec(SPECS / "npy_digits.dl"))
    q = prepare(load_spec(SPECS / "npz_digits.dl"))
    assert p.summary() == q.summary() and p.input_shape == (64,)
    np.testing.assert_array_equal(p.parts["test"][0], q.parts["test"][0])


def test_regression_targets_of_rank_two(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((3, 2, 2)))
    np.save(tmp_path / "y.npy", np.arange(6.0).reshape(3, 2))
    raw = load_npy(Npy(x="x.npy", y="y.npy"), tmp_path)
    assert raw.parts["all"][0].shape == (3, 2, 2) and raw.parts["all"][1].shape == (3, 2)


@pytest.mark.parametrize(
    ("x", "y", "kw", "file", "message", "hint"),
    [
        (np.ones(3), np.ones(3), {}, "x.npy", "has shape (3,)", "reshape(-1, 1)"),
        (np.ones((3, 2)), np.ones((3, 1, 1)), {}, "y.npy", "rank 1 (rows,) or 2", "one target"),
        (
            np.ones((3, 2)),
            np.ones(4),
            {},
            "y.npy",
            "`x.npy` has 3 rows but `y.npy` has 4",
            "one row",
        ),
        (np.ones((3, 2)), np.ones((3, 2)), {"classes": 2}, "y.npy", "expected (rows,)", None),
        (np.ones((2, 1)), np.array([0, 5]), {"classes": 3}, "y.npy", "label 5 in row 1", "0..K-1"),
        (np.array([[np.inf], [1]]), np.ones(2), {}, "x.npy", "non-finite", "fill or drop"),
        (np.array(7.0), np.ones(1), {}, "x.npy", "a single number", None),
    ],
)
def test_malformed_arrays_name_the_file(tmp_path, x, y, kw, file, message, hint):
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    with pytest.raises(DlcError) as err:
        load_npy(Npy(x="x.npy", y="y.npy", **kw), tmp_path)
    d = err.value.diagnostics[0]
    assert d.where == str(tmp_path / file) and message in d.message, d
    assert hint is None or hint in (d.hint or ""), d


def test_not_npy_files_and_pickles(tmp_path):
    np.save(tmp_path / "y.npy", np.ones(2))
    np.savez(tmp_path / "x.npy", x=np.ones((2, 1)))  # an .npz under a .npy name
    (tmp_path / "x.npy.npz").rename(tmp_path / "x.npy")
    with pytest.raises(DlcError, match=r"not a readable \.npy file \(an \.npz archive\)"):
        load_npy(Npy(x="x.npy", y="y.npy"), tmp_path)
    np.save(tmp_path / "x.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(DlcError, match="pickle"):
        load_npy(Npy(x="x.npy", y="y.npy"), tmp_path)
    (tmp_path / "x.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    with pytest.raises(DlcError, match=r"not a readable \.npy file"):
        load_npy(Npy(x="x.npy", y="y.npy"), tmp_path)
    with pytest.raises(DlcError, match="no such file"):
        load_npy(Npy(x="gone.npy", y="y.npy"), tmp_path)


def test_a_rank_one_x_in_an_npz_is_refused_too(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.ones(3), y=np.ones(3))
    with pytest.raises(DlcError) as err:
        load_npz(Npz(path="a.npz"), tmp_path)
    assert "reshape(-1, 1)" in (err.value.diagnostics[0].hint or "")


@pytest.mark.slow
def test_npy_digits_spec_reaches_its_accuracy():
    from dlc.runtime.train.model import CompiledModel

    m = CompiledModel.from_source(SPECS / "npy_digits.dl")
    m.fit()
    assert m.evaluate("test")["test_accuracy"] >= 0.95
