"""Text for sequence models (numpy only): tokenizing, vocabularies, padding, and readers for
labelled sentences (`sentence<TAB>label` lines or a CSV column) and CoNLL-U treebanks.

Id 0 is always padding and id 1 the unknown token; a vocabulary is built from the training part
only, so a word seen only in validation or test data maps to `<unk>`. It is saved with a run
(`vocab.json`) for `dlc predict`.

Example:
    >>> v = Vocab.build([tokenize("The film was great."), tokenize("the plot was thin")])
    >>> v.encode(tokenize("The acting was great")), len(v)
    ([2, 1, 3, 5], 9)
    >>> pad_ids([[4, 5, 6], [7]], 2).tolist()
    [[4, 5], [7, 0]]
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.runtime.data.reading import check_allocation

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
T = TypeVar("T")
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*|'[^\W_]+|[^\w\s]|_", re.UNICODE)


def tokenize(text: str, mode: str = "words", lowercase: bool = True) -> list[str]:
    """Words (runs of letters/digits, with inner apostrophes) and single punctuation marks, or
    characters (`mode="chars"`, spaces kept)."""
    text = text.lower() if lowercase else text
    return list(text) if mode == "chars" else WORD.findall(text)


@dataclass(frozen=True)
class Vocab:
    """Token <-> id; `tokens[0]` is padding, `tokens[1]` unknown."""

    tokens: tuple[str, ...]

    @classmethod
    def build(
        cls,
        sequences: Iterable[Sequence[str]],
        min_count: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = (),
    ) -> Vocab:
        """Tokens seen at least `min_count` times, most frequent first (ties: first seen), after
        `<pad>`, `<unk>` and `specials`; at most `max_size` entries in all."""
        counts: Counter[str] = Counter()
        for seq in sequences:
            counts.update(seq)
        fixed = [PAD, UNK, *specials]
        words = [t for t, c in counts.most_common() if c >= min_count and t not in fixed]
        if max_size is not None:
            words = words[: max(0, max_size - len(fixed))]
        return cls(tuple(fixed + words))

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}

    def encode(self, tokens: Sequence[str]) -> list[int]:
        index = self.index
        return [index.get(t, 1) for t in tokens]

    def encode_all(self, sequences: Sequence[Sequence[str]]) -> list[list[int]]:
        index = self.index
        return [[index.get(t, 1) for t in seq] for seq in sequences]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] if 0 <= i < len(self.tokens) else UNK for i in ids]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"tokens": list(self.tokens)}, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        try:
            return cls(tuple(json.loads(Path(path).read_text(encoding="utf-8"))["tokens"]))
        except FileNotFoundError:
            raise DlcError.single(
                f"{path} is missing",
                where=str(path),
                hint="the run was made before vocabularies were saved; train it again",
            ) from None


def pad_ids(seqs: Sequence[Sequence[int]], length: int, fill: int = 0) -> np.ndarray:
    """[N, length] int32: each sequence cut to `length` and padded with `fill`."""
    check_allocation(len(seqs) * length * 4, "the token data", "use a smaller `length=`")
    out = np.full((len(seqs), length), fill, np.int32)
    for i, s in enumerate(seqs):
        s = list(s)[:length]
        out[i, : len(s)] = s
    return out


def word_shape(word: str) -> str:
    """Capitalization and character classes, runs collapsed: "Paris" -> "Xx", "3.5" -> "d.d",
    "e-mail" -> "x-x", "USA" -> "X"."""
    out: list[str] = []
    for c in word:
        k = "X" if c.isupper() else "x" if c.isalpha() else "d" if c.isdigit() else c
        if not out or out[-1] != k:
            out.append(k)
    return "".join(out[:6])


def word_features(
    word: str, suffix: int = 0, shape: bool = False, lowercase: bool = True
) -> list[str]:
    """The ids' strings for one word: the word itself, then its last 1..`suffix` characters
    (lowercased, `~s2:ng`) and its shape (`~sh:Xx`); feature strings start with `~`.

    Example:
        >>> word_features("Running", suffix=2, shape=True)
        ['running', '~s1:g', '~s2:ng', '~sh:Xx']
    """
    low = word.lower()
    feats = [low if lowercase else word]
    feats += [f"~s{k}:{low[-k:]}" for k in range(1, suffix + 1)]
    return feats + ([f"~sh:{word_shape(word)}"] if shape else [])


def pad_features(seqs: Sequence[Sequence[Sequence[int]]], length: int) -> np.ndarray:
    """[N, length, F] int32 from sequences of F ids per position, cut/padded with 0."""
    width = next((len(p) for s in seqs for p in s), 1)
    check_allocation(len(seqs) * length * width * 4, "the token data", "use a smaller `length=`")
    out = np.zeros((len(seqs), length, width), np.int32)
    for i, s in enumerate(seqs):
        s = list(s)[:length]
        if s:
            out[i, : len(s)] = s
    return out


def chunks(seq: Sequence[T], length: int) -> list[list[T]]:
    """A sequence cut into consecutive pieces of at most `length` (every token kept)."""
    return [list(seq[i : i + length]) for i in range(0, max(len(seq), 1), length)]


def _open_text(path: Path) -> list[str]:
    from dlc.runtime.data.reading import read_text_file

    # "\n" only: str.splitlines would also split at U+0085 and U+2028 inside sentences
    return read_text_file(path).split("\n")


def read_labelled_lines(path: str | Path, delimiter: str = "\t") -> tuple[list[str], list[str]]:
    """`text<delimiter>label` lines (the label after the last delimiter; blank lines skipped)."""
    texts, labels = [], []
    for n, line in enumerate(_open_text(Path(path)), 1):
        if not line.strip():
            continue
        text, sep, label = line.rpartition(delimiter)
        if not sep or not label.strip():
            raise DlcError.single(
                f"{path}:{n}: expected `text{delimiter!r}label`, got {line[:60]!r}",
                where=f"{path}:{n}",
            )
        texts.append(text.strip())
        labels.append(label.strip())
    return texts, labels


def read_text_column(
    path: str | Path, text: str, target: str, delimiter: str = ","
) -> tuple[list[str], list[str]]:
    """A text column and a label column of a CSV file with a header."""
    import csv

    rows = list(csv.reader(_open_text(Path(path)), delimiter=delimiter))
    header = rows[0] if rows else []
    for col in (text, target):
        if col not in header:
            from dlc.compiler.errors import suggest

            raise DlcError.single(
                f"column `{col}` is not in {path}", where=str(path), hint=suggest(col, header)
            )
    ti, yi = header.index(text), header.index(target)
    body = [r for r in rows[1:] if len(r) > max(ti, yi)]
    return [r[ti] for r in body], [r[yi].strip() for r in body]


def read_conllu(
    path: str | Path, word_col: int = 2, tag_col: int = 4
) -> list[tuple[list[str], list[str]]]:
    """Sentences of a CoNLL-U file as (words, tags): word = column 2 (FORM), tag = column 4
    (UPOS), 1-based. Comment lines (`#`), multi-word token ranges (`1-2`) and empty nodes
    (`1.1`) are skipped; a blank line ends a sentence."""
    sentences: list[tuple[list[str], list[str]]] = []
    words: list[str] = []
    tags: list[str] = []
    for n, line in enumerate([*_open_text(Path(path)), ""], 1):
        if not line.strip():
            if words:
                sentences.append((words, tags))
                words, tags = [], []
            continue
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < max(word_col, tag_col):
            raise DlcError.single(
                f"{path}:{n}: a token line needs {max(word_col, tag_col)} "
                f"tab-separated columns, got {len(cols)}",
                where=f"{path}:{n}",
            )
        if "-" in cols[0] or "." in cols[0]:
            continue
        words.append(cols[word_col - 1])
        tags.append(cols[tag_col - 1])
    return sentences
