"""The spec rewrite passes (compiler/passes.py), layer children (`walk_layers`) and parameter
roles: L1/L2 follow the roles that layers declare, not parameter names."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import load_spec
from dlc.compiler.layers.base import walk_layers
from dlc.compiler.layers.params import leaves
from dlc.compiler.lower import lower
from dlc.compiler.passes import (
    PASSES,
    DataFacts,
    bind_class_weights,
    bind_data,
    bind_inputs,
    bind_vocab,
    run_passes,
    selu_init,
)

SEQ2SEQ_MODEL = """encoder_decoder {
    encoder { embedding 8; positional kind=learned; encoder_block heads=2 ff=16; layernorm }
    decoder { embedding 8; decoder_block heads=2 ff=16 cross=true; layernorm; dense 15 }
  }"""


def spec(model: str, data: str = "seq2seq", extra: str = "") -> str:
    return f"data {{ {data} }}\nmodel {{ {model} }}\nloss cross_entropy\noptimizer adam\n{extra}"


def test_passes_run_in_their_declared_order_and_are_idempotent() -> None:
    assert (bind_vocab, selu_init, bind_inputs, bind_class_weights) == PASSES
    r = load_spec(spec("embedding 8; seqpool mean; dense 8; selu; dense 15"))
    once = run_passes(r.spec, DataFacts(vocab_size=15))
    assert once.model.layers[0].vocab == 15 and once.model.layers[2].init == "lecun_normal"
    assert run_passes(once, DataFacts(vocab_size=15)) is once
    assert run_passes(r.spec) is not r.spec  # selu_init needs no data facts


def test_bind_vocab_reaches_blocks_and_keeps_explicit_sizes() -> None:
    r = load_spec(
        spec(SEQ2SEQ_MODEL.replace("embedding 8; positional", "embedding 8 vocab=20; positional"))
    )
    bound = bind_data(r, DataFacts(vocab_size=15))
    vocabs = [
        layer.vocab
        for layer in walk_layers(bound.spec.model.layers)
        if "vocab" in type(layer).model_fields
    ]
    assert vocabs == [20, 15]
    assert bind_data(r, DataFacts()) is r


def test_walk_layers_visits_every_nested_layer_depth_first() -> None:
    r = load_spec(spec(SEQ2SEQ_MODEL))
    names = [layer.dl_name for layer in walk_layers(r.spec.model.layers)]
    assert names == [
        "encoder_decoder", "encoder", "embedding", "positional", "encoder_block", "layernorm",
        "decoder", "embedding", "decoder_block", "layernorm", "dense",
    ]  # fmt: skip


def _by_old_names(params: dict) -> list:
    """What L1/L2 summed before roles: arrays named w/kernel/embedding or `*_w`."""
    out = []
    for path, w in jax.tree_util.tree_leaves_with_path(params):
        name = path[-1].key
        if name in ("w", "kernel", "embedding") or name.endswith("_w"):
            out.append(w)
    return out


@pytest.mark.parametrize(
    ("model", "data", "shape"),
    [
        (SEQ2SEQ_MODEL, "seq2seq", (2, 6)),
        ("seq2seq_transformer dim=8 heads=2 ff=16 positions=learned", "seq2seq", (2, 6)),
        (
            "embedding 8; positional kind=learned; class_token; encoder_block heads=2 ff=16; "
            "layernorm; seqpool first; batchnorm; residual projection=linear { dense 4 }; dense 15",
            "seq2seq",
            (6,),
        ),
    ],
)
def test_penalty_follows_declared_roles_as_the_names_did(model, data, shape) -> None:
    prog = lower(
        bind_data(
            load_spec(spec(model, data, "regularize l1=0.01 l2=0.001\n")), DataFacts(15)
        ).spec,
        shape,
        1,
    )
    params, _ = prog.init(jax.random.PRNGKey(0))
    params = jax.tree.map(lambda a: a + 0.5, params)  # biases, scales away from 0/1
    want = sum(
        0.01 * np.abs(np.asarray(w, np.float64)).sum()
        + 0.001 * (np.asarray(w, np.float64) ** 2).sum()
        for w in _by_old_names(params)
    )
    assert float(prog.penalty(params)) == pytest.approx(want, rel=1e-5)
    roles = {p.role for layer, info in prog.pairs() for _, p in leaves(layer.params(info.in_shape))}
    assert {"weight", "bias", "scale"} <= roles


def test_learned_positions_and_class_tokens_are_not_penalized() -> None:
    r = load_spec(
        spec(
            "embedding 8; positional kind=learned; class_token; seqpool first; dense 15",
            extra="regularize l2=1.0\n",
        )
    )
    prog = lower(bind_data(r, DataFacts(15)).spec, (6,), 1)
    params, _ = prog.init(jax.random.PRNGKey(0))
    zeroed = {
        k: {n: jnp.zeros_like(v) if n in ("embedding", "w") else v for n, v in p.items()}
        for k, p in params.items()
    }
    assert float(prog.penalty(zeroed)) == 0.0


def test_an_explicit_vocab_smaller_than_the_datas_is_an_error() -> None:
    r = load_spec(
        spec(SEQ2SEQ_MODEL.replace("embedding 8; positional", "embedding 8 vocab=9; positional"))
    )
    with pytest.raises(DlcError, match="vocab=9 but the data's token ids go up to 14"):
        bind_data(r, DataFacts(vocab_size=15))
