"""The `rmsprop` optimizer (one registry class a module: imported when a spec names it)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveFloat

from dlc.compiler.lazy import optax
from dlc.compiler.optimizers import Optimizer
from dlc.compiler.registry import OPTIMIZERS, register


@register(OPTIMIZERS, "rmsprop")
class RMSProp(Optimizer):
    """RMSProp: steps divided by the root of a moving average (`decay`) of squared gradients."""

    decay: float = Field(0.9, gt=0.0, lt=1.0)
    eps: PositiveFloat = 1e-8
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    hyper = ("decay", "eps")

    def base(self, learning_rate: Any, decay: Any, eps: Any) -> Any:
        return optax.rmsprop(learning_rate, decay, eps, momentum=self.momentum or None)

    def schedule_inside(self) -> bool:
        # optax.rmsprop scales by the learning rate before its momentum trace
        return bool(self.momentum)

    def reference_base(self, learning_rate: Any) -> Any:
        return optax.chain(
            optax.add_decayed_weights(self.weight_decay),
            optax.rmsprop(learning_rate, self.decay, self.eps, momentum=self.momentum or None),
        )
