"""Transformer blocks with their residual connections inside: `encoder_block` (self-attention +
feed-forward) and `decoder_block` (causal self-attention + feed-forward; inside
`seq2seq_transformer` it also cross-attends to the encoder's output).

Normalization is **pre-norm** by default (`x + f(layernorm(x))`, as in GPT-2 and most modern
transformers: it trains stably without a warm-up); `norm=post` gives the original
`layernorm(x + f(x))` of Vaswani et al. A pre-norm stack should end with a `layernorm`.

Example:
    >>> EncoderBlock(heads=2).output_shape((10, 16))
    (10, 16)
    >>> sorted(EncoderBlock(heads=2, ff=32).param_shapes((10, 16)))[:3]
    ['ff1_b', 'ff1_w', 'ff2_b']
    >>> EncoderBlock(heads=2).params((10, 16))["ln1_g"].role
    'scale'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, PositiveInt

from dlc.compiler.errors import DlcError
from dlc.compiler.layers.attention import (
    attention_mask,
    check_heads,
    dropout,
    mha_params,
    multi_head_attention,
)
from dlc.compiler.layers.base import Context, Layer, Param, Shape
from dlc.compiler.lazy import jax, jnp
from dlc.compiler.registry import LAYERS, register

Norm = Literal["pre", "post"]
Act = Literal["relu", "gelu"]


def layer_norm(params: dict[str, Any], prefix: str, x: Any, eps: float = 1e-5) -> Any:
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.var(x, axis=-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + eps) * params[f"{prefix}_g"] + params[f"{prefix}_b"]


@dataclass(frozen=True)
class BlockConfig:
    """What one transformer block needs besides its parameters."""

    heads: int
    ff: int
    dropout: float
    norm: str
    activation: str
    causal: bool
    cross: bool


def layer_norm_params(prefix: str, d: int) -> dict[str, Param]:
    """A layer norm's gain `{prefix}_g` (a scale) and offset `{prefix}_b` (a bias)."""
    return {f"{prefix}_g": Param((d,), "scale"), f"{prefix}_b": Param((d,), "bias")}


def block_params(prefix: str, d: int, ff: int, cross: bool) -> dict[str, Param]:
    """Parameters of one block, names prefixed (`{prefix}q_w`, `{prefix}ln1_g`, ...)."""
    declared = mha_params(prefix, d)
    if cross:
        declared.update(mha_params(f"{prefix}x", d))
    for ln in ("ln1", "ln2", *(("ln3",) if cross else ())):
        declared.update(layer_norm_params(f"{prefix}{ln}", d))
    declared.update(
        {
            f"{prefix}ff1_w": Param((d, ff), "weight"),
            f"{prefix}ff1_b": Param((ff,), "bias"),
            f"{prefix}ff2_w": Param((ff, d), "weight"),
            f"{prefix}ff2_b": Param((d,), "bias"),
        }
    )
    return declared


def block_apply(
    params: dict[str, Any],
    prefix: str,
    x: Any,
    cfg: BlockConfig,
    ctx: Context,
    key_mask: Any,
    memory: Any = None,
    memory_mask: Any = None,
    salt: int = 0,
) -> Any:
    """One block on x [B, T, D]: self-attention (masked by `key_mask`, causal if configured),
    then cross-attention to `memory` [B, S, D] if `cfg.cross`, then the feed-forward network;
    each sub-layer with dropout and a residual connection, pre- or post-norm."""
    t = x.shape[1]
    self_mask = attention_mask(key_mask, t, t, cfg.causal)

    def attend(h: Any) -> Any:
        return multi_head_attention(params, prefix, h, h, cfg.heads, self_mask)

    def cross(h: Any) -> Any:
        mask = attention_mask(memory_mask, t, memory.shape[1], False)
        return multi_head_attention(params, f"{prefix}x", h, memory, cfg.heads, mask)

    def ffn(h: Any) -> Any:
        h = jnp.dot(h, params[f"{prefix}ff1_w"]) + params[f"{prefix}ff1_b"]
        h = jax.nn.relu(h) if cfg.activation == "relu" else jax.nn.gelu(h, approximate=False)
        return jnp.dot(h, params[f"{prefix}ff2_w"]) + params[f"{prefix}ff2_b"]

    subs = [("ln1", attend), *([("ln3", cross)] if cfg.cross else []), ("ln2", ffn)]
    for i, (ln, fn) in enumerate(subs):
        if cfg.norm == "pre":
            x = x + dropout(fn(layer_norm(params, f"{prefix}{ln}", x)), cfg.dropout, ctx, salt + i)
        else:
            x = layer_norm(params, f"{prefix}{ln}", x + dropout(fn(x), cfg.dropout, ctx, salt + i))
    return x


class _Block(Layer):
    heads: PositiveInt = 4
    ff: PositiveInt | None = None  # feed-forward width; default 4 × the model width
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    norm: Norm = "pre"
    activation: Act = "gelu"
    positional = ("heads",)
    example = ({"heads": 2, "ff": 16, "dropout": 0.1}, (5, 8))
    uses_rng = True

    def config(self, d: int, causal: bool, cross: bool = False) -> BlockConfig:
        return BlockConfig(
            self.heads, self.ff or 4 * d, self.dropout, self.norm, self.activation, causal, cross
        )

    def output_shape(self, in_shape: Shape) -> Shape:
        check_heads(in_shape, self.heads, self.dl_name)
        return in_shape

    def params(self, in_shape: Shape) -> dict[str, Param]:
        return block_params("", in_shape[-1], self.ff or 4 * in_shape[-1], False)


@register(LAYERS, "encoder_block")
class EncoderBlock(_Block):
    """A transformer encoder block on (positions, features): multi-head self-attention over the
    real positions, then a feed-forward network (`ff` wide, default 4× the width), each with a
    residual connection, dropout and layer normalization (`norm` pre or post). E.g.
    `encoder_block heads=4 ff=256 dropout=0.1`."""

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        return block_apply(params, "", x, self.config(x.shape[-1], False), ctx, ctx.mask)


@register(LAYERS, "decoder_block")
class DecoderBlock(_Block):
    """A transformer decoder block: like `encoder_block` but its self-attention is causal
    (position t sees only positions ≤ t), so it can predict the next token. With `cross=true`
    (inside `decoder { }` of `encoder_decoder`) it also cross-attends to the encoder's output,
    between the self-attention and the feed-forward part."""

    cross: bool = False

    @property
    def needs_memory(self) -> bool:  # type: ignore[override]
        return self.cross

    def params(self, in_shape: Shape) -> dict[str, Param]:
        return block_params("", in_shape[-1], self.ff or 4 * in_shape[-1], self.cross)

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        memory, memory_mask = None, None
        if self.cross:
            if ctx.memory is None:
                raise DlcError.single(
                    "`decoder_block cross=true` has no encoder output to attend to",
                    hint="put it inside `decoder { ... }` of `encoder_decoder`",
                )
            memory, memory_mask = ctx.memory
        cfg = self.config(x.shape[-1], True, self.cross)
        return block_apply(params, "", x, cfg, ctx, ctx.mask, memory, memory_mask)
