"""Class names of a classification spec, in the order of the model's outputs: the labels of a
CSV's target column (sorted, as the loader numbers them), a text file's labels, the digits,
Fashion-MNIST's garment names, fizzbuzz's four answers.

Example:
    >>> class_names(load_spec("specs/fizzbuzz.dl"), 4)              # doctest: +SKIP
    ['number', 'fizz', 'buzz', 'fizzbuzz']
"""

from __future__ import annotations

import numpy as np

from dlc.compiler.frontend import ResolvedSpec
from dlc.compiler.sources import Digits, FashionMnist, FizzBuzz, Idx, Images, Mnist, Table
from dlc.compiler.text_sources import UPOS, Conllu, Text

FASHION = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
FIZZBUZZ = ["number", "fizz", "buzz", "fizzbuzz"]


def _label_key(s: str) -> tuple[bool, int, str]:
    """The order `load_text` numbers labels in: integers numerically, then other names."""
    digit = s.lstrip("-").isdigit()
    return (not digit, int(s) if digit else 0, s)


def class_names(resolved: ResolvedSpec, num_classes: int | None) -> list[str] | None:
    """Names of the classes (index = the model's output), or None for regression."""
    if num_classes is None:
        return None
    source = resolved.spec.data.source
    names: list[str] | None = None
    if isinstance(source, Table):
        from dlc.runtime.data.columns import column
        from dlc.runtime.data.loaders import read_table, spec_path

        path = spec_path(source.path, resolved.base_dir)
        header, cols = read_table(source, path)
        col = cols[column(source.target, header, str(path))]
        col = col[~np.isnan(col)] if col.dtype.kind == "f" else col  # rows that drop
        values = np.unique(col.astype(str) if col.dtype.kind != "f" else col)
        names = [number_name(v) for v in values]
    elif isinstance(source, Text):
        from dlc.runtime.data.tokens import _paths, _read_text

        _, labels = _read_text(source, _paths(source.path, resolved.base_dir))
        names = sorted(set(labels), key=_label_key)
    elif isinstance(source, Conllu):
        names = list(UPOS)
    elif isinstance(source, Images):
        from dlc.runtime.data.images import class_folders

        names = [d.name for d in class_folders(source, resolved.base_dir)]
    elif isinstance(source, FashionMnist):
        names = list(FASHION)
    elif isinstance(source, FizzBuzz):
        names = list(FIZZBUZZ)
    elif isinstance(source, Digits | Mnist | Idx):
        names = [str(i) for i in range(num_classes)]
    if names is None or len(names) != num_classes:
        return [str(i) for i in range(num_classes)]
    return names


def number_name(v: object) -> str:
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v)
