"""What `dlc experiment` found: the grid's settings, one record per lane and the summary; the
runner (`runner.py`) fills it in and the report (`report.py`) writes it out.

Example:
    >>> Setting(0, {"optimizer.lr": 0.1}, ["optimizer.lr=0.1"], None).label
    'optimizer.lr=0.1'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.checks import literal
from dlc.compiler.frontend import ResolvedSpec


@dataclass(frozen=True)
class Setting:
    """One grid point: its values and its resolved spec."""

    index: int
    values: dict[str, Any]
    overrides: list[str]
    resolved: ResolvedSpec

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={literal(v)}" for k, v in self.values.items()) or "spec"


@dataclass
class LaneRecord:
    """One lane's outcome."""

    setting: int
    seed: int
    fold: int | None
    program: int
    metrics: dict[str, float]
    train_loss: float
    epochs: int
    best_epoch: int
    stopped: bool
    diverged: bool


@dataclass
class ExperimentResult:
    settings: list[Setting]
    records: list[LaneRecord]
    monitor: str
    summary: list[dict[str, Any]] = field(default_factory=list)
    best: Setting | None = None
    retrain: dict[str, Any] = field(default_factory=dict)
    runs: list[tuple[list[int], Any]] = field(default_factory=list)  # (record indices, LaneRun)
    retrained: Any = None  # the retrained CompiledModel
    programs: list[dict[str, Any]] = field(default_factory=list)
    path: Path | None = None
    # a search: one entry per trial (trial, round, state, value, params, intermediate values)
    trials: list[dict[str, Any]] = field(default_factory=list)
    caches: dict[str, dict[Any, Any]] = field(default_factory=dict)  # compiled lane functions

    @property
    def program_count(self) -> int:
        """How many compiled programs ran (one per group of settings with equal shapes)."""
        return len({p["program"] for p in self.programs})

    def lane_params(self, i: int) -> Any:
        """The final (restored) parameters of lane `i` (numpy)."""
        import jax

        for indices, run in self.runs:
            if i in indices:
                j = indices.index(i)
                return jax.tree.map(lambda a, j=j: np.asarray(a[j]), run.params)
        raise IndexError(i)
