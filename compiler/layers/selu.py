"""The `selu` activation layer (formulas: grammar/README.md; definitions follow jax.nn)."""

from __future__ import annotations

from typing import Any

from dlc.compiler.layers.base import Activation
from dlc.compiler.lazy import jax
from dlc.compiler.registry import LAYERS, register


@register(LAYERS, "selu")
class Selu(Activation):
    """f(x) = scale * (x if x > 0 else alpha * (exp(x) - 1)), scale ≈ 1.0507, alpha ≈ 1.6733
    (Klambauer et al. 2017); a `dense` right before it gets lecun_normal init by default."""

    def fn(self, x: Any) -> Any:
        return jax.nn.selu(x)
