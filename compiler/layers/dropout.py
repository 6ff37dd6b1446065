"""The `dropout` layer."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from dlc.compiler.layers.base import Context, Layer
from dlc.compiler.lazy import jax, jnp
from dlc.compiler.registry import LAYERS, register


@register(LAYERS, "dropout")
class Dropout(Layer):
    """Zeroes each value with probability `rate` in training and scales the rest by 1/(1-rate);
    the identity at evaluation. Its key is derived from the seed and the step.

    Example:
        >>> x = jnp.ones((2, 3))
        >>> ctx = Context(train=True, rng=jax.random.PRNGKey(0), overrides={"rate": 0.0})
        >>> bool((Dropout(rate=0.5).apply({}, x, ctx) == x).all())
        True
    """

    rate: float = Field(ge=0.0, lt=1.0)
    positional = ("rate",)
    example = ({"rate": 0.5}, (5,))
    uses_rng = True
    traced = ("rate",)  # `ctx.overrides["rate"]`: a traced rate, one per experiment lane

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        rate = ctx.overrides.get("rate", self.rate)
        if not ctx.train or (isinstance(rate, float) and rate == 0.0):
            return x
        keep = 1.0 - rate
        mask = jax.random.bernoulli(ctx.rng, keep, x.shape)
        return jnp.where(mask, x / keep, 0.0)
