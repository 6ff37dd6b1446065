"""The `npy` data source: a pure description of data (its loader is in `dlc.runtime.data`)."""

from __future__ import annotations

from pydantic import PositiveInt

from dlc.compiler.registry import SOURCES, register
from dlc.compiler.sources import Source


@register(SOURCES, "npy")
class Npy(Source):
    """Features and targets as two NumPy `.npy` files (no pickled objects): `x` the inputs
    (one row per example, at least one axis after it), `y` the targets (one per row);
    `classes=true` makes `y` integer class labels 0..K-1 (`classes=K` also checks them). Paths
    are relative to the spec's folder. E.g. `npy x="train_x.npy" y="train_y.npy" classes=10`."""

    x: str
    y: str
    classes: bool | PositiveInt = False
