"""The `tanh` activation layer (formulas: grammar/README.md; definitions follow jax.nn)."""

from __future__ import annotations

from typing import Any

from dlc.compiler.layers.base import Activation
from dlc.compiler.lazy import jnp
from dlc.compiler.registry import LAYERS, register


@register(LAYERS, "tanh")
class Tanh(Activation):
    """f(x) = tanh(x)."""

    def fn(self, x: Any) -> Any:
        return jnp.tanh(x)
