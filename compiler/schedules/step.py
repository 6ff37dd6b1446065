"""The `step` schedule (one registry class a module: imported when a spec names it)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt

from dlc.compiler.lazy import optax
from dlc.compiler.registry import SCHEDULES, register
from dlc.compiler.schedules import Schedule


@register(SCHEDULES, "step")
class Step(Schedule):
    """Multiply by `factor` at each step in `boundaries` (piecewise constant)."""

    boundaries: list[PositiveInt] = Field(min_length=1)
    factor: float = Field(0.1, gt=0)
    steps: PositiveInt | None = None
    positional = ("boundaries",)

    def build(self, total_steps: int) -> Any:
        return optax.piecewise_constant_schedule(1.0, dict.fromkeys(self.boundaries, self.factor))
