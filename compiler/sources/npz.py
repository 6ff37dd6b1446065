"""The `npz` data source: a pure description of data (its loader is in `dlc.runtime.data`)."""

from __future__ import annotations

from pydantic import PositiveInt

from dlc.compiler.registry import SOURCES, register
from dlc.compiler.sources import Source


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
