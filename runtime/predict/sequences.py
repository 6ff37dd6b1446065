"""Predictions for token data: greedy decoding of a seq2seq model, and `dlc predict` for the text
sources (one input per line: a sentence, a tokenized sentence, or a seq2seq source string).

Greedy decoding starts the decoder row with the start token and appends the most likely next
token until every row has produced the end token or the row is full (`length` - 1 tokens).
Causal masking makes the logits at position t depend only on positions ≤ t, so the untouched
padding after t changes nothing.

Example:
    >>> m = dlc.compile("specs/seq2seq.dl")                    # doctest: +SKIP
    >>> m.fit(); decode(m, ["12345"])                          # doctest: +SKIP
    ['54321']
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.runtime.data.text import BOS, EOS, Vocab, pad_ids


def greedy_decode(apply: Any, src: np.ndarray, bos: int, eos: int) -> np.ndarray:
    """Token ids [N, L-1] decoded greedily for sources `src` [N, L] with `apply(x) -> logits`
    ([N, 2, L] -> [N, L, V]); after the end token a row holds only padding (0)."""
    import jax
    import jax.numpy as jnp

    n, length = src.shape

    @jax.jit
    def run(src: Any) -> Any:
        dec = jnp.zeros((n, length), jnp.int32).at[:, 0].set(bos)

        def step(t: Any, carry: tuple[Any, Any]) -> tuple[Any, Any]:
            dec, done = carry
            logits = apply(jnp.stack([src, dec], axis=1))
            nxt = jnp.argmax(logits[:, t], axis=-1).astype(jnp.int32)
            nxt = jnp.where(done, 0, nxt)
            done = done | (nxt == eos) | (nxt == 0)
            return dec.at[:, t + 1].set(jnp.where(nxt == eos, 0, nxt)), done

        dec, _ = jax.lax.fori_loop(0, length - 1, step, (dec, jnp.zeros(n, bool)))
        return dec[:, 1:]

    return np.asarray(run(jnp.asarray(src, jnp.int32)))


def decode(model: Any, sources: Sequence[str]) -> list[str]:
    """Greedy outputs of a trained seq2seq `CompiledModel` for source strings (characters)."""
    program = model.program(len(model.data.parts["train"][0]))
    return decode_with(
        program,
        model.state.params,
        model.state.model_state,
        model.data.vocab,
        model.data.input_shape[-1],
        sources,
    )


def decode_with(
    program: Any, params: Any, model_state: Any, vocab: Vocab, length: int, sources: Sequence[str]
) -> list[str]:
    """Greedy outputs of a seq2seq program with given parameters and vocabulary."""
    src = pad_ids([vocab.encode(list(s)) for s in sources], length)

    def apply(x: Any) -> Any:
        return program.apply(params, model_state, x, train=False)[0]

    ids = greedy_decode(apply, src, vocab.index[BOS], vocab.index[EOS])
    return ["".join(vocab.decode([i for i in row if i > 0])) for row in ids]


def exact_match(model: Any, part: str = "test") -> float:
    """The fraction of a part's sources whose greedy output equals the target exactly."""
    vocab = model.data.vocab
    x, y = model.data.parts[part]
    sources = ["".join(vocab.decode([i for i in row if i > 0])) for row in x[:, 0]]
    targets = [
        "".join(vocab.decode([i for i in row if i > 0 and i != vocab.index[EOS]])) for row in y
    ]
    return float(np.mean([p == t for p, t in zip(decode(model, sources), targets, strict=True)]))


def _read_lines(path: str) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DlcError.single(f"input file {path} does not exist", where=path) from None
    return [line.strip() for line in text.split("\n") if line.strip()]


def predict_text(resolved: Any, run: Any, input_path: str, output_path: str) -> int:
    """`dlc predict` for token data: one input per line of `input_path` -> a CSV of
    `input,output` (seq2seq: the greedy output), `text,label,probability` (`text`: the label's
    index in the sorted labels) or `sentence,word,tag` (`conllu`; words split at spaces)."""
    import jax
    import jax.numpy as jnp

    from dlc.compiler.lower import lower
    from dlc.compiler.passes import DataFacts, bind_data
    from dlc.compiler.text_sources import UPOS, Conllu, Seq2Seq
    from dlc.runtime.data.prepare import prepare
    from dlc.runtime.data.tokens import split_line, token_features, token_ids
    from dlc.runtime.runs.pytree import unflatten_params

    source = resolved.spec.data.source
    vocab = Vocab.load(run.path / "vocab.json")
    data = prepare(resolved)
    program = lower(bind_data(resolved, DataFacts(len(vocab))).spec, data.input_shape, 1)
    params = unflatten_params(run.load_arrays("params.safetensors"))
    _, state = program.init(jax.random.PRNGKey(0))
    if (run.path / "model_state.safetensors").is_file():
        state = unflatten_params(run.load_arrays("model_state.safetensors"))
    lines = _read_lines(input_path)
    with open(output_path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        if isinstance(source, Seq2Seq):
            out.writerow(["input", "output"])
            decoded = decode_with(program, params, state, vocab, data.input_shape[-1], lines)
            out.writerows(zip(lines, decoded, strict=True))
            return len(lines)
        tokens = [split_line(source, line) for line in lines]
        if isinstance(source, Conllu):  # every word tagged: long lines in pieces
            from dlc.runtime.data.text import chunks

            pieces = [(i, c) for i, t in enumerate(tokens) for c in chunks(t, source.length)]
            x = token_ids(source, token_features(source, [c for _, c in pieces]), vocab)
        else:
            x = token_ids(source, token_features(source, tokens), vocab)
        logits, _ = program.apply(params, state, jnp.asarray(x), train=False)
        prob = np.asarray(jax.nn.softmax(logits, axis=-1))
        if isinstance(source, Conllu):
            out.writerow(["sentence", "word", "tag"])
            for (i, words), p in zip(pieces, prob, strict=True):
                out.writerows(
                    (i + 1, w, UPOS[int(k)]) for w, k in zip(words, p.argmax(-1), strict=False)
                )
        else:
            out.writerow(["text", "label", "probability"])
            out.writerows(
                (line, int(p.argmax()), f"{p.max():.4f}")
                for line, p in zip(lines, prob, strict=True)
            )
    return len(lines)
