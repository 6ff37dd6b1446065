"""Data sources (`csv`, `digits`, `fizzbuzz`, `idx`, `mnist`, `fashion_mnist`): each loads numpy
arrays; the readers themselves live in `dlc.runtime.data.datasets` (numpy only, no JAX).

A source returns `RawData` whose `parts` is {"all": (x, y)} or, when the data comes with its own
test set, {"train": (x, y), "test": (x, y)}.

Example:
    >>> raw = FizzBuzz(train=[101, 1023], test=[1, 100]).load(".")
    >>> raw.parts["test"][0].shape, raw.num_classes
    ((100, 10), 4)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, PositiveInt

from dlc.compiler.errors import DlcError, suggest
from dlc.compiler.registry import SOURCES, SpecModel, register


@dataclass
class RawData:
    parts: dict[str, tuple[np.ndarray, np.ndarray]]
    num_classes: int | None = None  # None: regression targets
    ordered: bool = False  # rows are a time series: split in order
    feature_names: list[str] = field(default_factory=list)
    ids: dict[str, np.ndarray] = field(default_factory=dict)
    vocab: Any = None  # token sources: the vocabulary (`dlc.runtime.data.text.Vocab`)
    # token sources whose vocabulary is built after the split, from the training part only:
    # parts of token lists -> (parts of padded id arrays, vocabulary)
    encode: Callable[[dict[str, tuple[Any, Any]]], tuple[dict[str, Any], Any]] | None = None


class Source(SpecModel):
    task_hint: ClassVar[str] = "regression"

    def load(self, base_dir: str | Path) -> RawData:
        raise NotImplementedError


@register(SOURCES, "csv")
class Csv(Source):
    """A CSV file with a header. `target` is the column to predict; `features` the inputs
    (default: every numeric column but the target and the id); `id` a column carried to
    predictions. Paths are relative to the spec's folder."""

    path: str
    target: str
    features: list[str] | None = None
    id: str | None = None
    delimiter: str = ","
    classes: bool = False  # the target holds class labels (integers or names)
    positional = ("path",)

    def resolve_path(self, base_dir: str | Path) -> Path:
        p = Path(self.path)
        return p if p.is_absolute() else Path(base_dir) / p

    def load(self, base_dir: str | Path) -> RawData:
        from dlc.runtime.data.datasets import read_csv

        path = self.resolve_path(base_dir)
        header, cols = read_csv(path, delimiter=self.delimiter)
        wanted = [self.target, *(self.features or []), *([self.id] if self.id else [])]
        for name in wanted:
            if name not in cols:
                raise DlcError.single(
                    f"column `{name}` is not in {path}", where=str(path), hint=suggest(name, header)
                )
        if self.features is not None:
            features = list(self.features)
        else:
            features = [
                c for c in header if c not in (self.target, self.id) and cols[c].dtype.kind == "f"
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
            else np.zeros((len(cols[self.target]), 0))
        ).astype(np.float32)
        y, num_classes = self._target(cols[self.target], path)
        ids = {"all": cols[self.id]} if self.id else {}
        return RawData({"all": (x, y)}, num_classes, feature_names=features, ids=ids)

    def _target(self, col: np.ndarray, path: Path) -> tuple[np.ndarray, int | None]:
        if not self.classes:
            if col.dtype.kind != "f":
                raise DlcError.single(
                    f"target column `{self.target}` of {path} is not numeric",
                    where=str(path),
                    hint="add classes=true for class labels",
                )
            return col.astype(np.float32)[:, None], None
        names, labels = np.unique(
            col.astype(str) if col.dtype.kind != "f" else col, return_inverse=True
        )
        return labels.astype(np.int32), len(names)


@register(SOURCES, "digits")
class Digits(Source):
    """scikit-learn's 8x8 handwritten digits: 1797 images, pixels 0..16, 10 classes."""

    flat: bool = True  # (64,) vectors; false gives (8, 8, 1) images

    def load(self, base_dir: str | Path) -> RawData:
        from dlc.runtime.data.datasets import digits

        x, y = digits()
        x = x if self.flat else x.reshape(-1, 8, 8, 1)
        return RawData({"all": (x.astype(np.float32), y.astype(np.int32))}, 10)


@register(SOURCES, "fizzbuzz")
class FizzBuzz(Source):
    """Numbers as binary digits (least significant first) -> number / fizz / buzz / fizzbuzz."""

    train: list[PositiveInt] = Field([101, 1023], min_length=2, max_length=2)
    test: list[PositiveInt] = Field([1, 100], min_length=2, max_length=2)
    bits: PositiveInt = 10

    def load(self, base_dir: str | Path) -> RawData:
        from dlc.runtime.data.datasets import fizzbuzz

        return RawData(
            {
                "train": fizzbuzz(*self.train, bits=self.bits),
                "test": fizzbuzz(*self.test, bits=self.bits),
            },
            4,
        )


def _image_parts(parts: dict[str, tuple[np.ndarray, np.ndarray]]) -> RawData:
    out = {k: (x.astype(np.float32)[..., None], y.astype(np.int32)) for k, (x, y) in parts.items()}
    return RawData(out, 10)


@register(SOURCES, "idx")
class Idx(Source):
    """MNIST-format IDX files (train-*/t10k-*, optionally .gz) in a local folder; images come as
    (28, 28, 1) with pixels 0..255 (use `divide 255`)."""

    path: str
    positional = ("path",)

    def load(self, base_dir: str | Path) -> RawData:
        from dlc.runtime.data.datasets import load_idx_folder

        p = Path(self.path)
        return _image_parts(load_idx_folder(p if p.is_absolute() else Path(base_dir) / p))


@register(SOURCES, "mnist")
class Mnist(Source):
    """MNIST, downloaded once from the public mirror into the user cache (checksums verified)."""

    def load(self, base_dir: str | Path) -> RawData:
        from dlc.runtime.data.datasets import mnist

        return _image_parts(mnist())


@register(SOURCES, "fashion_mnist")
class FashionMnist(Source):
    """Fashion-MNIST from Debian's `dataset-fashion-mnist` package (or `path=` a folder)."""

    path: str | None = None

    def load(self, base_dir: str | Path) -> RawData:
        from dlc.runtime.data.datasets import fashion_mnist

        return _image_parts(fashion_mnist(self.path))
