"""The `constant_warmup` schedule (one registry class a module: imported when a spec names it)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt

from dlc.compiler.lazy import optax
from dlc.compiler.registry import SCHEDULES, register
from dlc.compiler.schedules import Schedule


@register(SCHEDULES, "constant_warmup")
class ConstantWarmup(Schedule):
    """`factor` for `steps`, then 1 (the "constant warmup" of ResNet training)."""

    steps: PositiveInt
    factor: float = Field(0.1, gt=0)
    positional = ("steps",)

    def build(self, total_steps: int) -> Any:
        return optax.piecewise_constant_schedule(self.factor, {self.steps: 1.0 / self.factor})
