"""The `exponential` schedule (one registry class a module: imported when a spec names it)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt

from dlc.compiler.lazy import optax
from dlc.compiler.registry import SCHEDULES, register
from dlc.compiler.schedules import Schedule


@register(SCHEDULES, "exponential")
class Exponential(Schedule):
    """`rate ** (step / every)` (stepwise when `staircase`)."""

    rate: float = Field(gt=0, le=1)
    every: PositiveInt = 1000
    staircase: bool = False
    steps: PositiveInt | None = None
    positional = ("rate",)

    def build(self, total_steps: int) -> Any:
        return optax.exponential_decay(1.0, self.every, self.rate, staircase=self.staircase)
