"""The `images` data source: a folder with a sub-folder per class; pixels equal the source,
resizing, colour, and errors naming the file (issue 12)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import load_spec
from dlc.compiler.sources import Images
from dlc.runtime.data.classes import class_names
from dlc.runtime.data.images import load_images
from dlc.runtime.data.prepare import prepare

SPECS = Path(__file__).resolve().parent.parent / "specs"


def test_shipped_digit_pngs_equal_scikit_learn_digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    raw = load_images(Images(path="data/digits/digits_png"), SPECS)
    x, y = raw.parts["all"]
    rows = np.concatenate([np.flatnonzero(d.target == k)[:12] for k in range(10)])
    # files sort by name within a class: 00-ROW .. 11-ROW, in the order the rows come
    np.testing.assert_array_equal(x, (d.images[rows] * 15).astype(np.float32)[..., None])
    np.testing.assert_array_equal(y, d.target[rows])
    assert raw.num_classes == 10 and x.dtype == np.float32 and y.dtype == np.int32


def test_spec_prepares_and_names_classes_after_folders():
    resolved = load_spec(SPECS / "images_digits.dl")
    prepared = prepare(resolved)
    assert sum(prepared.summary().values()) == 120 and prepared.input_shape == (8, 8, 1)
    assert class_names(resolved, 10) == [str(k) for k in range(10)]


def _save(path: Path, a: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a.astype(np.uint8)).save(path)


def test_colour_images_resize_and_sorted_class_names(tmp_path):
    rgb = np.arange(4 * 6 * 3).reshape(4, 6, 3)
    _save(tmp_path / "food" / "pizza" / "a.png", rgb)
    _save(tmp_path / "food" / "bread" / "b.png", rgb[::-1])
    (tmp_path / "food" / ".ipynb_checkpoints").mkdir()  # hidden: never a class
    raw = load_images(Images(path="food"), tmp_path)
    x, y = raw.parts["all"]
    assert x.shape == (2, 4, 6, 3) and y.tolist() == [0, 1]  # bread, pizza
    np.testing.assert_array_equal(x[1], rgb.astype(np.float32))
    small = load_images(Images(path="food", size=[2, 3]), tmp_path).parts["all"][0]
    assert small.shape == (2, 2, 3, 3)
    grey = load_images(Images(path="food", grey=True), tmp_path).parts["all"][0]
    assert grey.shape == (2, 4, 6, 1)
    resolved = load_spec(
        'data { images "food" }\nmodel { flatten; dense 2 }\nloss cross_entropy\noptimizer sgd\n',
        base_dir=tmp_path,
    )
    assert class_names(resolved, 2) == ["bread", "pizza"]


def test_errors_name_the_file(tmp_path):
    _save(tmp_path / "a" / "x" / "1.png", np.zeros((4, 4)))
    _save(tmp_path / "a" / "y" / "2.png", np.zeros((5, 4)))
    with pytest.raises(DlcError) as err:
        load_images(Images(path="a"), tmp_path)
    d = err.value.diagnostics[0]
    assert d.where == str(tmp_path / "a" / "y" / "2.png") and "size=[4, 4]" in (d.hint or "")
    assert load_images(Images(path="a", size=[4, 4]), tmp_path).parts["all"][0].shape == (
        2,
        4,
        4,
        1,
    )
    (tmp_path / "a" / "y" / "3.png").write_bytes(b"not a png")
    with pytest.raises(DlcError, match="not a readable image") as err:
        load_images(Images(path="a", size=[4, 4]), tmp_path)
    assert err.value.diagnostics[0].where == str(tmp_path / "a" / "y" / "3.png")
    with pytest.raises(DlcError, match="no such folder"):
        load_images(Images(path="missing"), tmp_path)
    (tmp_path / "empty" / "z").mkdir(parents=True)
    with pytest.raises(DlcError, match="holds no PNG images"):
        load_images(Images(path="empty"), tmp_path)
