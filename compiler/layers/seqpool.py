"""From a sequence of vectors to one vector: `seqpool` (mean or max over the real positions, or
the first position) and `class_token` (a learned vector put in front of the sequence, which the
attention layers fill with what the classifier needs; `seqpool first` then reads it).

Example:
    >>> SeqPool().output_shape((20, 64)), ClassToken().output_shape((20, 64))
    ((64,), (21, 64))
"""

from __future__ import annotations

from typing import Any, Literal

from dlc.compiler.layers.base import Context, Layer, Param, Shape, ShapeError
from dlc.compiler.lazy import jnp
from dlc.compiler.registry import LAYERS, register


def _need_sequence(in_shape: Shape, what: str) -> None:
    if len(in_shape) != 2:
        raise ShapeError(
            f"{what} needs a sequence of vectors (positions, features), got {in_shape}",
            "put an `embedding` before it",
        )


@register(LAYERS, "seqpool")
class SeqPool(Layer):
    """(positions, features) -> (features): `mean` (average over the real positions; padding is
    left out), `max` (largest value over the real positions) or `first` (the vector at position
    0, e.g. after `class_token`). The layers after it see no mask. E.g. `seqpool mean`."""

    method: Literal["mean", "max", "first"] = "mean"
    positional = ("method",)
    example = ({"method": "mean"}, (6, 4))

    def output_shape(self, in_shape: Shape) -> Shape:
        _need_sequence(in_shape, "seqpool")
        return in_shape[1:]

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        mask = ctx.mask
        ctx.mask = None
        if self.method == "first":
            return x[:, 0]
        m = (jnp.ones(x.shape[:2], bool) if mask is None else mask.astype(bool))[..., None]
        if self.method == "max":
            return jnp.max(jnp.where(m, x, -jnp.inf), axis=1, initial=-1e30)
        return jnp.sum(jnp.where(m, x, 0.0), axis=1) / jnp.maximum(jnp.sum(m, axis=1), 1)


@register(LAYERS, "class_token")
class ClassToken(Layer):
    """Puts a learned vector (a "[CLS]" token) in front of a (positions, features) sequence; it
    is never padding. Read it out after the attention layers with `seqpool first`."""

    example = ({}, (6, 4))

    def output_shape(self, in_shape: Shape) -> Shape:
        _need_sequence(in_shape, "class_token")
        return (in_shape[0] + 1, in_shape[1])

    def params(self, in_shape: Shape) -> dict[str, Param]:
        return {"cls": Param((in_shape[-1],), "token")}

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        if ctx.mask is not None:
            ctx.mask = jnp.concatenate(
                [jnp.ones((x.shape[0], 1), bool), ctx.mask.astype(bool)], axis=1
            )
        cls = jnp.broadcast_to(params["cls"], (x.shape[0], 1, x.shape[-1]))
        return jnp.concatenate([cls.astype(x.dtype), x], axis=1)
