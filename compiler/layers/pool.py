"""Pooling: `maxpool` and `avgpool` over sequences (length, channels) or images
(height, width, channels), chosen by the input's rank; `global_avgpool` / `global_maxpool`
reduce all spatial axes.

Lowering: a window that tiles its input (stride = size, padding valid or sizes that divide) is
a reshape and a max/mean, whose gradient is cheap; other windows use `lax.reduce_window`
(see bench/cnn_lowering.py for the difference on CPU).

Example:
    >>> MaxPool().output_shape((28, 28, 8)), MaxPool(size=3, stride=1).output_shape((10, 4))
    ((14, 14, 8), (8, 4))
    >>> GlobalAvgPool().output_shape((7, 7, 32))
    (32,)
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import model_validator

from dlc.compiler.layers.base import Context, Layer, Shape, ShapeError
from dlc.compiler.layers.conv import AXES, Sizes, pooled_length, sizes
from dlc.compiler.lazy import jax, jnp
from dlc.compiler.registry import LAYERS, register


class _Pool(Layer):
    size: Sizes = 2
    stride: Sizes | None = None
    padding: Literal["valid", "same"] = "valid"
    positional = ("size",)

    @model_validator(mode="after")
    def _lengths(self) -> _Pool:
        lengths = {len(v) for v in (self.size, self.stride) if isinstance(v, list)}
        if len(lengths) > 1 or lengths - {1, 2}:
            raise ValueError("`size` and `stride` need one entry per spatial axis (1 or 2)")
        return self

    def windows(self, in_shape: Shape) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
        """(spatial axes, window sizes, strides) for an input shape."""
        n = len(in_shape) - 1
        if n not in (1, 2):
            raise ShapeError(
                f"{self.dl_name} needs (length, channels) or (height, width, "
                f"channels) input, got {len(in_shape)} axes",
                "add `reshape [H, W, C]` before it" if n == 0 else None,
            )
        for v in (self.size, self.stride):
            if isinstance(v, list) and len(v) != n:
                raise ShapeError(f"{self.dl_name} got {len(v)} sizes for {n} spatial axes")
        k = sizes(self.size, n)
        return n, k, k if self.stride is None else sizes(self.stride, n)

    def output_shape(self, in_shape: Shape) -> Shape:
        n, k, s = self.windows(in_shape)
        out = [
            pooled_length(d, ki, si, self.padding, axis, f"pool size {ki}")
            for d, ki, si, axis in zip(in_shape[:-1], k, s, AXES[n], strict=True)
        ]
        return (*out, in_shape[-1])

    def tiles(self, in_shape: Shape) -> bool:
        """Whether the windows tile the input, so that a reshape lowers the pooling."""
        _, k, s = self.windows(in_shape)
        return k == s and (
            self.padding == "valid"
            or all(d % ki == 0 for d, ki in zip(in_shape[:-1], k, strict=True))
        )

    def blocks(self, x: Any) -> tuple[Any, tuple[int, ...]]:
        """x cropped to whole windows and reshaped to (B, o1, k1, o2, k2, C); the k axes."""
        in_shape = tuple(x.shape[1:])
        _, k, _ = self.windows(in_shape)
        out = self.output_shape(in_shape)[:-1]
        x = x[(slice(None), *(slice(0, o * ki) for o, ki in zip(out, k, strict=True)))]
        new = [x.shape[0], *(d for o, ki in zip(out, k, strict=True) for d in (o, ki)), x.shape[-1]]
        return x.reshape(new), tuple(2 + 2 * i for i in range(len(k)))

    def window_args(self, x: Any) -> tuple[tuple[int, ...], tuple[int, ...], str]:
        _, k, s = self.windows(tuple(x.shape[1:]))
        return (1, *k, 1), (1, *s, 1), self.padding.upper()


@register(LAYERS, "maxpool")
class MaxPool(_Pool):
    """The maximum over windows of `size` (one size or one per axis) moved by `stride`
    (default: the size), per channel; 1-D or 2-D by the input's rank. `padding` valid drops
    a remainder, same pads so that the output is ⌈n/stride⌉."""

    example = ({"size": 2}, (5, 4, 3))

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        if self.tiles(tuple(x.shape[1:])):
            blocks, axes = self.blocks(x)
            return jnp.max(blocks, axis=axes)
        dims, strides, padding = self.window_args(x)
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, dims, strides, padding)


@register(LAYERS, "avgpool")
class AvgPool(_Pool):
    """The mean over windows of `size` moved by `stride` (default: the size), per channel;
    1-D or 2-D by the input's rank. With padding same, edge windows average only real values."""

    example = ({"size": 3, "stride": 2, "padding": "same"}, (5, 4, 3))

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        if self.tiles(tuple(x.shape[1:])):
            blocks, axes = self.blocks(x)
            return jnp.mean(blocks, axis=axes)
        dims, strides, padding = self.window_args(x)
        total = jax.lax.reduce_window(x, 0.0, jax.lax.add, dims, strides, padding)
        if padding == "VALID":
            return total / math.prod(dims)
        ones = jnp.ones((1, *x.shape[1:-1], 1), x.dtype)
        return total / jax.lax.reduce_window(ones, 0.0, jax.lax.add, dims, strides, padding)


class _GlobalPool(Layer):
    example = ({}, (4, 3, 5))

    def output_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) < 2:
            raise ShapeError(
                f"{self.dl_name} needs spatial axes and a channel axis, got {in_shape}",
                "it goes after conv/pool layers, before dense",
            )
        return (in_shape[-1],)


@register(LAYERS, "global_avgpool")
class GlobalAvgPool(_GlobalPool):
    """The mean of each channel over all spatial axes: (H, W, C) -> (C,)."""

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        return jnp.mean(x, axis=tuple(range(1, x.ndim - 1)))


@register(LAYERS, "global_maxpool")
class GlobalMaxPool(_GlobalPool):
    """The maximum of each channel over all spatial axes: (H, W, C) -> (C,)."""

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        return jnp.max(x, axis=tuple(range(1, x.ndim - 1)))
