"""The `relu` activation layer (formulas: grammar/README.md; definitions follow jax.nn)."""

from __future__ import annotations

from typing import Any

from dlc.compiler.layers.base import Activation
from dlc.compiler.lazy import jax
from dlc.compiler.registry import LAYERS, register


@register(LAYERS, "relu")
class Relu(Activation):
    """f(x) = max(x, 0)."""

    def fn(self, x: Any) -> Any:
        return jax.nn.relu(x)
