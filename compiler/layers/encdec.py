"""The general encoder–decoder form: `encoder_decoder { encoder { ... } decoder { ... } }`.

    model {
      encoder_decoder {
        encoder { embedding 64; positional; encoder_block heads=4; layernorm }
        decoder { embedding 64; positional; decoder_block heads=4 cross=true; layernorm; dense 15 }
      }
    }

Its input is a (2, L) pair of token rows (source; start token + target). The encoder's layers
read the source row, the decoder's layers the target row; every `decoder_block cross=true` in
the decoder cross-attends to the encoder's output (its padding masked). Any layers may go in
either block, so the embeddings, positions, depths and widths of the two sides are free; the
encoder's output width must equal the width at the decoder's cross-attending blocks. Parameters
nest as `00_encoder_decoder` -> `00_encoder` -> `00_embedding` -> `embedding`.

Example:
    >>> from dlc.compiler.layers.core import Dense
    >>> from dlc.compiler.layers.embedding import Embedding
    >>> from dlc.compiler.layers.transformer import DecoderBlock, EncoderBlock
    >>> enc = Encoder(layers=(Embedding(dim=8, vocab=12), EncoderBlock(heads=2)))
    >>> dec = Decoder(layers=(Embedding(dim=8, vocab=12), DecoderBlock(heads=2, cross=True),
    ...                       Dense(units=12)))
    >>> EncoderDecoder(layers=(enc, dec)).output_shape((2, 7))
    (7, 12)
"""

from __future__ import annotations

from typing import Any, ClassVar

from dlc.compiler.layers.base import Context, Shape, ShapeError
from dlc.compiler.layers.core import Dense
from dlc.compiler.layers.embedding import Embedding
from dlc.compiler.layers.group import Group, inner_error
from dlc.compiler.layers.params import ParamTree
from dlc.compiler.layers.transformer import DecoderBlock, EncoderBlock
from dlc.compiler.lazy import jax
from dlc.compiler.registry import LAYERS, register


class _Part(Group):
    """A part of `encoder_decoder`: its input is token ids when its first layer reads them."""

    @property
    def reads_tokens(self) -> bool:  # type: ignore[override]
        return self.layers[0].reads_tokens


@register(LAYERS, "encoder")
class Encoder(_Part):
    """The encoder part of `encoder_decoder`: its layers read the source tokens; their output is
    what the decoder cross-attends to. (Alone, a plain block of layers applied in order.)"""

    example = ({"layers": (Embedding(dim=8, vocab=11), EncoderBlock(heads=2, ff=16))}, (5,))


@register(LAYERS, "decoder")
class Decoder(_Part):
    """The decoder part of `encoder_decoder`: its layers read the decoder's input tokens (start
    token + target); its `decoder_block cross=true` layers cross-attend to the encoder's output.
    It ends with logits over the vocabulary, e.g. `dense 15`."""

    example = (
        {"layers": (Embedding(dim=8, vocab=11), DecoderBlock(heads=2, ff=16), Dense(units=11))},
        (5,),
    )


@register(LAYERS, "encoder_decoder")
class EncoderDecoder(Group):
    """An encoder–decoder (seq2seq) model on a (2, L) pair of token rows: `encoder { ... }` reads
    the source, `decoder { ... }` the decoder's input and cross-attends to the encoder's output
    with `decoder_block cross=true`; outputs the decoder's (L, vocab) logits."""

    example = (
        {
            "layers": (
                Encoder.model_validate(Encoder.example[0]),
                Decoder.model_validate(Decoder.example[0]),
            )
        },
        (2, 5),
    )

    memory_parts: ClassVar[tuple[bool, ...]] = (False, True)  # the decoder cross-attends

    @property
    def reads_tokens(self) -> bool:  # type: ignore[override]
        return True

    def child_input_shapes(self, in_shape: Shape) -> list[Shape]:
        """Both parts read one row of the pair: (L,)."""
        return [tuple(in_shape[1:])] * 2

    def _parts(self, in_shape: Shape) -> tuple[Group, Group, Shape]:
        if len(in_shape) != 2 or in_shape[0] != 2:
            raise ShapeError(
                f"encoder_decoder needs a (2, length) pair of token rows (source, "
                f"decoder input), got {in_shape}",
                "use the `seq2seq` data source",
            )
        if (
            len(self.layers) != 2
            or not isinstance(self.layers[0], Encoder)
            or not isinstance(self.layers[1], Decoder)
        ):
            raise ShapeError(
                "encoder_decoder holds an `encoder { ... }` and then a "
                "`decoder { ... }`, nothing else",
                "write `encoder_decoder { encoder { ... } decoder { ... } }`",
            )
        return self.layers[0], self.layers[1], (in_shape[1],)

    def output_shape(self, in_shape: Shape) -> Shape:
        enc, dec, row = self._parts(in_shape)
        try:
            memory = enc.output_shape(row)
        except ShapeError as err:
            raise inner_error(err, enc, row, "layers.0") from None
        try:
            shapes = dec.inner_shapes(row)
        except ShapeError as err:
            raise inner_error(err, dec, row, "layers.1") from None
        for i, (layer, shape) in enumerate(zip(dec.layers, shapes, strict=False)):
            if layer.needs_memory and shape[-1:] != memory[-1:]:
                raise ShapeError(
                    f"the encoder outputs {memory} but `decoder_block cross=true` works on width "
                    f"{shape[-1]}: cross-attention needs the same width",
                    "give the encoder and the decoder the same embedding dim",
                    f"layers.1.layers.{i}",
                )
        if len(memory) != 2:
            raise ShapeError(
                f"the encoder must output a sequence of vectors, got {memory}",
                "end the encoder with transformer blocks, not a pooling",
                "layers.0",
            )
        return shapes[-1]

    def params(self, in_shape: Shape) -> ParamTree:
        enc, dec, row = self._parts(in_shape)
        return {"00_encoder": enc.params(row), "01_decoder": dec.params(row)}

    def init_params(self, key: Any, in_shape: Shape) -> dict[str, Any]:
        enc, dec, row = self._parts(in_shape)
        k0, k1 = jax.random.split(key)
        return {"00_encoder": enc.init_params(k0, row), "01_decoder": dec.init_params(k1, row)}

    def init_state(self, in_shape: Shape) -> dict[str, Any]:
        enc, dec, row = self._parts(in_shape)
        out = {"00_encoder": enc.init_state(row), "01_decoder": dec.init_state(row)}
        return {k: v for k, v in out.items() if v}

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        enc, dec = self.layers
        masks = (None, None) if ctx.mask is None else (ctx.mask[:, 0], ctx.mask[:, 1])
        sub = []
        for i, (name, row) in enumerate((("00_encoder", 0), ("01_decoder", 1))):
            sub.append(
                Context(
                    train=ctx.train,
                    state=ctx.state.get(name, {}),
                    mask=masks[row],
                    rng=None if ctx.rng is None else jax.random.fold_in(ctx.rng, i),
                )
            )
        memory = enc.apply(params.get("00_encoder", {}), x[:, 0], sub[0])
        sub[1].memory = (memory, sub[0].mask)
        out = dec.apply(params.get("01_decoder", {}), x[:, 1], sub[1])
        ctx.mask = sub[1].mask
        states = {
            n: c.new_state
            for n, c in zip(("00_encoder", "01_decoder"), sub, strict=True)
            if c.new_state is not None
        }
        if states:
            ctx.new_state = {**ctx.state, **states}
        return out
