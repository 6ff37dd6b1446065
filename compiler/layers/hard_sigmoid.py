"""The `hard_sigmoid` activation layer (formulas: grammar/README.md; definitions follow jax.nn).

Example:
    >>> import jax.numpy as jnp
    >>> HardSigmoid().fn(jnp.array([-4.0, 0.0, 4.0])).tolist()
    [0.0, 0.5, 1.0]
"""

from __future__ import annotations

from typing import Any

from dlc.compiler.layers.base import Activation
from dlc.compiler.lazy import jnp
from dlc.compiler.registry import LAYERS, register


@register(LAYERS, "hard_sigmoid")
class HardSigmoid(Activation):
    """min(max((x + 3) / 6, 0), 1), as jax.nn.hard_sigmoid, PyTorch and Keras 3."""

    def fn(self, x: Any) -> Any:
        return jnp.clip((x + 3.0) / 6.0, 0.0, 1.0)
