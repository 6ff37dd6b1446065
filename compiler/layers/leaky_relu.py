"""The `leaky_relu` activation layer (formulas: grammar/README.md; definitions follow jax.nn)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from dlc.compiler.layers.base import Activation
from dlc.compiler.lazy import jnp
from dlc.compiler.registry import LAYERS, register


@register(LAYERS, "leaky_relu")
class LeakyRelu(Activation):
    """f(x) = x if x >= 0 else alpha * x."""

    alpha: float = Field(0.01, ge=0)
    positional = ("alpha",)

    def fn(self, x: Any) -> Any:
        return jnp.where(x >= 0, x, self.alpha * x)
