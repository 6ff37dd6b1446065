"""Token embeddings and positional encodings.

`embedding DIM` maps token ids to learned vectors. Its vocabulary size comes from the data: a
text data source (`text`, `conllu`, `seq2seq`) builds a vocabulary from its training part, and
`bind_vocab` fills `vocab=` into every layer that left it out before shapes are inferred (an
explicit `vocab=N` wins; ids ≥ N then share the last row). Token id 0 is padding: the model's
first layer reading ids makes `Program.apply` pass the mask `ids != 0` to every layer.

Example:
    >>> emb = Embedding(dim=8, vocab=100)
    >>> emb.output_shape((12,)), emb.param_count((12,))
    ((12, 8), 800)
    >>> Positional(kind="sinusoidal").output_shape((12, 8))
    (12, 8)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveInt

from dlc.compiler.layers.base import Context, Layer, Shape, ShapeError
from dlc.compiler.lazy import jax, jnp
from dlc.compiler.registry import LAYERS, register


def token_ids(x: Any, vocab: int) -> Any:
    """Ids as int32, clipped into the table (inputs may arrive as floats holding integers)."""
    return jnp.clip(x.astype(jnp.int32), 0, vocab - 1)


def embedding_init(key: Any, shape: Shape, dtype: Any = None) -> Any:
    """Normal with standard deviation 1/√dim (dim = the last axis): vectors of about unit
    length, small enough for a few training steps to move them far."""
    return jax.random.normal(key, shape, dtype or jnp.float32) * shape[-1] ** -0.5


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

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        return {"embedding": (need_vocab(self.vocab, "embedding"), self.dim)}

    def initializer(self, name: str) -> Any:
        return embedding_init

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

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        return {"pos": tuple(in_shape[-2:])} if self.kind == "learned" else {}

    def initializer(self, name: str) -> Any:
        return embedding_init

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        if self.kind == "learned":
            return x + params["pos"]
        return x + sinusoid(x.shape[-2], x.shape[-1])


def _with_vocab(layer: Any, vocab_size: int) -> Any:
    """`layer` with `vocab` filled in if unset, in the layers of its block too."""
    update: dict[str, Any] = {}
    if "vocab" in type(layer).model_fields and layer.vocab is None:
        update["vocab"] = vocab_size
    field = getattr(layer, "body_field", None)
    if field is not None:
        update[field] = tuple(_with_vocab(sub, vocab_size) for sub in getattr(layer, field))
    return layer.model_copy(update=update) if update else layer


def bind_vocab(resolved: Any, vocab_size: int | None) -> Any:
    """The resolved spec with `vocab=vocab_size` filled into every layer that has a `vocab`
    setting left unset, in blocks too (a new ResolvedSpec; the spec as written keeps its hash)."""
    if vocab_size is None:
        return resolved
    spec = resolved.spec
    layers = tuple(_with_vocab(layer, vocab_size) for layer in spec.model.layers)
    if layers == spec.model.layers:
        return resolved
    model = spec.model.model_copy(update={"layers": layers})
    return dataclasses.replace(resolved, spec=spec.model_copy(update={"model": model}))
