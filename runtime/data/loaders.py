"""Loaders of the data sources: a spec's source node (`dlc.compiler.sources`, a pure
description) -> numpy arrays (`RawData`). `load_source` picks the loader by the source's name;
token sources' loaders live in `dlc.runtime.data.tokens`. Numpy only, no JAX.

Example:
    >>> from dlc.compiler.sources.fizzbuzz import FizzBuzz
    >>> raw = load_source(FizzBuzz(train=[101, 1023], test=[1, 100]), ".")
    >>> raw.parts["test"][0].shape, raw.num_classes
    ((100, 10), 4)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.compiler.sources import Source, Table
from dlc.runtime.data import columns, datasets
from dlc.runtime.data.raw import RawData
from dlc.runtime.data.reading import check_allocation, check_confined

if TYPE_CHECKING:
    from dlc.compiler.sources import Digits, FashionMnist, FizzBuzz, Idx, Mnist


def spec_path(path: str, base_dir: str | Path) -> Path:
    """A path written in a spec: relative to the spec's folder."""
    p = Path(path)
    return check_confined(p if p.is_absolute() else Path(base_dir) / p)


def read_table(
    source: Table, path: Path, *, missing: bool | None = None, lines: list[int] | None = None
) -> tuple[list[str], dict[str, np.ndarray]]:
    """(header, columns) of a `csv` or `parquet` source's file (`missing`: gaps are NaN;
    default: as the source's `missing=` says; `lines` receives each row's row number)."""
    gaps = source.missing != "error" if missing is None else missing
    if source.dl_name == "parquet":
        from dlc.runtime.data.parquet import read_parquet

        header, cols = read_parquet(path, missing=gaps)
        if lines is not None:  # Parquet rows count from 1 (no header row)
            lines.extend(range(1, 1 + len(cols[header[0]])))
        return header, cols
    from dlc.compiler.sources.csv import Csv  # loaded: the spec names it

    assert isinstance(source, Csv)
    return datasets.read_csv(path, delimiter=source.delimiter, missing=gaps, lines=lines)


def csv_columns(source: Table, header: list[str], where: str) -> tuple[str, list[str], str | None]:
    """The target, feature and id column names a `csv` source chooses from `header` (before
    checking their types): see `dlc.runtime.data.columns` for the reference forms."""
    target = columns.column(source.target, header, where)
    ident = columns.column(source.id, header, where) if source.id is not None else None
    excluded = set(columns.select(header, source.exclude, where))
    if source.features is not None:
        features = []
        for ref in source.features:  # a pattern never picks the target or the id
            found = columns.select(header, [ref], where)
            if columns.is_pattern(ref, header):
                found = [c for c in found if c not in (target, ident)]
            features += [c for c in found if c not in excluded and c not in features]
    else:
        features = [
            c
            for c in header
            if c not in (target, ident) and c not in excluded and not columns.is_id_name(c)
        ]
    return target, features, ident


def category_name(v: object) -> str:
    """A category's name: a whole number without `.0` (`3.0` -> `3`), else its text."""
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v)


def category_ids(values: np.ndarray, table: list[str]) -> np.ndarray:
    """`categories=index`: each value's id, 1 + its place in `table` (0: not in the table).

    Example:
        >>> category_ids(np.array(["sun", "rain", "hail"]), ["rain", "sun"]).tolist()
        [2.0, 1.0, 0.0]
    """
    index = {v: i + 1 for i, v in enumerate(table)}
    return np.array([index.get(category_name(v), 0) for v in values.tolist()], np.float64)


def one_hot(
    features: list[str], cols: dict[str, np.ndarray], cats: list[str]
) -> tuple[list[str], list[np.ndarray], dict[str, list[int]]]:
    """(feature names, columns, each categorical column's positions): each categorical column
    becomes one 0/1 column per distinct value, sorted, named `column=value`, in its place."""
    names: list[str] = []
    blocks: list[np.ndarray] = []
    where: dict[str, list[int]] = {}
    for c in features:
        if c not in cats:
            names.append(c)
            blocks.append(cols[c])
            continue
        text = np.array([category_name(v) for v in cols[c].tolist()], dtype=str)
        where[c] = []
        for value in sorted(set(text.tolist())):
            where[c].append(len(names))
            names.append(f"{c}={value}")
            blocks.append((text == value).astype(np.float64))
    return names, blocks, where


def choose_columns(
    source: Table, header: list[str], numeric: Callable[[str], bool], path: Path
) -> tuple[str, list[str], str | None, list[str]]:
    """(target, features, id, categorical columns) of a table source whose columns are
    numeric or not as `numeric` says; a feature that is text and not categorical is an error."""
    target, features, ident = csv_columns(source, header, str(path))
    cats = [c for c in columns.select(header, source.categorical, str(path)) if c != target]
    if source.features is None:
        features = [c for c in features if numeric(c) or c in cats]
    features += [c for c in cats if c not in features and c != ident]
    for name in features:
        if not numeric(name) and name not in cats:
            raise DlcError.single(
                f"feature column `{name}` of {path} is not numeric",
                where=str(path),
                hint=f'list it in categorical=["{name}"] for a one-hot encoding, '
                "or drop it with exclude=[...]",
            )
    return target, features, ident, cats


def table_notes(
    base: list[str], header: list[str], features: list[str], ident: str | None, constant: list[str]
) -> list[str]:
    """What `dlc check` says of a table's columns: the features (`base`: before one-hot),
    constant ones, and columns named like an identifier that are not the `id`."""
    notes = [f"features ({len(features)}): {columns.compact(base, header) or 'none'}"]
    if constant:
        notes.append(
            "warning: constant feature column(s) "
            + ", ".join(f"`{c}`" for c in constant)
            + ": they carry no information; drop them with exclude=[...]"
        )
    undeclared = [c for c in header if columns.is_id_name(c) and c != ident]
    for c in undeclared:
        state = "used as a feature" if c in features else "left out of the features"
        notes.append(
            f"warning: column `{c}` looks like an identifier and is {state}; "
            f'declare it with id="{c}" to carry it to predictions'
        )
    return notes


def target_keep(y: np.ndarray) -> np.ndarray:
    """Rows whose target is there (a gap: NaN, or class label -1)."""
    return ~np.isnan(y).reshape(len(y), -1).any(axis=1) if y.dtype.kind == "f" else y >= 0


def load_csv(source: Table, base_dir: str | Path) -> RawData:
    """A `csv` or `parquet` source: columns chosen, categories one-hot, gaps as `missing=`."""
    path = spec_path(source.path, base_dir)
    gaps = source.missing != "error"
    lines: list[int] = []
    header, cols = read_table(source, path, lines=lines)
    rows = np.asarray(lines, np.int64)
    target, features, ident, cats = choose_columns(
        source, header, lambda c: cols[c].dtype.kind == "f", path
    )
    base = features
    features, blocks, blocks_at = one_hot(features, cols, cats)
    x = (np.stack(blocks, axis=1) if blocks else np.zeros((len(cols[target]), 0))).astype(
        np.float32
    )
    y, num_classes = csv_target(source, target, cols[target], path)
    ids = {"all": cols[ident]} if ident else {}
    if gaps:  # rows missing the target always drop; `drop` also drops rows missing a feature
        keep = target_keep(y)
        if source.missing == "drop":
            full = ~np.isnan(x).any(axis=1)
            keep = keep & full
        if not keep.all():
            x, y, rows = x[keep], y[keep], rows[keep]
            ids = {k: v[keep] for k, v in ids.items()}
    constant = [c for c in base if c not in cats and len(x) and np.ptp(np.nan_to_num(cols[c])) == 0]
    notes = table_notes(base, header, features, ident, constant)
    impute = source.missing if source.missing in ("zero", "mean", "median") else None
    return RawData(
        {"all": (x, y)},
        num_classes,
        feature_names=features,
        ids=ids,
        notes=notes,
        impute=impute,
        categories=blocks_at,
        unseen=source.unseen,
        rows=rows,
        where=str(path),
    )


def csv_target(
    source: Table, target: str, col: np.ndarray, path: Path
) -> tuple[np.ndarray, int | None]:
    if not source.classes:
        if col.dtype.kind != "f":
            raise DlcError.single(
                f"target column `{target}` of {path} is not numeric",
                where=str(path),
                hint="add classes=true for class labels",
            )
        return col.astype(np.float32)[:, None], None
    if col.dtype.kind == "f":  # a gap in the target (missing=...): label -1, the row drops
        gap = np.isnan(col)
        names, labels = np.unique(col[~gap], return_inverse=True)
        out = np.full(len(col), -1, np.int32)
        out[~gap] = labels
        return out, len(names)
    names, labels = np.unique(col.astype(str), return_inverse=True)
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
    """Pixels as read, with a channel axis (`prepare` makes them float32 after the split)."""
    out = {k: (x[..., None], y.astype(np.int32)) for k, (x, y) in parts.items()}
    return RawData(out, 10, pixels=True)


def load_idx(source: Idx, base_dir: str | Path) -> RawData:
    return _image_parts(datasets.load_idx_folder(spec_path(source.path, base_dir)))


def load_mnist(source: Mnist, base_dir: str | Path) -> RawData:
    return _image_parts(datasets.mnist())


def load_fashion_mnist(source: FashionMnist, base_dir: str | Path) -> RawData:
    return _image_parts(datasets.fashion_mnist(source.path))


def _load_npz(source: Any, base_dir: str | Path) -> RawData:
    from dlc.runtime.data.arrays import load_npz

    return load_npz(source, base_dir)


def _load_npy(source: Any, base_dir: str | Path) -> RawData:
    from dlc.runtime.data.arrays import load_npy

    return load_npy(source, base_dir)


def _load_images(source: Any, base_dir: str | Path) -> RawData:
    from dlc.runtime.data.images import load_images

    return load_images(source, base_dir)


def _load_tokens(source: Any, base_dir: str | Path) -> RawData:
    from dlc.runtime.data import tokens

    load: dict[str, Callable[[Any, str | Path], RawData]] = {
        "text": tokens.load_text,
        "conllu": tokens.load_conllu,
        "seq2seq": tokens.load_seq2seq,
    }
    return load[source.dl_name](source, base_dir)


# one loader per registered source name (tests/test_conformance.py checks every one); the
# loaders of other modules are imported when their source is read, not by `dlc check` of a CSV
LOADERS: dict[str, Callable[[Any, str | Path], RawData]] = {
    "csv": load_csv,
    "parquet": load_csv,
    "digits": load_digits,
    "fizzbuzz": load_fizzbuzz,
    "idx": load_idx,
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
    "npz": _load_npz,
    "npy": _load_npy,
    "images": _load_images,
    "text": _load_tokens,
    "conllu": _load_tokens,
    "seq2seq": _load_tokens,
}


def load_source(source: Source, base_dir: str | Path) -> RawData:
    """Read the data a source node describes; paths are relative to `base_dir`."""
    loader = LOADERS.get(source.dl_name)
    if loader is None:
        raise NotImplementedError(f"no loader for data source `{source.dl_name}`")
    return loader(source, base_dir)
