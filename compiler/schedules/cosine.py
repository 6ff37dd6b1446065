"""The `cosine` schedule (one registry class a module: imported when a spec names it)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt

from dlc.compiler.lazy import optax
from dlc.compiler.registry import SCHEDULES, register
from dlc.compiler.schedules import Schedule


@register(SCHEDULES, "cosine")
class Cosine(Schedule):
    """1 -> `alpha` along half a cosine over `steps` (default: the rest of training)."""

    steps: PositiveInt | None = None
    alpha: float = Field(0.0, ge=0, le=1)
    positional = ("steps",)

    def build(self, total_steps: int) -> Any:
        return optax.cosine_decay_schedule(1.0, max(1, self.steps or total_steps), self.alpha)
