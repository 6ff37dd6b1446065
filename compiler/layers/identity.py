"""The `identity` activation layer (formulas: grammar/README.md; definitions follow jax.nn)."""

from __future__ import annotations

from typing import Any

from dlc.compiler.layers.base import Activation
from dlc.compiler.registry import LAYERS, register


@register(LAYERS, "identity")
class Identity(Activation):
    """f(x) = x."""

    def fn(self, x: Any) -> Any:
        return x
