"""`seq2seq_transformer`: an encoder–decoder transformer (Vaswani et al. 2017) as one layer.

Its input is a pair of token sequences stacked as (2, L): row 0 the source, row 1 the decoder's
input (the target shifted right behind a start token: teacher forcing). The encoder reads the
source with `encoder_layers` encoder blocks; the decoder runs `decoder_layers` causal blocks that
also cross-attend to the encoder's output; a final projection gives logits over the vocabulary
for every decoder position: (L, vocab). Source and target share one vocabulary and one
embedding table (as with a shared subword vocabulary). `dlc predict` decodes greedily.

Example:
    >>> layer = Seq2SeqTransformer(dim=16, heads=2, vocab=14)
    >>> layer.output_shape((2, 9))
    (9, 14)
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveInt

from dlc.compiler.layers.base import Context, Layer, Param, Shape, ShapeError
from dlc.compiler.layers.embedding import need_vocab, sinusoid, token_ids
from dlc.compiler.layers.transformer import (
    Act,
    BlockConfig,
    Norm,
    block_apply,
    block_params,
    layer_norm,
    layer_norm_params,
)
from dlc.compiler.lazy import jnp
from dlc.compiler.registry import LAYERS, register


@register(LAYERS, "seq2seq_transformer")
class Seq2SeqTransformer(Layer):
    """Encoder–decoder transformer on a (2, L) pair of token rows (source; decoder input =
    start token + target): embedding + positions, `encoder_layers` encoder blocks,
    `decoder_layers` decoder blocks with cross-attention, then logits over the vocabulary per
    decoder position, (L, vocab). E.g. `seq2seq_transformer dim=64 heads=4 encoder_layers=2`."""

    dim: PositiveInt = 64
    heads: PositiveInt = 4
    ff: PositiveInt | None = None  # feed-forward width; default 4 × dim
    encoder_layers: PositiveInt = 2
    decoder_layers: PositiveInt = 2
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    positions: Literal["sinusoidal", "learned"] = "sinusoidal"
    norm: Norm = "pre"
    activation: Act = "gelu"
    vocab: PositiveInt | None = None
    example = (
        {
            "dim": 8,
            "heads": 2,
            "encoder_layers": 1,
            "decoder_layers": 1,
            "vocab": 11,
            "dropout": 0.1,
        },
        (2, 5),
    )
    uses_rng = True
    reads_tokens: ClassVar[bool] = True

    def output_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 2 or in_shape[0] != 2:
            raise ShapeError(
                f"seq2seq_transformer needs a (2, length) pair of token rows "
                f"(source, decoder input), got {in_shape}",
                "use the `seq2seq` data source or one that gives such pairs",
            )
        if self.dim % self.heads:
            raise ShapeError(
                f"dim={self.dim} does not split into {self.heads} heads",
                f"use a dim divisible by {self.heads}",
            )
        return (in_shape[1], need_vocab(self.vocab, "seq2seq_transformer"))

    def _cfg(self, causal: bool, cross: bool) -> BlockConfig:
        return BlockConfig(
            self.heads,
            self.ff or 4 * self.dim,
            self.dropout,
            self.norm,
            self.activation,
            causal,
            cross,
        )

    def params(self, in_shape: Shape) -> dict[str, Param]:
        vocab, d, ff = (
            need_vocab(self.vocab, "seq2seq_transformer"),
            self.dim,
            self.ff or 4 * self.dim,
        )
        declared = {
            "embedding": Param((vocab, d), "embedding"),
            "out_w": Param((d, vocab), "weight"),
            "out_b": Param((vocab,), "bias"),
        }
        if self.positions == "learned":
            declared["enc_pos"] = declared["dec_pos"] = Param((in_shape[1], d), "position")
        for i in range(self.encoder_layers):
            declared.update(block_params(f"enc{i}_", d, ff, cross=False))
        for i in range(self.decoder_layers):
            declared.update(block_params(f"dec{i}_", d, ff, cross=True))
        if self.norm == "pre":
            for ln in ("enc_ln", "dec_ln"):
                declared.update(layer_norm_params(ln, d))
        return declared

    def _embed(self, params: dict[str, Any], ids: Any, which: str) -> Any:
        h = jnp.take(params["embedding"], token_ids(ids, params["embedding"].shape[0]), axis=0)
        if self.positions == "learned":
            return h + params[f"{which}_pos"]
        return h + sinusoid(h.shape[1], h.shape[2])

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        src_mask = tgt_mask = None
        if ctx.mask is not None:
            src_mask, tgt_mask = ctx.mask[:, 0], ctx.mask[:, 1]
        memory = self._embed(params, x[:, 0], "enc")
        for i in range(self.encoder_layers):
            memory = block_apply(
                params, f"enc{i}_", memory, self._cfg(False, False), ctx, src_mask, salt=10 * i
            )
        if self.norm == "pre":
            memory = layer_norm(params, "enc_ln", memory)
        h = self._embed(params, x[:, 1], "dec")
        for i in range(self.decoder_layers):
            h = block_apply(
                params,
                f"dec{i}_",
                h,
                self._cfg(True, True),
                ctx,
                tgt_mask,
                memory,
                src_mask,
                salt=1000 + 10 * i,
            )
        if self.norm == "pre":
            h = layer_norm(params, "dec_ln", h)
        ctx.mask = tgt_mask
        return jnp.dot(h, params["out_w"]) + params["out_b"]
