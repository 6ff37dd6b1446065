"""Data sources (`csv`, `parquet`, `digits`, `fizzbuzz`, `idx`, `mnist`, `fashion_mnist`,
`npz`, `npy`, `images`): pure descriptions of data. Nothing here reads a file: the loaders
live in the runtime (`dlc.runtime.data.loaders`, one per source type).

Example:
    >>> FizzBuzz(train=[101, 1023], test=[1, 100]).bits, Csv(path="a.csv", target="y").classes
    (10, False)
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, PositiveInt

from dlc.compiler.registry import SOURCES, SpecModel, register


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


@register(SOURCES, "csv")
class Csv(Table):
    """A CSV file with a header. `target` is the column to predict; `features` the inputs
    (default: every numeric column but the target, the id and any column named `id`);
    `exclude` columns never used as features; `id` a column carried to predictions. Columns
    are names (a repeated header name gets pandas' suffixes `cli`, `cli.1`, ...), positions
    (`3` or `"#3"`, from 1), ranges `"a:b"` (inclusive, file order) and globs `"tested_*"`.
    `missing` says what an empty or `NA` cell means; `categorical` columns become one-hot
    features (the categories of the training part; `unseen=error|zero` says what another
    category means), or with `categories=index` one column of ids 1..K each (for
    `embedding`). Paths are relative to the spec's folder."""

    delimiter: str = Field(",", min_length=1, max_length=1)  # one character


@register(SOURCES, "parquet")
class Parquet(Table):
    """A Parquet file (read with pyarrow, the optional `parquet` extra), its columns chosen by
    the same rules as a `csv` source's: numeric columns (integers, floats, booleans) are
    numbers, others text; a null (or NaN) is a missing value. E.g.
    `parquet "survey.parquet" target="y" exclude=["note"] missing=mean`."""


@register(SOURCES, "digits")
class Digits(Source):
    """scikit-learn's 8x8 handwritten digits: 1797 images, pixels 0..16, 10 classes."""

    flat: bool = True  # (64,) vectors; false gives (8, 8, 1) images


@register(SOURCES, "fizzbuzz")
class FizzBuzz(Source):
    """Numbers as binary digits (least significant first) -> number / fizz / buzz / fizzbuzz."""

    train: list[PositiveInt] = Field([101, 1023], min_length=2, max_length=2)
    test: list[PositiveInt] = Field([1, 100], min_length=2, max_length=2)
    bits: PositiveInt = Field(10, le=62)  # numbers up to 2**62 fit an int64


@register(SOURCES, "idx")
class Idx(Source):
    """MNIST-format IDX files (train-*/t10k-*, optionally .gz) in a local folder; images come as
    (28, 28, 1) with pixels 0..255 (use `divide 255`)."""

    path: str
    positional = ("path",)


@register(SOURCES, "mnist")
class Mnist(Source):
    """MNIST, downloaded once from the public mirror into the user cache (checksums verified)."""


@register(SOURCES, "fashion_mnist")
class FashionMnist(Source):
    """Fashion-MNIST from Debian's `dataset-fashion-mnist` package (or `path=` a folder)."""

    path: str | None = None


@register(SOURCES, "npz")
class Npz(Source):
    """Feature arrays in a NumPy `.npz` file (no pickled objects): `x` and `y` name the
    arrays holding the inputs (one row per example, any shape after the first axis) and the
    targets; `classes=true` makes `y` integer class labels 0..K-1 (`classes=K` also checks they
    are below K). E.g. `npz "hw.npz" x=train_x y=train_y classes=10`."""

    path: str
    x: str = "x"
    y: str = "y"
    classes: bool | PositiveInt = False
    positional = ("path",)


@register(SOURCES, "npy")
class Npy(Source):
    """Features and targets as two NumPy `.npy` files (no pickled objects): `x` the inputs
    (one row per example, at least one axis after it), `y` the targets (one per row);
    `classes=true` makes `y` integer class labels 0..K-1 (`classes=K` also checks them). Paths
    are relative to the spec's folder. E.g. `npy x="train_x.npy" y="train_y.npy" classes=10`."""

    x: str
    y: str
    classes: bool | PositiveInt = False


@register(SOURCES, "images")
class Images(Source):
    """A folder of PNG or JPEG images with one sub-folder per class (the class names: the sub-folder
    names, sorted). Images come as (H, W, 1) for greyscale or (H, W, 3) for colour, pixels
    0..255 (use `divide 255`); all the same size, or resized to `size=[H, W]`; `grey=true`
    converts colour images to greyscale. E.g. `images "food" size=[64, 64]`."""

    path: str
    size: list[PositiveInt] | None = Field(None, min_length=2, max_length=2)
    grey: bool = False
    positional = ("path",)
