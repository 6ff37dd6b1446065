"""Data sources (`csv`, `parquet`, `digits`, `fizzbuzz`, `idx`, `mnist`, `fashion_mnist`,
`npz`, `npy`, `images`): pure descriptions of data. Nothing here reads a file: the loaders
live in the runtime (`dlc.runtime.data.loaders`, one per source).

Each registered source is one class in one module of this package, imported when a spec names
it (`SOURCES.get`); `from dlc.compiler.sources import Csv` works too (`lazy_classes`).

Example:
    >>> from dlc.compiler.sources.csv import Csv
    >>> from dlc.compiler.sources.fizzbuzz import FizzBuzz
    >>> FizzBuzz(train=[101, 1023], test=[1, 100]).bits, Csv(path="a.csv", target="y").classes
    (10, False)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from dlc.compiler.registry import SpecModel, lazy_classes


class Source(SpecModel):
    """Base class of every data source: settings only (a loader per type in the runtime)."""

    task_hint: ClassVar[str] = "regression"


class Table(Source):
    """The column rules shared by the `csv` and `parquet` sources (see `Csv`)."""

    path: str
    target: str | int
    features: list[str | int] | None = None
    exclude: list[str | int] = Field(default_factory=list)
    id: str | int | None = None
    classes: bool = False  # the target holds class labels (integers or names)
    # empty (or `NA`) cells in numeric columns: an error naming the row, drop those rows, or
    # fill features with 0 or the training part's mean/median (rows missing the target drop)
    missing: Literal["error", "drop", "zero", "mean", "median"] = "error"
    # columns of categories (text or codes): features, one-hot (`weather=rain`, ...), the
    # table of categories from the training part
    categorical: list[str | int] = Field(default_factory=list)
    # a category the training part lacks, in valid/test or predict's input: an error naming
    # the row, or `zero`: all its one-hot columns 0 (with `categories=index`: id 0)
    unseen: Literal["error", "zero"] = "error"
    # how they are encoded: `onehot` columns, or `index`: one column of category ids 1..K
    # (the training part's categories, sorted) for an `embedding` layer
    categories: Literal["onehot", "index"] = "onehot"
    positional = ("path",)
    hash_omit: ClassVar[frozenset[str]] = frozenset({"unseen", "categories"})


__getattr__ = lazy_classes(__name__)

if TYPE_CHECKING:  # for type checkers: at run time each comes from `__getattr__` when asked
    from dlc.compiler.sources.csv import Csv
    from dlc.compiler.sources.digits import Digits
    from dlc.compiler.sources.fashion_mnist import FashionMnist
    from dlc.compiler.sources.fizzbuzz import FizzBuzz
    from dlc.compiler.sources.idx import Idx
    from dlc.compiler.sources.images import Images
    from dlc.compiler.sources.mnist import Mnist
    from dlc.compiler.sources.npy import Npy
    from dlc.compiler.sources.npz import Npz
    from dlc.compiler.sources.parquet import Parquet

__all__ = [
    "Csv",
    "Digits",
    "FashionMnist",
    "FizzBuzz",
    "Idx",
    "Images",
    "Mnist",
    "Npy",
    "Npz",
    "Parquet",
    "Source",
    "Table",
]
