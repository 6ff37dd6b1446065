"""The `sgd` optimizer (one registry class a module: imported when a spec names it)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveFloat

from dlc.compiler.lazy import optax
from dlc.compiler.optimizers import Optimizer
from dlc.compiler.registry import OPTIMIZERS, register


@register(OPTIMIZERS, "sgd")
class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum."""

    lr: PositiveFloat = 1e-2
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    nesterov: bool = False
    hyper = ("momentum",)

    def base(self, learning_rate: Any, momentum: Any = 0.0) -> Any:
        return optax.sgd(
            learning_rate, momentum=momentum if self.momentum else None, nesterov=self.nesterov
        )

    def reference_base(self, learning_rate: Any) -> Any:
        return optax.chain(
            optax.add_decayed_weights(self.weight_decay),
            optax.sgd(learning_rate, self.momentum or None, self.nesterov),
        )
