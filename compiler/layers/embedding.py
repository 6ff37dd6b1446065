"""Token embeddings and positional encodings.

`embedding DIM` maps token ids to learned vectors. Its vocabulary size comes from the data: a
text data source (`text`, `conllu`, `seq2seq`) builds a vocabulary from its training part, and
the `bind_vocab` pass (`compiler/passes.py`) fills `vocab=` into every layer that left it out
before shapes are inferred (an explicit `vocab=N` wins; smaller than the data's vocabulary it
is an error, since larger ids would share the last row).
Token id 0 is padding: the model's first layer reading ids makes `Program.apply` pass the mask
`ids != 0` to every layer.

Example:
    >>> emb = Embedding(dim=8, vocab=100)
    >>> emb.output_shape((12,)), emb.param_count((12,))
    ((12, 8), 800)
    >>> Positional(kind="sinusoidal").output_shape((12, 8))
    (12, 8)
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveInt

from dlc.compiler.layers.base import Context, Layer, Param, Shape, ShapeError
from dlc.compiler.lazy import jax, jnp
from dlc.compiler.registry import LAYERS, register


def token_ids(x: Any, vocab: int) -> Any:
    """Ids as int32, clipped into the table (inputs may arrive as floats holding integers)."""
    return jnp.clip(x.astype(jnp.int32), 0, vocab - 1)


def need_vocab(vocab: int | None, what: str) -> int:
    if vocab is None:
        raise ShapeError(
            f"{what} needs a vocabulary size and the data has no vocabulary",
            f"use a text data source (`text`, `conllu`, `seq2seq`) or write `{what} ... vocab=N`",
        )
    return vocab


@register(LAYERS, "embedding")
class Embedding(Layer):
    """Token ids -> learned vectors of size `dim`: (positions,) -> (positions, dim). With several
    ids per position, (positions, features) (a word and its suffixes/shape), their vectors are
    summed. `vocab` defaults to the data's vocabulary size; id 0 is padding, and the layers after
    it see the padding mask. E.g. `embedding 64`."""

    dim: PositiveInt
    vocab: PositiveInt | None = None
    positional = ("dim",)
    example = ({"dim": 8, "vocab": 20}, (6,))
    reads_tokens: ClassVar[bool] = True

    def output_shape(self, in_shape: Shape) -> Shape:
        need_vocab(self.vocab, "embedding")
        if len(in_shape) not in (1, 2):
            raise ShapeError(
                f"embedding needs token ids (positions,) or (positions, features), got {in_shape}",
                "use a text data source",
            )
        return (in_shape[0], self.dim)

    def params(self, in_shape: Shape) -> dict[str, Param]:
        return {"embedding": Param((need_vocab(self.vocab, "embedding"), self.dim), "embedding")}

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        table = params["embedding"]
        h = jnp.take(table, token_ids(x, table.shape[0]), axis=0)
        if x.ndim == 3:  # several ids per position: sum their vectors; the word id masks
            h = jnp.sum(h, axis=2)
            ctx.mask = None if ctx.mask is None else ctx.mask[..., 0]
        return h


@register(LAYERS, "token_dropout")
class TokenDropout(Layer):
    """In training, replaces each real token id by the unknown id (1) with probability `rate`
    (with several ids per position, only the first: the word), so that the model learns what
    to do with words it has never seen; the identity at evaluation. Put it before `embedding`.
    E.g. `token_dropout 0.1`."""

    rate: float = Field(ge=0.0, lt=1.0)
    positional = ("rate",)
    example = ({"rate": 0.2}, (6,))
    uses_rng = True
    reads_tokens: ClassVar[bool] = True

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        if not ctx.train or self.rate == 0.0:
            return x
        word = x[..., 0] if x.ndim == 3 else x
        hit = jax.random.bernoulli(ctx.rng, self.rate, word.shape) & (word != 0)
        word = jnp.where(hit, jnp.ones_like(word), word)
        return x.at[..., 0].set(word) if x.ndim == 3 else word


def sinusoid(length: int, dim: int) -> Any:
    """The fixed encoding of Vaswani et al.: PE[t, 2i] = sin(t / 10000^(2i/dim)),
    PE[t, 2i+1] = cos(t / 10000^(2i/dim)); [length, dim]."""
    pos = jnp.arange(length, dtype=jnp.float32)[:, None]
    freq = jnp.exp(-math.log(10000.0) * jnp.arange(0, dim, 2, dtype=jnp.float32) / dim)
    angles = pos * freq[None, :]
    pe = jnp.stack([jnp.sin(angles), jnp.cos(angles)], axis=-1).reshape(length, -1)
    return pe[:, :dim]


@register(LAYERS, "positional")
class Positional(Layer):
    """Adds a position encoding to a (positions, features) input: `sinusoidal` (fixed sines and
    cosines of geometric frequencies, Vaswani et al. 2017) or `learned` (one trained vector per
    position). E.g. `positional learned`."""

    kind: Literal["sinusoidal", "learned"] = "sinusoidal"
    positional = ("kind",)
    example = ({"kind": "learned"}, (6, 4))

    def output_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) < 2:
            raise ShapeError(
                f"positional needs (positions, features), got {in_shape}",
                "put an `embedding` before it",
            )
        return in_shape

    def params(self, in_shape: Shape) -> dict[str, Param]:
        return {"pos": Param(tuple(in_shape[-2:]), "position")} if self.kind == "learned" else {}

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        if self.kind == "learned":
            return x + params["pos"]
        return x + sinusoid(x.shape[-2], x.shape[-1])
