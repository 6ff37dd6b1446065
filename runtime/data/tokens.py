"""Loaders of the token-sequence sources (`text`, `conllu`, `seq2seq`, described in
`dlc.compiler.text_sources`) and the token -> id encoding that `dlc predict` reuses.

Inputs are token ids padded with 0 to `length` (input shape `(length,)`, or `(2, length)` for a
source/target pair). The vocabulary of `text` and `conllu` is built after the split, from the
training part only (`encode_tokens`); it is saved with a run as `vocab.json`.

Example:
    >>> from dlc.compiler.text_sources import Seq2Seq
    >>> raw = load_seq2seq(Seq2Seq(task="reverse", digits=[2, 3], n=50, test=10), ".")
    >>> raw.parts["train"][0].shape, raw.parts["test"][1].shape, raw.num_classes
    ((50, 2, 4), (10, 4), 15)
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.compiler.text_sources import UPOS, Conllu, Seq2Seq, Text, TokenSource
from dlc.runtime.data.raw import RawData
from dlc.runtime.data.seqtasks import encode_pairs, make_task, pair_length, task_vocab
from dlc.runtime.data.text import (
    Vocab,
    chunks,
    pad_features,
    pad_ids,
    read_conllu,
    read_labelled_lines,
    read_text_column,
    tokenize,
    word_features,
)


def _paths(value: str | list[str] | None, base_dir: str | Path) -> list[Path]:
    if value is None:
        return []
    return [
        p if p.is_absolute() else Path(base_dir) / p
        for p in map(Path, [value] if isinstance(value, str) else value)
    ]


def _objects(items: list[Any]) -> np.ndarray:
    """A 1-D object array (one token list per row) that the row splits can index."""
    out = np.empty(len(items), object)
    out[:] = items
    return out


def token_features(source: TokenSource, seqs: Any) -> list[list[list[str]]]:
    """Token lists -> per token the strings to look up (the token, its suffixes, shape)."""
    return [
        [word_features(w, source.suffix, source.shape, source.lowercase) for w in seq]
        for seq in seqs
    ]


def token_ids(source: TokenSource, feats: list[list[list[str]]], vocab: Vocab) -> np.ndarray:
    """[N, length] ids, or [N, length, features] with `suffix`/`shape`."""
    ids = pad_features([vocab.encode_all(seq) for seq in feats], source.length)
    return ids if ids.shape[-1] > 1 else ids[..., 0]


def encode_tokens(
    source: TokenSource, parts: dict[str, tuple[Any, Any]]
) -> tuple[dict[str, Any], Vocab]:
    """Parts of token lists -> parts of ids, with the vocabulary of the training part."""
    feat = {name: token_features(source, x) for name, (x, _) in parts.items()}
    vocab = Vocab.build(
        (f for seq in feat["train"] for f in seq), source.min_count, source.max_vocab
    )
    return {
        name: (token_ids(source, feat[name], vocab), y) for name, (_, y) in parts.items()
    }, vocab


def split_line(source: TokenSource, line: str) -> list[str]:
    """One line of `dlc predict` input -> tokens (`text`: its `tokens=`; else at spaces)."""
    if isinstance(source, Text):
        return tokenize(line, source.tokens, lowercase=False)
    return line.split()


def _read_text(source: Text, paths: list[Path]) -> tuple[list[list[str]], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    for p in paths:
        if source.column is not None:
            t, y = read_text_column(p, source.column, source.target, source.delimiter or ",")
        else:
            t, y = read_labelled_lines(p, source.delimiter or "\t")
        texts += t
        labels += y
    return [tokenize(t, source.tokens, lowercase=False) for t in texts], labels


def load_text(source: Text, base_dir: str | Path) -> RawData:
    x, labels = _read_text(source, _paths(source.path, base_dir))
    test = _read_text(source, _paths(source.test, base_dir)) if source.test is not None else None
    names = sorted(
        set(labels),
        key=lambda s: (
            not s.lstrip("-").isdigit(),
            int(s) if s.lstrip("-").isdigit() else 0,
            s,
        ),
    )
    index = {n: i for i, n in enumerate(names)}
    unseen = sorted(set(test[1]) - set(names)) if test else []
    if unseen:
        raise DlcError.single(
            f"test labels {unseen} never occur in the training files", where=str(source.test)
        )
    parts = {
        "all" if test is None else "train": (
            _objects(x),
            np.array([index[v] for v in labels], np.int32),
        )
    }
    if test is not None:
        parts["test"] = (_objects(test[0]), np.array([index[v] for v in test[1]], np.int32))
    return RawData(parts, len(names), encode=partial(encode_tokens, source))


def _read_conllu(source: Conllu, paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    index = {t: i for i, t in enumerate(UPOS)}
    xs: list[list[str]] = []
    ys: list[list[int]] = []
    for p in paths:
        for words, tags in read_conllu(p):
            bad = sorted(set(tags) - set(index))
            if bad:
                raise DlcError.single(
                    f"{p}: {bad} are not universal POS tags",
                    where=str(p),
                    hint="column 4 must hold UPOS tags",
                )
            xs += chunks(words, source.length)
            ys += chunks([index[t] for t in tags], source.length)
    return _objects(xs), pad_ids(ys, source.length, fill=-1)


def load_conllu(source: Conllu, base_dir: str | Path) -> RawData:
    parts = {
        "all" if source.test is None else "train": _read_conllu(
            source, _paths(source.path, base_dir)
        )
    }
    if source.test is not None:
        parts["test"] = _read_conllu(source, _paths(source.test, base_dir))
    return RawData(parts, len(UPOS), encode=partial(encode_tokens, source))


def load_seq2seq(source: Seq2Seq, base_dir: str | Path) -> RawData:
    lo, hi = source.digits
    sources, targets = make_task(source.task, lo, hi, source.n + source.test, source.seed)
    vocab = task_vocab()
    length = pair_length(sources, targets)
    x, y = encode_pairs(vocab, sources, targets, length)
    k = source.test
    return RawData({"train": (x[k:], y[k:]), "test": (x[:k], y[:k])}, len(vocab), vocab=vocab)
