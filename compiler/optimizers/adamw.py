"""The `adamw` optimizer (one registry class a module: imported when a spec names it)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from dlc.compiler.lazy import optax
from dlc.compiler.optimizers.adam import Adam
from dlc.compiler.registry import OPTIMIZERS, register


@register(OPTIMIZERS, "adamw")
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter)."""

    weight_decay: float = Field(1e-4, ge=0.0)

    def _base_with_decay(self, learning_rate: Any, weight_decay: Any, **hyper: Any) -> Any:
        return optax.adamw(
            learning_rate, hyper["b1"], hyper["b2"], hyper["eps"], weight_decay=weight_decay
        )

    def reference_base(self, learning_rate: Any) -> Any:
        return optax.adamw(
            learning_rate, self.b1, self.b2, self.eps, weight_decay=self.weight_decay
        )
