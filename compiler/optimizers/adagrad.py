"""The `adagrad` optimizer (one registry class a module: imported when a spec names it)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveFloat

from dlc.compiler.lazy import optax
from dlc.compiler.optimizers import Optimizer
from dlc.compiler.registry import OPTIMIZERS, register


@register(OPTIMIZERS, "adagrad")
class Adagrad(Optimizer):
    """Adagrad: each parameter's step divided by the root of its summed squared gradients."""

    lr: PositiveFloat = 1e-2
    initial: float = Field(0.1, ge=0.0)  # initial accumulator value
    eps: PositiveFloat = 1e-7
    hyper = ("eps",)

    def base(self, learning_rate: Any, eps: Any) -> Any:
        return optax.adagrad(learning_rate, self.initial, eps)

    def reference_base(self, learning_rate: Any) -> Any:
        return optax.chain(
            optax.add_decayed_weights(self.weight_decay),
            optax.adagrad(learning_rate, self.initial, self.eps),
        )
