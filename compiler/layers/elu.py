"""The `elu` activation layer (formulas: grammar/README.md; definitions follow jax.nn)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from dlc.compiler.layers.base import Activation
from dlc.compiler.lazy import jax
from dlc.compiler.registry import LAYERS, register


@register(LAYERS, "elu")
class Elu(Activation):
    """f(x) = x if x > 0 else alpha * (exp(x) - 1)."""

    alpha: float = Field(1.0, gt=0)
    positional = ("alpha",)

    def fn(self, x: Any) -> Any:
        return jax.nn.elu(x, self.alpha)
