"""Loaders of the data sources: a spec's source node (`dlc.compiler.sources`, a pure
description) -> numpy arrays (`RawData`). `load_source` picks the loader by the node's type;
token sources' loaders live in `dlc.runtime.data.tokens`. Numpy only, no JAX.

Example:
    >>> from dlc.compiler.sources import FizzBuzz
    >>> raw = load_source(FizzBuzz(train=[101, 1023], test=[1, 100]), ".")
    >>> raw.parts["test"][0].shape, raw.num_classes
    ((100, 10), 4)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.errors import DlcError, suggest
from dlc.compiler.sources import Csv, Digits, FashionMnist, FizzBuzz, Idx, Mnist, Source
from dlc.compiler.text_sources import Conllu, Seq2Seq, Text
from dlc.runtime.data import datasets
from dlc.runtime.data.raw import RawData
from dlc.runtime.data.reading import check_allocation, check_confined
from dlc.runtime.data.tokens import load_conllu, load_seq2seq, load_text


def spec_path(path: str, base_dir: str | Path) -> Path:
    """A path written in a spec: relative to the spec's folder."""
    p = Path(path)
    return check_confined(p if p.is_absolute() else Path(base_dir) / p)


def load_csv(source: Csv, base_dir: str | Path) -> RawData:
    path = spec_path(source.path, base_dir)
    header, cols = datasets.read_csv(path, delimiter=source.delimiter)
    wanted = [source.target, *(source.features or []), *([source.id] if source.id else [])]
    for name in wanted:
        if name not in cols:
            raise DlcError.single(
                f"column `{name}` is not in {path}", where=str(path), hint=suggest(name, header)
            )
    if source.features is not None:
        features = list(source.features)
    else:
        features = [
            c for c in header if c not in (source.target, source.id) and cols[c].dtype.kind == "f"
        ]
    for name in features:
        if cols[name].dtype.kind != "f":
            raise DlcError.single(
                f"feature column `{name}` of {path} is not numeric",
                where=str(path),
                hint="list numeric columns in features=[...]",
            )
    x = (
        np.stack([cols[c] for c in features], axis=1)
        if features
        else np.zeros((len(cols[source.target]), 0))
    ).astype(np.float32)
    y, num_classes = _csv_target(source, cols[source.target], path)
    ids = {"all": cols[source.id]} if source.id else {}
    return RawData({"all": (x, y)}, num_classes, feature_names=features, ids=ids)


def _csv_target(source: Csv, col: np.ndarray, path: Path) -> tuple[np.ndarray, int | None]:
    if not source.classes:
        if col.dtype.kind != "f":
            raise DlcError.single(
                f"target column `{source.target}` of {path} is not numeric",
                where=str(path),
                hint="add classes=true for class labels",
            )
        return col.astype(np.float32)[:, None], None
    names, labels = np.unique(
        col.astype(str) if col.dtype.kind != "f" else col, return_inverse=True
    )
    return labels.astype(np.int32), len(names)


def load_digits(source: Digits, base_dir: str | Path) -> RawData:
    x, y = datasets.digits()
    x = x if source.flat else x.reshape(-1, 8, 8, 1)
    return RawData({"all": (x.astype(np.float32), y.astype(np.int32))}, 10)


def load_fizzbuzz(source: FizzBuzz, base_dir: str | Path) -> RawData:
    (lo, hi), (test_lo, test_hi) = source.train, source.test
    rows = max(0, hi - lo + 1) + max(0, test_hi - test_lo + 1)
    check_allocation(rows * source.bits * 4, "the fizzbuzz data", "use a smaller number range")
    return RawData(
        {
            "train": datasets.fizzbuzz(lo, hi, bits=source.bits),
            "test": datasets.fizzbuzz(test_lo, test_hi, bits=source.bits),
        },
        4,
    )


def _image_parts(parts: dict[str, tuple[np.ndarray, np.ndarray]]) -> RawData:
    out = {k: (x.astype(np.float32)[..., None], y.astype(np.int32)) for k, (x, y) in parts.items()}
    return RawData(out, 10)


def load_idx(source: Idx, base_dir: str | Path) -> RawData:
    return _image_parts(datasets.load_idx_folder(spec_path(source.path, base_dir)))


def load_mnist(source: Mnist, base_dir: str | Path) -> RawData:
    return _image_parts(datasets.mnist())


def load_fashion_mnist(source: FashionMnist, base_dir: str | Path) -> RawData:
    return _image_parts(datasets.fashion_mnist(source.path))


# one loader per source node type (tests/test_conformance.py checks every registered source)
LOADERS: dict[type[Source], Callable[[Any, str | Path], RawData]] = {
    Csv: load_csv,
    Digits: load_digits,
    FizzBuzz: load_fizzbuzz,
    Idx: load_idx,
    Mnist: load_mnist,
    FashionMnist: load_fashion_mnist,
    Text: load_text,
    Conllu: load_conllu,
    Seq2Seq: load_seq2seq,
}


def load_source(source: Source, base_dir: str | Path) -> RawData:
    """Read the data a source node describes; paths are relative to `base_dir`."""
    loader = LOADERS.get(type(source))
    if loader is None:
        raise NotImplementedError(f"no loader for data source `{source.dl_name}`")
    return loader(source, base_dir)
