"""The settings of `dlc analyze`, in one place for the command line and the Python API (this
module imports no JAX: the parser reads its defaults).

Example:
    >>> AnalyzeOptions(at="origin").surface.n
    31
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

EXACT_LIMIT = 2000
"""Largest parameter count for which the full Hessian is built (2000 -> 4M entries, 32 MB)."""

POINTS = ("trained", "init", "origin")
"""Where `dlc analyze --at` looks: the run's parameters, the initial ones, or all zeros."""

SURFACES = ("random", "coords")
"""2-D surfaces: filter-normalized random directions, or two flat parameter indices."""


@dataclass(frozen=True)
class SurfaceOptions:
    """The 2-D surface: `kind` (one of `SURFACES`), the flat parameter indices for `coords`,
    the half-width `span` and `n` grid points per axis."""

    kind: str = "random"
    coords: tuple[int, int] = (0, 1)
    span: float = 1.0
    n: int = 31


@dataclass(frozen=True)
class AnalyzeOptions:
    """Where to look (`at`, one of `POINTS`; default trained with a run, else init), the
    surface, the thresholds and the output folder (default RUN/analysis)."""

    at: str | None = None
    surface: SurfaceOptions = field(default_factory=SurfaceOptions)
    exact_limit: int = EXACT_LIMIT
    tol: float = 1e-3
    out_dir: str | Path | None = None
    devices: int | str | None = None  # split the loss evaluations' rows (None: train.devices)
