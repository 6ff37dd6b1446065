"""Multi-head scaled dot-product attention: the pure functions the transformer layers share, and
the `self_attention` layer.

Attention of queries Q over keys K and values V, per head, is softmax(QKᵀ/√d)V with d the head
size. A key mask (False at padding) and an optional causal mask (query t sees keys ≤ t) set the
masked scores to a large negative number, so masked keys get a weight of exactly 0: padding and
future tokens can never change what a real position outputs.

Example:
    >>> import jax.numpy as jnp
    >>> q = k = v = jnp.ones((1, 1, 3, 2))   # [batch, heads, positions, head size]
    >>> dot_product_attention(q, k, v, None).shape
    (1, 1, 3, 2)
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt

from dlc.compiler.layers.base import Context, Layer, Param, Shape, ShapeError
from dlc.compiler.lazy import jax, jnp
from dlc.compiler.registry import LAYERS, register

NEG = -1e9  # a masked score: exp(NEG - max) is exactly 0 in float32, and never NaN


def attention_mask(key_mask: Any, q_len: int, k_len: int, causal: bool) -> Any:
    """A boolean [B or 1, 1, Tq, Tk] mask (True: may attend) from a [B, Tk] key mask (or None)
    and the causal rule; None when nothing is masked."""
    mask = None
    if key_mask is not None:
        mask = key_mask.astype(bool)[:, None, None, :]
    if causal:
        tri = jnp.tril(jnp.ones((q_len, k_len), bool), k=k_len - q_len)[None, None]
        mask = tri if mask is None else mask & tri
    return mask


def dot_product_attention(q: Any, k: Any, v: Any, mask: Any) -> Any:
    """softmax(QKᵀ/√d)V for q [B, H, Tq, d], k and v [B, H, Tk, d]; `mask` broadcasts to
    [B, H, Tq, Tk] (True: may attend) or is None."""
    scores = jnp.einsum("bhqd,bhkd->bhqk", q, k) / jnp.sqrt(jnp.float32(q.shape[-1]))
    if mask is not None:
        scores = jnp.where(mask, scores, NEG)
    weights = jax.nn.softmax(scores, axis=-1)
    return jnp.einsum("bhqk,bhkd->bhqd", weights, v)


def mha_params(prefix: str, d_model: int, d_kv: int | None = None) -> dict[str, Param]:
    """Parameters of a multi-head attention: q/k/v/o projections `{prefix}q_w`, ... (weights)
    and their biases `{prefix}q_b`, ..."""
    d_kv = d_model if d_kv is None else d_kv
    declared: dict[str, Param] = {}
    for name, d_in in (("q", d_model), ("k", d_kv), ("v", d_kv), ("o", d_model)):
        declared[f"{prefix}{name}_w"] = Param((d_in, d_model), "weight")
        declared[f"{prefix}{name}_b"] = Param((d_model,), "bias")
    return declared


def multi_head_attention(
    params: dict[str, Any], prefix: str, xq: Any, xkv: Any, heads: int, mask: Any
) -> Any:
    """Project queries from `xq` [B, Tq, D] and keys/values from `xkv` [B, Tk, D'], attend per
    head, merge the heads and project back: [B, Tq, D]."""

    def proj(x: Any, name: str) -> Any:
        y = jnp.dot(x, params[f"{prefix}{name}_w"]) + params[f"{prefix}{name}_b"]
        b, t, d = y.shape
        return y.reshape(b, t, heads, d // heads).transpose(0, 2, 1, 3)

    out = dot_product_attention(proj(xq, "q"), proj(xkv, "k"), proj(xkv, "v"), mask)
    b, h, t, dh = out.shape
    out = out.transpose(0, 2, 1, 3).reshape(b, t, h * dh)
    return jnp.dot(out, params[f"{prefix}o_w"]) + params[f"{prefix}o_b"]


def check_heads(in_shape: Shape, heads: int, what: str) -> int:
    """The model width of a (positions, features) input, checked to split into `heads` heads."""
    if len(in_shape) != 2:
        raise ShapeError(
            f"{what} needs a sequence of vectors (positions, features), got {in_shape}",
            "put an `embedding` before it",
        )
    if in_shape[-1] % heads:
        raise ShapeError(
            f"{in_shape[-1]} features do not split into {heads} heads",
            f"use a width divisible by {heads}, or fewer heads",
        )
    return in_shape[-1]


@register(LAYERS, "self_attention")
class SelfAttention(Layer):
    """Multi-head self-attention over a (positions, features) input: every position attends to
    every real position (padding is masked out; with `causal` only to itself and earlier ones).
    No residual or normalization (see `encoder_block`).
    E.g. `self_attention heads=4 causal=true`."""

    heads: PositiveInt = 4
    causal: bool = False
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    positional = ("heads",)
    example = ({"heads": 2}, (5, 8))
    uses_rng = True

    def output_shape(self, in_shape: Shape) -> Shape:
        check_heads(in_shape, self.heads, "self_attention")
        return in_shape

    def params(self, in_shape: Shape) -> dict[str, Param]:
        return mha_params("", in_shape[-1])

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        mask = attention_mask(ctx.mask, x.shape[1], x.shape[1], self.causal)
        y = multi_head_attention(params, "", x, x, self.heads, mask)
        return dropout(y, self.dropout, ctx, 0)


def dropout(x: Any, rate: float, ctx: Context, salt: int) -> Any:
    """Inverted dropout in training (key: the layer's key folded with `salt`), else identity."""
    if not ctx.train or rate == 0.0 or ctx.rng is None:
        return x
    keep = jax.random.bernoulli(jax.random.fold_in(ctx.rng, salt), 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)
