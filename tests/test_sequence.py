"""Sequence layers and token data: attention equals its formula, padding and the future never
leak into real positions, masked per-token losses, vocabularies from the training part only,
the CoNLL-U reader, rule-defined seq2seq data and greedy decoding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import load_spec
from dlc.compiler.layers.attention import SelfAttention
from dlc.compiler.layers.base import Context
from dlc.compiler.layers.embedding import Embedding, TokenDropout
from dlc.compiler.layers.seqpool import ClassToken, SeqPool
from dlc.compiler.losses import CrossEntropy
from dlc.compiler.lower import lower
from dlc.runtime.data.prepare import prepare
from dlc.runtime.data.seqtasks import encode_pairs, make_task, solve, task_vocab
from dlc.runtime.data.text import UNK, Vocab, read_conllu, tokenize
from dlc.runtime.predict.sequences import greedy_decode

KEY = jax.random.PRNGKey(0)


def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _reference_attention(p: dict, x: np.ndarray, heads: int, keep: np.ndarray) -> np.ndarray:
    """softmax(QKᵀ/√d)V per head over the kept keys, written out with numpy."""
    p = {k: np.asarray(v, np.float64) for k, v in p.items()}
    x = np.asarray(x, np.float64)
    q, k, v = (x @ p[f"{n}_w"] + p[f"{n}_b"] for n in "qkv")
    d = x.shape[-1] // heads
    out = np.zeros_like(q)
    for b in range(x.shape[0]):
        for h in range(heads):
            sl = slice(h * d, (h + 1) * d)
            kk, vv = k[b, keep[b], sl], v[b, keep[b], sl]
            out[b, :, sl] = _softmax(q[b, :, sl] @ kk.T / np.sqrt(d)) @ vv
    return out @ p["o_w"] + p["o_b"]


def test_attention_equals_hand_written_formula() -> None:
    layer = SelfAttention(heads=2)
    params = layer.init_params(KEY, (4, 6))
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 4, 6))
    y = layer.apply(params, x, Context())
    ref = _reference_attention(params, x, 2, np.ones((2, 4), bool))
    np.testing.assert_allclose(y, ref, atol=1e-5)


def test_masked_attention_equals_formula_over_real_keys() -> None:
    layer = SelfAttention(heads=3)
    params = layer.init_params(KEY, (5, 6))
    x = jax.random.normal(jax.random.PRNGKey(2), (2, 5, 6))
    keep = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], bool)
    y = layer.apply(params, x, Context(mask=jnp.asarray(keep)))
    ref = _reference_attention(params, x, 3, keep)
    np.testing.assert_allclose(np.asarray(y)[keep], ref[keep], atol=1e-5)


def test_changing_padded_values_leaves_real_positions_unchanged() -> None:
    keep = jnp.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 0]], bool)
    x = jax.random.normal(jax.random.PRNGKey(3), (2, 5, 8))
    noise = jax.random.normal(jax.random.PRNGKey(4), x.shape) * 100
    x2 = jnp.where(keep[..., None], x, noise)
    for layer, shape in (
        (SelfAttention(heads=2), (5, 8)),
        (SeqPool(method="mean"), (5, 8)),
        (SeqPool(method="max"), (5, 8)),
    ):
        params = layer.init_params(KEY, shape)
        y1 = layer.apply(params, x, Context(mask=keep))
        y2 = layer.apply(params, x2, Context(mask=keep))
        if y1.ndim == 3:
            y1, y2 = y1[keep], y2[keep]
        np.testing.assert_allclose(y1, y2, atol=1e-5, err_msg=layer.dl_name)


MODEL = """
data { digits }
model {
  embedding 16 vocab=30
  positional
  encoder_block heads=2 ff=32
  self_attention heads=4
  decoder_block heads=2 norm=post
  layernorm
  dense 5
}
loss cross_entropy
optimizer adam
"""


def _program(model: str, length: int):
    prog = lower(load_spec(model).spec, (length,), 1)
    params, state = prog.init(KEY)
    return prog, params, state


@pytest.mark.slow
def test_padding_tokens_and_amount_never_change_real_outputs() -> None:
    prog, params, state = _program(MODEL, 8)
    tokens = jnp.array([[5, 9, 3, 0, 0, 0, 0, 0], [7, 2, 2, 8, 11, 0, 0, 0]])
    out, _ = prog.apply(params, state, tokens, train=False)
    # a different padding vector (the embedding of id 0) changes nothing at real positions
    params2 = jax.tree.map(lambda a: a, params)
    params2["00_embedding"]["embedding"] = params["00_embedding"]["embedding"].at[0].set(50.0)
    out2, _ = prog.apply(params2, state, tokens, train=False)
    real = np.asarray(tokens != 0)
    np.testing.assert_allclose(np.asarray(out)[real], np.asarray(out2)[real], atol=1e-4)
    assert not np.allclose(np.asarray(out)[~real], np.asarray(out2)[~real])
    # nor does the amount of padding (sinusoidal positions do not depend on the length)
    prog12, _, _ = _program(MODEL, 12)
    long = jnp.pad(tokens, ((0, 0), (0, 4)))
    out3, _ = prog12.apply(params, state, long, train=False)
    np.testing.assert_allclose(np.asarray(out)[real], np.asarray(out3)[:, :8][real], atol=1e-4)


CAUSAL = MODEL.replace("  encoder_block heads=2 ff=32\n", "").replace(
    "self_attention heads=4", "self_attention heads=4 causal=true"
)


@pytest.mark.slow
def test_causal_layers_leak_nothing_from_the_future() -> None:
    prog, params, state = _program(CAUSAL, 6)
    a = jnp.array([[4, 8, 15, 16, 23, 29]])
    for t in range(5):
        b = a.at[0, t + 1 :].set(jnp.arange(1, 6 - t) + 2)
        ya, _ = prog.apply(params, state, a, train=False)
        yb, _ = prog.apply(params, state, b, train=False)
        np.testing.assert_allclose(ya[0, : t + 1], yb[0, : t + 1], atol=1e-5)
        assert not np.allclose(ya[0, t + 1 :], yb[0, t + 1 :])


SEQ2SEQ = """
data { seq2seq reverse digits=[2, 4] n=100 test=10 }
model { seq2seq_transformer dim=16 heads=2 ff=32 encoder_layers=1 decoder_layers=2 vocab=15 }
loss cross_entropy
optimizer adam
"""


def test_seq2seq_decoder_is_causal_and_ignores_source_padding() -> None:
    prog = lower(load_spec(SEQ2SEQ).spec, (2, 6), 1)
    params, state = prog.init(KEY)
    x = jnp.array([[[5, 6, 7, 0, 0, 0], [2, 7, 6, 5, 0, 0]]])
    y, _ = prog.apply(params, state, x, train=False)
    assert y.shape == (1, 6, 15)
    future = x.at[0, 1, 2:].set(9)
    y2, _ = prog.apply(params, state, future, train=False)
    np.testing.assert_allclose(y[0, :2], y2[0, :2], atol=1e-5)
    params2 = jax.tree.map(lambda a: a, params)
    params2["00_seq2seq_transformer"]["embedding"] = (
        params["00_seq2seq_transformer"]["embedding"].at[0].set(30.0)
    )
    y3, _ = prog.apply(params2, state, x, train=False)
    np.testing.assert_allclose(y[0, :4], y3[0, :4], atol=1e-4)  # decoder's real positions


def test_seqpool_mean_and_class_token() -> None:
    x = jnp.arange(24, dtype=jnp.float32).reshape(1, 4, 6)
    mask = jnp.array([[1, 1, 0, 0]], bool)
    ctx = Context(mask=mask)
    y = SeqPool(method="mean").apply({}, x, ctx)
    np.testing.assert_allclose(y[0], x[0, :2].mean(0))
    assert ctx.mask is None
    layer = ClassToken()
    params = layer.init_params(KEY, (4, 6))
    ctx = Context(mask=mask)
    z = layer.apply(params, x, ctx)
    assert z.shape == (1, 5, 6) and ctx.mask.tolist() == [[True, True, True, False, False]]
    np.testing.assert_allclose(SeqPool(method="first").apply({}, z, Context())[0], params["cls"])


def test_masked_per_token_cross_entropy_and_accuracy() -> None:
    logits = jax.random.normal(KEY, (2, 4, 3))
    y = jnp.array([[0, 2, -1, -1], [1, 1, 0, -1]])
    loss = CrossEntropy()
    per = loss.per_example(logits, y)
    ref = -jax.nn.log_softmax(logits)[jnp.arange(2)[:, None], jnp.arange(4), jnp.maximum(y, 0)]
    np.testing.assert_allclose(per, jnp.where(y >= 0, ref, 0.0), atol=1e-6)
    assert loss.metrics(logits, y)["accuracy"].shape == (2, 4)
    loss.check_output((4, 3), (4,), 3)  # a label per position is accepted


@pytest.mark.slow
def test_evaluate_counts_real_tokens_only(tmp_path) -> None:
    from dlc.runtime.train.step import make_functions

    prog = lower(load_spec(MODEL.replace("dense 5", "dense 3")).spec, (4,), 1)
    params, state = prog.init(KEY)
    x = jnp.array([[3, 4, 0, 0], [5, 6, 7, 0]])
    y = jnp.array([[0, 1, -1, -1], [2, 2, 1, -1]])
    fns = make_functions(prog, 2, 2)
    ev = fns.evaluate(params, state, x, y)
    out, _ = prog.apply(params, state, x, train=False)
    right = np.asarray(jnp.argmax(out, -1) == y)[np.asarray(y >= 0)]
    assert float(ev["accuracy"]) == pytest.approx(right.mean())
    per = np.asarray(CrossEntropy().per_example(out, y))[np.asarray(y >= 0)]
    assert float(ev["loss"]) == pytest.approx(per.mean(), rel=1e-5)


@pytest.mark.slow
def test_token_dropout_and_feature_embeddings() -> None:
    x = jnp.array([[[5, 7, 9], [6, 8, 9], [0, 0, 0]]])
    drop = TokenDropout(rate=0.99)
    assert (drop.apply({}, x, Context()) == x).all()
    y = drop.apply({}, x, Context(train=True, rng=KEY))
    assert y[0, :2, 0].tolist() == [1, 1] and (y[..., 1:] == x[..., 1:]).all()
    assert (y[0, 2] == 0).all()  # padding stays padding
    emb = Embedding(dim=4, vocab=10)
    params = emb.init_params(KEY, (3, 3))
    ctx = Context(mask=x != 0)
    h = emb.apply(params, x, ctx)
    np.testing.assert_allclose(h[0, 0], params["embedding"][jnp.array([5, 7, 9])].sum(0), atol=1e-6)
    assert emb.output_shape((3, 3)) == (3, 4) and ctx.mask.tolist() == [[True, True, False]]


CONLLU = """# sent_id = 1
# text = Don't go.
1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tDo\tdo\tAUX\t_\t_\t3\taux\t_\t_
2\tn't\tnot\tPART\t_\t_\t3\tadvmod\t_\t_
3\tgo\tgo\tVERB\t_\t_\t0\troot\t_\t_
3.1\tgone\tgo\tVERB\t_\t_\t_\t_\t_\t_
4\t.\t.\tPUNCT\t_\t_\t3\tpunct\t_\t_

1\tHello\thello\tINTJ\t_\t_\t0\troot\t_\t_
"""


def test_conllu_reader_skips_comments_ranges_and_empty_nodes(tmp_path) -> None:
    path = tmp_path / "a.conllu"
    path.write_text(CONLLU)
    assert read_conllu(path) == [
        (["Do", "n't", "go", "."], ["AUX", "PART", "VERB", "PUNCT"]),
        (["Hello"], ["INTJ"]),
    ]


def test_vocabulary_comes_from_the_training_part_only(tmp_path) -> None:
    (tmp_path / "train.txt").write_text("a good film\t1\nbad bad plot\t0\ngood plot\t1\n")
    (tmp_path / "test.txt").write_text("a splendid film\t1\n")
    spec = (
        'data { text "train.txt" test="test.txt" length=5\nsplit valid=0 }\n'
        "model { embedding 4\nseqpool\ndense 2 }\nloss cross_entropy\noptimizer adam\n"
    )
    data = prepare(load_spec(spec, base_dir=tmp_path))
    vocab = data.vocab
    assert "splendid" not in vocab.tokens and "good" in vocab.tokens
    test_ids = data.parts["test"][0][0].tolist()
    assert test_ids == [vocab.index["a"], vocab.index[UNK], vocab.index["film"], 0, 0]
    assert data.vocab_size == len(vocab) and data.input_shape == (5,)


def test_vocab_build_min_count_and_round_trip(tmp_path) -> None:
    v = Vocab.build([tokenize("x y y z z z")], min_count=2)
    assert v.tokens == ("<pad>", "<unk>", "z", "y")
    v.save(tmp_path / "v.json")
    assert Vocab.load(tmp_path / "v.json") == v
    assert v.decode(v.encode(["z", "x"])) == ["z", UNK]


def test_embedding_without_vocabulary_is_an_error_at_its_line() -> None:
    from dlc.runtime.train.model import CompiledModel

    with pytest.raises(DlcError) as err:
        CompiledModel.from_source(
            "data { digits }\nmodel {\n  embedding 8\n  dense 10\n}\n"
            "loss cross_entropy\noptimizer adam\n"
        )
    assert ":3:" in err.value.render() and "vocabulary" in err.value.render()


@pytest.mark.parametrize("task", ["reverse", "sort", "add"])
def test_seq2seq_tasks_follow_their_rule(task) -> None:
    src, tgt = make_task(task, 2, 4, n=200, seed=1)
    assert len(set(src)) == 200
    assert all(t == solve(task, s) for s, t in zip(src, tgt, strict=True))
    assert solve("add", "12+345") == "357" and solve("sort", "312") == "123"


def test_seq2seq_source_holds_out_its_test_inputs() -> None:
    from dlc.compiler.text_sources import Seq2Seq
    from dlc.runtime.data.loaders import load_source

    raw = load_source(Seq2Seq(task="add", digits=[1, 2], n=300, test=50), ".")
    (xtr, _), (xte, _) = raw.parts["train"], raw.parts["test"]
    train_src = {tuple(r) for r in xtr[:, 0].tolist()}
    assert not any(tuple(r) in train_src for r in xte[:, 0].tolist())


def test_greedy_decoding_stops_at_the_end_token_and_caps_the_length() -> None:
    vocab = task_vocab()
    x, _ = encode_pairs(vocab, ["123", "4567"], ["321", "7654"], 6)
    bos, eos = vocab.index["<s>"], vocab.index["</s>"]

    def oracle(pairs):  # predicts the reversed source, then the end token
        src = pairs[:, 0]
        n = jnp.sum(src != 0, axis=1, keepdims=True)
        t = jnp.arange(src.shape[1])[None]
        rev = jnp.take_along_axis(src, jnp.clip(n - 1 - t, 0, src.shape[1] - 1), axis=1)
        nxt = jnp.where(t < n, rev, eos)
        return jax.nn.one_hot(nxt, len(vocab)) * 10

    ids = greedy_decode(oracle, x[:, 0], bos, eos)
    assert [vocab.decode([i for i in r if i]) for r in ids] == [list("321"), list("7654")]

    def never_ends(pairs):
        return jax.nn.one_hot(jnp.full(pairs[:, 0].shape, vocab.index["7"]), len(vocab))

    assert greedy_decode(never_ends, x[:, 0], bos, eos).shape == (2, 5)  # capped at L-1
