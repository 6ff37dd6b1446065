"""Batch normalization (running statistics at evaluation) and layer normalization.

Example:
    >>> BatchNorm().param_shapes((16,))
    {'gamma': (16,), 'beta': (16,)}
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from dlc.compiler.layers.base import Context, Layer, Param, Shape
from dlc.compiler.lazy import jnp
from dlc.compiler.registry import LAYERS, register


class _Affine(Layer):
    def params(self, in_shape: Shape) -> dict[str, Param]:
        return {"gamma": Param((in_shape[-1],), "scale"), "beta": Param((in_shape[-1],), "bias")}


@register(LAYERS, "batchnorm")
class BatchNorm(_Affine):
    """Normalizes each feature over the batch (and any spatial axes) in training, updating
    running mean/var as `m <- momentum*m + (1-momentum)*batch`; uses the running values at
    evaluation."""

    momentum: float = Field(0.99, ge=0.0, lt=1.0)
    eps: float = Field(1e-5, gt=0.0)
    has_state = True

    def init_state(self, in_shape: Shape) -> dict[str, Any]:
        return {"mean": jnp.zeros((in_shape[-1],)), "var": jnp.ones((in_shape[-1],))}

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        if ctx.train:
            axes = tuple(range(x.ndim - 1))
            mean, var = jnp.mean(x, axis=axes), jnp.var(x, axis=axes)
            m = self.momentum
            ctx.new_state = {
                "mean": m * ctx.state["mean"] + (1 - m) * mean,
                "var": m * ctx.state["var"] + (1 - m) * var,
            }
        else:
            mean, var = ctx.state["mean"], ctx.state["var"]
        return (x - mean) / jnp.sqrt(var + self.eps) * params["gamma"] + params["beta"]


@register(LAYERS, "layernorm")
class LayerNorm(_Affine):
    """Normalizes each example over its last axis; the same in training and evaluation."""

    eps: float = Field(1e-5, gt=0.0)

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        mean = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.var(x, axis=-1, keepdims=True)
        return (x - mean) / jnp.sqrt(var + self.eps) * params["gamma"] + params["beta"]
