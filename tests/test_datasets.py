"""Dataset readers: IDX/MNIST (no network), Fashion-MNIST (Debian files), digits, splits, CSV."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlc.compiler.errors import DlcError
from dlc.runtime.data import idx
from dlc.runtime.data.datasets import (
    digits,
    fashion_mnist,
    fizzbuzz,
    load_idx_folder,
    mnist,
    ordered_split,
    read_csv,
    read_idx,
    shuffled_split,
    stratified_split,
)

CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(np.int16): 0x0B,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float32): 0x0D,
    np.dtype(np.float64): 0x0E,
}


def idx_bytes(a: np.ndarray) -> bytes:
    header = bytes([0, 0, CODES[a.dtype], a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, a: np.ndarray) -> Path:
    data = idx_bytes(a)
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


def make_mnist_folder(folder: Path, n_train: int = 6, n_test: int = 4, gz: bool = True) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    sfx = ".gz" if gz else ""
    data = {}
    for split, n, (images, labels) in [
        ("train", n_train, idx.SPLIT_FILES["train"]),
        ("test", n_test, idx.SPLIT_FILES["test"]),
    ]:
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(folder / (images + sfx), x)
        write_idx(folder / (labels + sfx), y)
        data[split] = (x, y)
    return data


# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_roundtrip(tmp_path, dtype, suffix):
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == np.uint8:
        a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4) + 200
    out = read_idx(write_idx(tmp_path / f"a.idx{suffix}", a))
    assert out.dtype == dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, a)


def test_read_idx_truncated_payload(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros((60000, 28, 28), np.uint8))[: 16 + 1200])
    with pytest.raises(DlcError) as e:
        read_idx(path)
    msg = str(e.value)
    assert "expected 47040000 bytes of pixel data" in msg and "found 1200" in msg
    assert str(path) in msg and "hint:" in msg


def test_read_idx_extra_bytes(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(idx_bytes(np.zeros(5, np.int32)) + b"\x00")
    with pytest.raises(DlcError, match=r"expected 20 bytes of data for shape \(5,\).*found 21"):
        read_idx(path)


@pytest.mark.parametrize(
    "raw, what",
    [
        (b"PK\x03\x04rest", "magic bytes are 504b0304"),
        (b"", "magic bytes are missing"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01x", "unknown IDX type byte 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "fewer than the 16 bytes"),
    ],
)
def test_read_idx_bad_header(tmp_path, raw, what):
    path = tmp_path / "bad.idx"
    path.write_bytes(raw)
    with pytest.raises(DlcError, match=what) as e:
        read_idx(path)
    assert str(path) in str(e.value)


def test_read_idx_corrupt_gzip_and_missing(tmp_path):
    path = tmp_path / "a.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(100, np.uint8)))[:-12])
    with pytest.raises(DlcError, match="cannot read the file") as e:
        read_idx(path)
    assert "a.gz" in str(e.value)
    with pytest.raises(DlcError, match="no such file"):
        read_idx(tmp_path / "nope")
    with pytest.raises(DlcError, match="cannot read the file"):
        read_idx(tmp_path)  # a directory


def test_load_idx_folder(tmp_path):
    want = make_mnist_folder(tmp_path, gz=False)
    shutil.move(tmp_path / "t10k-labels-idx1-ubyte", tmp_path / "t10k-labels-idx1-ubyte.gz")
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", want["test"][1])  # mixed plain and .gz
    got = load_idx_folder(tmp_path)
    assert set(got) == {"train", "test"}
    for split in got:
        x, y = got[split]
        assert x.dtype == np.uint8 and y.dtype == np.int32
        np.testing.assert_array_equal(x, want[split][0])
        np.testing.assert_array_equal(y, want[split][1])
    assert got["train"][0].shape == (6, 28, 28) and got["test"][1].shape == (4,)


def test_load_idx_folder_missing_and_mismatch(tmp_path):
    make_mnist_folder(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DlcError, match=r"looked for t10k-images-idx3-ubyte\[\.gz\]") as e:
        load_idx_folder(tmp_path)
    assert "train-images" not in str(e.value).split("hint:")[0]
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(DlcError, match=r"4 labels but t10k-images-idx3-ubyte\.gz holds 3 images"):
        load_idx_folder(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((4, 784), np.uint8))
    with pytest.raises(DlcError, match=r"shape \[N, rows, cols\]"):
        load_idx_folder(tmp_path)


# ---------------------------------------------------------------- MNIST download (file:// only)


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    src = tmp_path / "mirror"
    data = make_mnist_folder(src)
    for name in idx.MNIST_SHA256:
        digest = hashlib.sha256((src / name).read_bytes()).hexdigest()
        monkeypatch.setitem(idx.MNIST_SHA256, name, digest)
    return src, data


def test_mnist_downloads_once(tmp_path, mirror, monkeypatch):
    src, want = mirror
    calls = []
    real = idx._download
    monkeypatch.setattr(idx, "_download", lambda *a: (calls.append(a[0]), real(*a)))
    cache = tmp_path / "cache"
    got = mnist(cache, base_url=src.as_uri())
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(idx.MNIST_SHA256)
    assert len(calls) == 4 and calls[0].startswith("file://")
    np.testing.assert_array_equal(got["train"][0], want["train"][0])
    np.testing.assert_array_equal(got["test"][1], want["test"][1])
    shutil.rmtree(src)  # a second call must not need the mirror
    again = mnist(cache, base_url=src.as_uri())
    assert len(calls) == 4
    np.testing.assert_array_equal(again["train"][1], want["train"][1])


def test_mnist_cache_env_and_corruption(tmp_path, mirror, monkeypatch):
    src, want = mirror
    monkeypatch.setenv("DLC_CACHE", str(tmp_path / "envcache"))
    mnist(base_url=src.as_uri())
    cached = tmp_path / "envcache" / "mnist" / "train-labels-idx1-ubyte.gz"
    cached.write_bytes(cached.read_bytes()[:-3])  # corrupt the cache
    got = mnist(base_url=src.as_uri())  # detected and fetched again
    np.testing.assert_array_equal(got["train"][1], want["train"][1])
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == idx.MNIST_SHA256[cached.name]
    cached.write_bytes(b"garbage")
    shutil.rmtree(src)
    with pytest.raises(DlcError, match="download failed") as e:
        mnist(base_url=src.as_uri())
    assert f"place them in {cached.parent}" in str(e.value)
    assert cached.read_bytes() == b"garbage"  # left alone, no partial files around it
    assert not [p for p in cached.parent.iterdir() if p.name.endswith(".part")]


def test_mnist_checksum_mismatch(tmp_path, mirror, monkeypatch):
    src, _ = mirror
    monkeypatch.setitem(idx.MNIST_SHA256, "t10k-images-idx3-ubyte.gz", "0" * 64)
    with pytest.raises(DlcError, match="checksum mismatch") as e:
        mnist(tmp_path / "c", base_url=src.as_uri())
    assert "expected " + "0" * 64 in str(e.value) and "hint:" in str(e.value)
    assert not (tmp_path / "c" / "mnist" / "t10k-images-idx3-ubyte.gz").exists()


def test_cache_root(monkeypatch, tmp_path):
    monkeypatch.delenv("DLC_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert idx.cache_root() == tmp_path / "dlc"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert idx.cache_root() == Path.home() / ".cache" / "dlc"


# ---------------------------------------------------------------- Fashion-MNIST


def test_fashion_mnist_debian():
    if not Path(idx.DEBIAN_FASHION_MNIST, "train-labels-idx1-ubyte.gz").exists():
        pytest.skip(
            f"Debian package dataset-fashion-mnist not installed "
            f"({idx.DEBIAN_FASHION_MNIST} absent)"
        )
    data = fashion_mnist()
    (x, y), (xt, yt) = data["train"], data["test"]
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert x.dtype == np.uint8 and y.dtype == np.int32
    assert np.bincount(y).tolist() == [6000] * 10 and np.bincount(yt).tolist() == [1000] * 10
    assert yt[:5].tolist() == [9, 2, 1, 1, 6] and int(x.max()) == 255


def test_fashion_mnist_folder_env_and_missing(tmp_path, monkeypatch):
    mine = make_mnist_folder(tmp_path / "mine", n_train=2, n_test=1)
    np.testing.assert_array_equal(fashion_mnist(tmp_path / "mine")["test"][0], mine["test"][0])
    env = make_mnist_folder(tmp_path / "env", n_train=3, n_test=2)
    monkeypatch.setenv("DLC_FASHION_MNIST", str(tmp_path / "env"))
    np.testing.assert_array_equal(fashion_mnist()["train"][1], env["train"][1])
    monkeypatch.setattr(idx, "DEBIAN_FASHION_MNIST", str(tmp_path / "none"))
    monkeypatch.setenv("DLC_FASHION_MNIST", str(tmp_path / "empty"))
    with pytest.raises(DlcError, match="Fashion-MNIST not found") as e:
        fashion_mnist(tmp_path / "also-empty")
    msg = str(e.value)
    assert "apt-get install -y dataset-fashion-mnist" in msg and "also-empty" in msg


# ---------------------------------------------------------------- digits, fizzbuzz


def test_digits():
    x, y = digits()
    assert x.shape == (1797, 64) and x.dtype == np.float32 and y.dtype == np.int32
    assert float(x.max()) == 16.0 and float(x.min()) == 0.0
    assert y[:10].tolist() == list(range(10)) and np.bincount(y).sum() == 1797


def test_fizzbuzz():
    x, y = fizzbuzz(1, 15)
    assert x.shape == (15, 10) and x.dtype == np.float32 and y.dtype == np.int32
    assert y.tolist() == [0, 0, 1, 0, 2, 1, 0, 0, 1, 2, 0, 1, 0, 0, 3]
    assert x[5].tolist() == [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]  # 6, least significant bit first
    assert fizzbuzz(15, 15)[1].tolist() == [3]
    xs, _ = fizzbuzz(0, 1023)
    np.testing.assert_array_equal(xs @ (2.0 ** np.arange(10)), np.arange(1024))
    with pytest.raises(DlcError, match="1024 does not fit in 10 bits"):
        fizzbuzz(1, 1024)
    with pytest.raises(DlcError, match="empty or negative"):
        fizzbuzz(5, 4)


# ---------------------------------------------------------------- splits


def test_stratified_split():
    y = np.repeat([0, 1, 2], [50, 31, 7])
    fr = {"train": 0.7, "val": 0.2, "test": 0.1}
    parts = stratified_split(y, fr, seed=3)
    allidx = np.concatenate(list(parts.values()))
    assert sorted(allidx.tolist()) == list(range(len(y)))
    for name, f in fr.items():
        for c, size in [(0, 50), (1, 31), (2, 7)]:
            assert abs(np.sum(y[parts[name]] == c) - f * size) <= 1
    assert parts["train"].tolist() != sorted(parts["train"].tolist())  # shuffled
    again = stratified_split(y, fr, seed=3)
    assert all(np.array_equal(parts[k], again[k]) for k in fr)
    other = stratified_split(y, fr, seed=4)
    assert not np.array_equal(parts["train"], other["train"])


def test_ordered_and_shuffled_split():
    parts = ordered_split(10, {"train": 0.7, "test": 0.3})
    assert parts["train"].tolist() == list(range(7)) and parts["test"].tolist() == [7, 8, 9]
    thirds = ordered_split(10, {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    assert [len(v) for v in thirds.values()] == [4, 3, 3]
    s = shuffled_split(100, {"a": 0.5, "b": 0.25, "c": 0.25}, seed=0)
    assert [len(v) for v in s.values()] == [50, 25, 25]
    assert sorted(np.concatenate(list(s.values())).tolist()) == list(range(100))
    assert s["a"].tolist() != list(range(50))
    assert np.array_equal(s["b"], shuffled_split(100, {"a": 0.5, "b": 0.25, "c": 0.25}, 0)["b"])


@pytest.mark.parametrize(
    "fractions, what",
    [
        ({"a": 0.5, "b": 0.4}, "sum to 0.9"),
        ({"a": 1.5, "b": -0.5}, "finite and >= 0"),
        ({}, "at least one part"),
    ],
)
def test_split_fraction_errors(fractions, what):
    for call in (
        lambda: ordered_split(10, fractions),
        lambda: shuffled_split(10, fractions, 0),
        lambda: stratified_split(np.zeros(10), fractions, 0),
    ):
        with pytest.raises(DlcError, match=what):
            call()


# ---------------------------------------------------------------- CSV


def test_read_csv(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("date, price ,id,qty\n2024-01-02,1.5,a7,3\n2024-01-03, -2e3 ,b8,4\n")
    header, cols = read_csv(path)
    assert header == ["date", "price", "id", "qty"]
    assert cols["price"].dtype == np.float64 and cols["price"].tolist() == [1.5, -2000.0]
    assert cols["date"].tolist() == ["2024-01-02", "2024-01-03"] and cols["date"].dtype.kind == "U"
    assert cols["qty"].tolist() == [3.0, 4.0] and cols["id"].tolist() == ["a7", "b8"]
    tsv = tmp_path / "d.tsv"
    tsv.write_text('a\tb\n1\t"x y"\n')
    assert read_csv(tsv, delimiter="\t")[1]["b"].tolist() == ["x y"]


@pytest.mark.parametrize(
    "text, where, what",
    [
        ("a,b\n1,2\n3,\n", "row 3", "column `b` is numeric but this row is empty"),
        ("a,b\n1,2\n\n3,NA\n", "row 4", "column `b` is numeric but this row holds `NA`"),
        (
            "a,b\nx,1\ny,2\n3,3\n",
            "row 4",
            "column `a` holds text but this row holds the number `3`",
        ),
        ("a,b\n1,2\n3,4,5\n", "row 3", "row has 3 fields, the header has 2"),
        (",a\n1,2\n", "row 1", "header column 1 has no name"),
        ("", "d.csv", "the CSV file is empty"),
    ],
)
def test_read_csv_errors(tmp_path, text, where, what):
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(DlcError) as e:
        read_csv(path)
    msg = str(e.value)
    assert what in msg and where in msg and str(path) in msg and "hint:" in msg


def test_read_csv_unreadable(tmp_path):
    with pytest.raises(DlcError, match="no such file"):
        read_csv(tmp_path / "missing.csv")
    bad = tmp_path / "latin.csv"
    bad.write_bytes(b"a\n\xe9\n")
    with pytest.raises(DlcError, match="not UTF-8"):
        read_csv(bad)


def test_no_jax_import():
    code = (
        "import sys, dlc.runtime.data.datasets; "
        "print(any(m.startswith('jax') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- image pixels in `prepare`


@pytest.mark.parametrize("extra", ["", "normalize standard", "normalize minmax"])
def test_image_pixels_prepared_as_before(tmp_path, monkeypatch, extra):
    """Pixels stay uint8 through the split and are scaled in place (issue 19): every part and
    statistic is bit-identical to the float32-first path (pixels converted by the loader)."""
    from dlc.compiler.frontend import load_spec
    from dlc.runtime.data import loaders
    from dlc.runtime.data.prepare import prepare
    from dlc.runtime.data.raw import RawData

    make_mnist_folder(tmp_path / "mnist", n_train=40, n_test=10)
    spec = tmp_path / "s.dl"
    spec.write_text(
        f'data {{\n  idx "mnist"\n  divide 255\n  {extra}\n  split valid=0.25\n}}\n'
        "model {\n  flatten\n  dense 10\n}\nloss cross_entropy\noptimizer adam\n"
        "train { batch 8; epochs 1 }\n"
    )
    new = prepare(load_spec(spec))

    def float_first(parts: dict) -> RawData:  # the loader before issue 19
        return RawData(
            {
                k: (x.astype(np.float32)[..., None], y.astype(np.int32))
                for k, (x, y) in parts.items()
            },
            10,
        )

    monkeypatch.setattr(loaders, "_image_parts", float_first)
    old = prepare(load_spec(spec))
    assert sorted(new.parts) == sorted(old.parts) == ["test", "train", "valid"]
    for k in old.parts:
        for a, b in zip(new.parts[k], old.parts[k], strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape
            assert a.tobytes() == b.tobytes(), k
    assert sorted(new.stats) == sorted(old.stats)
    for k in old.stats:
        assert new.stats[k].tobytes() == old.stats[k].tobytes(), k
    if not extra:  # divided only: pixels 0..255 -> 0..1
        assert new.parts["train"][0].min() >= 0.0 and new.parts["train"][0].max() <= 1.0
