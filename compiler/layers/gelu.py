"""The `gelu` activation layer (formulas: grammar/README.md; definitions follow jax.nn)."""

from __future__ import annotations

from typing import Any

from dlc.compiler.layers.base import Activation
from dlc.compiler.lazy import jax
from dlc.compiler.registry import LAYERS, register


@register(LAYERS, "gelu")
class Gelu(Activation):
    """f(x) = x * Phi(x) (Phi: the standard normal CDF; tanh approximation if
    `approximate`)."""

    approximate: bool = False

    def fn(self, x: Any) -> Any:
        return jax.nn.gelu(x, approximate=self.approximate)
