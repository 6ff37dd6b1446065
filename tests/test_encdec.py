"""`encoder_decoder { encoder { ... } decoder { ... } }`: equal to `seq2seq_transformer` when
built the same way, cross-attention only where an encoder output is handed down (errors at the
block's line), nested parameters, and specs/seq2seq_reverse.dl trained with greedy decoding."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

from dlc.compiler.errors import DlcError
from dlc.compiler.layers.base import Context
from dlc.compiler.layers.core import Dense
from dlc.compiler.layers.embedding import Embedding, Positional
from dlc.compiler.layers.encdec import Decoder, Encoder, EncoderDecoder
from dlc.compiler.layers.norm import LayerNorm
from dlc.compiler.layers.seq2seq import Seq2SeqTransformer
from dlc.compiler.layers.transformer import DecoderBlock, EncoderBlock
from dlc.runtime.predict.sequences import decode, exact_match
from dlc.runtime.train.model import CompiledModel

SPECS = Path(__file__).resolve().parents[1] / "specs"
D, V, L = 16, 12, 7


def _block(params: dict, prefix: str) -> dict:
    return {k.removeprefix(prefix): v for k, v in params.items() if k.startswith(prefix)}


def _mapped(p: dict) -> dict:
    """seq2seq_transformer's parameters in encoder_decoder's nested layout (its one embedding
    table copied to both sides)."""
    encoder = {
        "00_embedding": {"embedding": p["embedding"]},
        "02_encoder_block": _block(p, "enc0_"),
        "03_encoder_block": _block(p, "enc1_"),
        "04_layernorm": {"gamma": p["enc_ln_g"], "beta": p["enc_ln_b"]},
    }
    decoder = {
        "00_embedding": {"embedding": p["embedding"]},
        "02_decoder_block": _block(p, "dec0_"),
        "03_layernorm": {"gamma": p["dec_ln_g"], "beta": p["dec_ln_b"]},
        "04_dense": {"w": p["out_w"], "b": p["out_b"]},
    }
    return {"00_encoder": encoder, "01_decoder": decoder}


@pytest.mark.slow
def test_encoder_decoder_equals_seq2seq_transformer_built_the_same_way() -> None:
    """The general form with seq2seq_transformer's structure (sinusoidal positions, two
    pre-norm encoder blocks and a final layernorm; one causal cross-attending decoder block, a
    final layernorm and the vocabulary projection) computes the same logits from the same
    parameters, on token pairs with padding of different lengths."""
    s2s = Seq2SeqTransformer(dim=D, heads=2, ff=32, encoder_layers=2, decoder_layers=1, vocab=V)
    general = EncoderDecoder(
        layers=(
            Encoder(
                layers=(
                    Embedding(dim=D, vocab=V),
                    Positional(),
                    EncoderBlock(heads=2, ff=32),
                    EncoderBlock(heads=2, ff=32),
                    LayerNorm(),
                )
            ),
            Decoder(
                layers=(
                    Embedding(dim=D, vocab=V),
                    Positional(),
                    DecoderBlock(heads=2, ff=32, cross=True),
                    LayerNorm(),
                    Dense(units=V),
                )
            ),
        )
    )
    assert general.output_shape((2, L)) == s2s.output_shape((2, L)) == (L, V)
    params = s2s.init_params(jax.random.PRNGKey(0), (2, L))
    rng = np.random.default_rng(0)
    x = rng.integers(3, V, (4, 2, L))
    for b, (n_src, n_tgt) in enumerate([(7, 7), (3, 5), (5, 2), (1, 6)]):
        x[b, 0, n_src:] = 0
        x[b, 1, n_tgt:] = 0
    mask = x != 0
    want = s2s.apply(params, x, Context(mask=mask))
    got = general.apply(_mapped(params), x, Context(mask=mask))
    real = mask[:, 1]
    assert np.abs(np.asarray(got - want))[real].max() < 1e-5
    nested = jax.tree.map(np.shape, general.init_params(jax.random.PRNGKey(1), (2, L)))
    assert nested == jax.tree.map(np.shape, _mapped(params))


MODEL = """data {{ seq2seq sort digits=[3, 5] n=100 test=10 }}
model {{
  encoder_decoder {{
    encoder {{ embedding 16; {enc} }}
    decoder {{ embedding {dec_dim}; {dec}; dense 15 }}
  }}
}}
loss cross_entropy
optimizer adam
"""


@pytest.mark.parametrize(
    ("enc", "dec_dim", "dec", "line", "col", "message"),
    [
        (
            "encoder_block heads=2; decoder_block heads=2 cross=true",
            16,
            "decoder_block heads=2 cross=true",
            4,
            52,
            "has no encoder output to attend to",
        ),
        (
            "encoder_block heads=2",
            32,
            "decoder_block heads=2 cross=true",
            5,
            29,
            "cross-attention needs the same width",
        ),
        (
            "seqpool mean",
            16,
            "decoder_block heads=2 cross=true",
            4,
            5,
            "must output a sequence of vectors",
        ),
    ],
)
def test_encoder_decoder_errors_point_at_the_block(enc, dec_dim, dec, line, col, message) -> None:
    text = MODEL.format(enc=enc, dec_dim=dec_dim, dec=dec)
    with pytest.raises(DlcError) as err:
        CompiledModel.from_source(text)
    rendered = str(err.value)
    assert message in rendered, rendered
    assert f":{line}:{col}:" in rendered, rendered


def test_cross_attention_outside_a_decoder_part_is_an_error_at_its_line() -> None:
    text = (
        "data { seq2seq sort digits=[3, 5] n=100 test=10 }\nmodel {\n  embedding 16\n"
        "  decoder_block heads=2 cross=true\n  dense 15\n}\nloss cross_entropy\noptimizer adam\n"
    )
    with pytest.raises(DlcError) as err:
        CompiledModel.from_source(text)
    assert ":4:3:" in str(err.value) and "move it into `encoder_decoder" in str(err.value)


@pytest.mark.slow
def test_seq2seq_reverse_spec_decodes_held_out_strings() -> None:
    """specs/seq2seq_reverse.dl (a deeper encoder than decoder, learned positions on the
    decoder side) at a reduced size: exact match with greedy decoding on held-out inputs."""
    model = CompiledModel.from_source(
        SPECS / "seq2seq_reverse.dl", overrides=["data.seq2seq.n=12000", "train.epochs=2"]
    )
    model.fit()
    assert exact_match(model, "test") >= 0.95
    assert decode(model, ["31415", "2718"]) == ["51413", "8172"]
