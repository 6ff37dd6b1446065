"""Token-sequence data sources: `text` (labelled sentences), `conllu` (a tag per word) and
`seq2seq` (rule-defined sequence-to-sequence tasks). Readers live in `dlc.runtime.data.text` and
`dlc.runtime.data.seqtasks` (numpy only).

Inputs are token ids padded with 0 to `length` (input shape `(length,)`, or `(2, length)` for a
source/target pair). The vocabulary of `text` and `conllu` is built after the split, from the
training part only; it is saved with a run as `vocab.json`.

Example:
    >>> raw = Seq2Seq(task="reverse", digits=[2, 3], n=50, test=10).load(".")
    >>> raw.parts["train"][0].shape, raw.parts["test"][1].shape, raw.num_classes
    ((50, 2, 4), (10, 4), 15)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveInt

from dlc.compiler.errors import DlcError
from dlc.compiler.registry import SOURCES, register
from dlc.compiler.sources import RawData, Source

# the 17 universal POS tags, ids 0..16
# fmt: off
UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
        "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X")
# fmt: on


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


class TokenSource(Source):
    path: str | list[str]
    test: str | list[str] | None = None
    lowercase: bool = True
    min_count: PositiveInt = 1
    max_vocab: PositiveInt | None = None
    length: PositiveInt = 64
    suffix: NonNegativeInt = Field(0, le=8)  # also ids of each word's last 1..k characters
    shape: bool = False  # also an id of each word's shape ("Xx", "d.d", ...)
    positional = ("path",)
    task_hint: ClassVar[str] = "classification"

    def features(self, seqs: Any) -> list[list[list[str]]]:
        """Token lists -> per token the strings to look up (the token, its suffixes, shape)."""
        from dlc.runtime.data.text import word_features

        return [
            [word_features(w, self.suffix, self.shape, self.lowercase) for w in seq] for seq in seqs
        ]

    def ids(self, feats: list[list[list[str]]], vocab: Any) -> np.ndarray:
        """[N, length] ids, or [N, length, features] with `suffix`/`shape`."""
        from dlc.runtime.data.text import pad_features

        ids = pad_features([vocab.encode_all(seq) for seq in feats], self.length)
        return ids if ids.shape[-1] > 1 else ids[..., 0]

    def encode(self, parts: dict[str, tuple[Any, Any]]) -> tuple[dict[str, Any], Any]:
        """Parts of token lists -> parts of ids, with the vocabulary of the training part."""
        from dlc.runtime.data.text import Vocab

        feat = {name: self.features(x) for name, (x, _) in parts.items()}
        vocab = Vocab.build(
            (f for seq in feat["train"] for f in seq), self.min_count, self.max_vocab
        )
        return {name: (self.ids(feat[name], vocab), y) for name, (_, y) in parts.items()}, vocab

    def split_line(self, line: str) -> list[str]:
        """One line of `dlc predict` input -> tokens (words separated by spaces)."""
        return line.split()


@register(SOURCES, "text")
class Text(TokenSource):
    """Labelled sentences: `sentence<TAB>label` lines (or a CSV `column` with its `target`
    column), one file or a list; `test=` files make the test part. Tokens are `words` or
    `chars`; the vocabulary keeps tokens seen `min_count` times in the training part (at most
    `max_vocab`); sequences are cut or padded to `length`. E.g.
    `text ["a.txt", "b.txt"] test="c.txt" length=48 min_count=2`."""

    tokens: Literal["words", "chars"] = "words"
    column: str | None = None  # a CSV with a header: the text column (labels: `target`)
    target: str = "label"
    delimiter: str | None = None  # default: tab for lines, comma for CSV

    def split_line(self, line: str) -> list[str]:
        from dlc.runtime.data.text import tokenize

        return tokenize(line, self.tokens, lowercase=False)

    def _read(self, paths: list[Path]) -> tuple[list[list[str]], list[str]]:
        from dlc.runtime.data.text import read_labelled_lines, read_text_column, tokenize

        texts: list[str] = []
        labels: list[str] = []
        for p in paths:
            if self.column is not None:
                t, y = read_text_column(p, self.column, self.target, self.delimiter or ",")
            else:
                t, y = read_labelled_lines(p, self.delimiter or "\t")
            texts += t
            labels += y
        return [tokenize(t, self.tokens, lowercase=False) for t in texts], labels

    def load(self, base_dir: str | Path) -> RawData:
        x, labels = self._read(_paths(self.path, base_dir))
        test = self._read(_paths(self.test, base_dir)) if self.test is not None else None
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
                f"test labels {unseen} never occur in the training files", where=str(self.test)
            )
        parts = {
            "all" if test is None else "train": (
                _objects(x),
                np.array([index[v] for v in labels], np.int32),
            )
        }
        if test is not None:
            parts["test"] = (_objects(test[0]), np.array([index[v] for v in test[1]], np.int32))
        return RawData(parts, len(names), encode=self.encode)


@register(SOURCES, "conllu")
class Conllu(TokenSource):
    """A CoNLL-U treebank, a label per word: the word (column 2) in, its universal POS tag
    (column 4, 17 classes) out; comments, multi-word ranges and empty nodes are skipped.
    Sentences longer than `length` are cut into pieces so that every word is tagged once.
    Padding positions have label -1. E.g. `conllu "ud/dev.conllu" test="ud/test.conllu"`."""

    lowercase: bool = False

    def _read(self, paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
        from dlc.runtime.data.text import chunks, pad_ids, read_conllu

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
                xs += chunks(words, self.length)
                ys += chunks([index[t] for t in tags], self.length)
        return _objects(xs), pad_ids(ys, self.length, fill=-1)

    def load(self, base_dir: str | Path) -> RawData:
        parts = {"all" if self.test is None else "train": self._read(_paths(self.path, base_dir))}
        if self.test is not None:
            parts["test"] = self._read(_paths(self.test, base_dir))
        return RawData(parts, len(UPOS), encode=self.encode)


@register(SOURCES, "seq2seq")
class Seq2Seq(Source):
    """A rule-defined translation task on digit strings of `digits`=[min, max] characters:
    `reverse`, `sort` or `add` ("12+345" -> "357"). `n` distinct training pairs and `test`
    held-out pairs whose inputs never occur in training. Input rows are (2, length) pairs
    (source; start token + target), labels the target + end token. E.g.
    `seq2seq reverse digits=[3, 8] n=20000`."""

    task: Literal["reverse", "sort", "add"] = "reverse"
    digits: list[PositiveInt] = Field([3, 8], min_length=2, max_length=2)
    n: PositiveInt = 20000
    test: PositiveInt = 1000
    seed: NonNegativeInt = 0
    positional = ("task",)
    task_hint: ClassVar[str] = "classification"

    def load(self, base_dir: str | Path) -> RawData:
        from dlc.runtime.data.seqtasks import encode_pairs, make_task, pair_length, task_vocab

        lo, hi = self.digits
        sources, targets = make_task(self.task, lo, hi, self.n + self.test, self.seed)
        vocab = task_vocab()
        length = pair_length(sources, targets)
        x, y = encode_pairs(vocab, sources, targets, length)
        k = self.test
        return RawData({"train": (x[k:], y[k:]), "test": (x[:k], y[:k])}, len(vocab), vocab=vocab)
