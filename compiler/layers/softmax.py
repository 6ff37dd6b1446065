"""The `softmax` activation layer (formulas: grammar/README.md; definitions follow jax.nn)."""

from __future__ import annotations

from typing import Any

from dlc.compiler.layers.base import Activation
from dlc.compiler.lazy import jax
from dlc.compiler.registry import LAYERS, register


@register(LAYERS, "softmax")
class Softmax(Activation):
    """f(x)_i = exp(x_i) / sum_j exp(x_j) over the last axis. Losses take logits: do not end a
    model with it before `cross_entropy`."""

    def fn(self, x: Any) -> Any:
        return jax.nn.softmax(x, axis=-1)
