"""`RawData`: what a data source's loader returns, before windowing, splitting and scaling.

`parts` is {"all": (x, y)} or, when the data comes with its own test set,
{"train": (x, y), "test": (x, y)}.

Example:
    >>> import numpy as np
    >>> raw = RawData({"all": (np.zeros((3, 2)), np.zeros(3))}, num_classes=2)
    >>> raw.parts["all"][0].shape, raw.ordered
    ((3, 2), False)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class RawData:
    # x may be a `stream.RowFile` (a file above `train.memory_mb`): streamed by `prepare`
    parts: dict[str, tuple[Any, np.ndarray]]
    num_classes: int | None = None  # None: regression targets
    ordered: bool = False  # rows are a time series: split in order
    feature_names: list[str] = field(default_factory=list)
    ids: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what `dlc check` prints about the data
    impute: str | None = None  # NaN features: filled with `zero`, or the train `mean`/`median`
    vocab: Any = None  # token sources: the vocabulary (`dlc.runtime.data.text.Vocab`)
    # token sources whose vocabulary is built after the split, from the training part only:
    # parts of token lists -> (parts of padded id arrays, vocabulary)
    # `categorical` columns: column -> positions of its one-hot block in the feature list
    # (one per category of the whole file, `feature_names` `column=value`), cut down to the
    # training part's categories after the split (`dlc.runtime.data.categories`)
    categories: dict[str, list[int]] = field(default_factory=dict)
    unseen: str = "error"  # a category the training part lacks: `error` or `zero`
    rows: np.ndarray | None = None  # the file's row number of each row of parts["all"]
    where: str = ""  # the data file, for errors
    encode: Callable[[dict[str, tuple[Any, Any]]], tuple[dict[str, Any], Any]] | None = None
    # x holds image pixels as read (uint8 for MNIST-format files): `prepare` makes them float32
    # after the split, whose gather then moves a quarter of the bytes
    pixels: bool = False
