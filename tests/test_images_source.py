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
    with pytest.raises(DlcError, match="holds no PNG or JPEG images"):
        load_images(Images(path="empty"), tmp_path)


def test_jpeg_images_read_like_pngs(tmp_path):
    a = np.zeros((8, 8, 3), np.uint8)
    a[:, :4] = (200, 30, 30)
    _save(tmp_path / "j" / "red" / "a.jpg", a)
    _save(tmp_path / "j" / "red" / "b.JPEG", a)
    _save(tmp_path / "j" / "blue" / "c.png", a[:, ::-1, ::-1])
    raw = load_images(Images(path="j"), tmp_path)
    x, y = raw.parts["all"]
    assert x.shape == (3, 8, 8, 3) and y.tolist() == [0, 1, 1]  # blue, red, red
    with Image.open(tmp_path / "j" / "red" / "a.jpg") as im:
        np.testing.assert_array_equal(x[1], np.asarray(im.convert("RGB"), np.float32))
    assert np.abs(x[1] - a).mean() < 10 and np.abs(x[1] - x[2]).max() == 0  # lossy, close
    (tmp_path / "j" / "red" / "d.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(DlcError, match="not a readable image") as err:
        load_images(Images(path="j"), tmp_path)
    assert err.value.diagnostics[0].where == str(tmp_path / "j" / "red" / "d.jpg")


def test_predict_applies_size_and_colour_as_training_did(tmp_path):
    import dlc
    from dlc.runtime.runs.session import run_spec

    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        for i in range(3):
            _save(tmp_path / "img" / c / f"{i}.png", rng.integers(0, 255, (12, 10, 3)))
    spec = tmp_path / "s.dl"
    spec.write_text(
        'data {\n  images "img" size=[6, 5] grey=true\n  divide 255\n  split train=1\n}\n'
        "model { flatten; dense 2 }\nloss cross_entropy\noptimizer adam\ntrain { epochs 1 }\n"
    )
    run = run_spec(spec, runs_root=tmp_path / "runs").run.path
    model = dlc.load(run)
    # a colour JPEG of another size, as a file and in a folder: resized and made grey
    _save(tmp_path / "new" / "x.jpg", rng.integers(0, 255, (30, 20, 3)))
    one = np.asarray(model.predict(tmp_path / "new" / "x.jpg"))
    folder = np.asarray(model.predict(tmp_path / "new"))
    assert one.shape == folder.shape == (1, 2)
    np.testing.assert_allclose(one, folder)
    # the training images, by class folder: labelled as training labelled them
    got = model.evaluate(tmp_path / "img")
    assert 0.0 <= got["accuracy"] <= 1.0 and np.isfinite(got["loss"])
    # one training image predicts as the pixels training read (resized, grey, divided)
    x0 = load_images(Images(path="img", size=[6, 5], grey=True), tmp_path).parts["all"][0][:1]
    assert x0.shape == (1, 6, 5, 1)
    pred = np.asarray(model.predict(tmp_path / "img" / "a" / "0.png"))
    np.testing.assert_allclose(pred, model.predict(x0 / 255, prepared=True), atol=1e-6)
    with pytest.raises(DlcError, match="has no labels"):
        model.evaluate(tmp_path / "new")
