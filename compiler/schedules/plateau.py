"""The `plateau` schedule (one registry class a module: imported when a spec names it)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, NonNegativeInt, PositiveInt

from dlc.compiler.lazy import optax
from dlc.compiler.registry import SCHEDULES, register
from dlc.compiler.schedules import Schedule


@register(SCHEDULES, "plateau")
class Plateau(Schedule):
    """Reduce on plateau (Keras' ReduceLROnPlateau, as Optax's `contrib.reduce_on_plateau`):
    multiply the lr by `factor` when the epoch's mean minibatch training loss has not improved
    by a relative `rtol` for `patience` epochs; wait `cooldown` epochs after a cut; never below
    `min_scale` × lr. Only the last part of `then`, e.g. `warmup(100) then plateau`."""

    factor: float = Field(0.5, gt=0, lt=1)
    patience: PositiveInt = 5
    cooldown: NonNegativeInt = 0
    rtol: float = Field(1e-4, gt=0, le=1)
    min_scale: float = Field(0.0, ge=0, le=1)
    positional = ("factor",)

    def build(self, total_steps: int) -> Any:
        return optax.constant_schedule(1.0)  # the cuts live in the optimizer state

    def transform(self, steps_per_epoch: Any) -> Any:
        """The Optax transformation (fed `value=` the minibatch loss at every update); counts
        epochs of `steps_per_epoch` updates (a traced number per lane in experiments)."""
        from optax.contrib import reduce_on_plateau

        return reduce_on_plateau(
            factor=self.factor,
            patience=self.patience,
            rtol=self.rtol,
            cooldown=self.cooldown,
            accumulation_size=steps_per_epoch,
            min_scale=self.min_scale,
        )
