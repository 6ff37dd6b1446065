"""The `sigmoid` activation layer (formulas: grammar/README.md; definitions follow jax.nn)."""

from __future__ import annotations

from typing import Any

from dlc.compiler.layers.base import Activation
from dlc.compiler.lazy import jax
from dlc.compiler.registry import LAYERS, register


@register(LAYERS, "sigmoid")
class Sigmoid(Activation):
    """f(x) = 1 / (1 + exp(-x))."""

    def fn(self, x: Any) -> Any:
        return jax.nn.sigmoid(x)
