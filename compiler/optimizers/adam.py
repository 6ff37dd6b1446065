"""The `adam` optimizer (one registry class a module: imported when a spec names it)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveFloat

from dlc.compiler.lazy import optax
from dlc.compiler.optimizers import Optimizer
from dlc.compiler.registry import OPTIMIZERS, register


@register(OPTIMIZERS, "adam")
class Adam(Optimizer):
    """Adam (Kingma & Ba): momentum `b1` plus RMSProp-style scaling `b2`, bias-corrected."""

    b1: float = Field(0.9, ge=0.0, lt=1.0)
    b2: float = Field(0.999, ge=0.0, lt=1.0)
    eps: PositiveFloat = 1e-8
    hyper = ("b1", "b2", "eps")

    def base(self, learning_rate: Any, b1: Any, b2: Any, eps: Any) -> Any:
        return optax.adam(learning_rate, b1, b2, eps)

    def reference_base(self, learning_rate: Any) -> Any:
        return optax.chain(
            optax.add_decayed_weights(self.weight_decay),
            optax.adam(learning_rate, self.b1, self.b2, self.eps),
        )
