"""The `warmup` schedule (one registry class a module: imported when a spec names it)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt

from dlc.compiler.lazy import optax
from dlc.compiler.registry import SCHEDULES, register
from dlc.compiler.schedules import Schedule


@register(SCHEDULES, "warmup")
class Warmup(Schedule):
    """Linear from `start` to 1 over `steps`."""

    steps: PositiveInt
    start: float = Field(0.0, ge=0)
    positional = ("steps",)

    def build(self, total_steps: int) -> Any:
        return optax.linear_schedule(self.start, 1.0, self.steps)
