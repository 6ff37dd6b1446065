"""Token-sequence data sources: `text` (labelled sentences), `conllu` (a tag per word) and
`seq2seq` (rule-defined sequence-to-sequence tasks): pure descriptions of data. Their loaders
live in `dlc.runtime.data.tokens`.

Inputs are token ids padded with 0 to `length` (input shape `(length,)`, or `(2, length)` for a
source/target pair). The vocabulary of `text` and `conllu` is built after the split, from the
training part only; it is saved with a run as `vocab.json`.

Example:
    >>> Seq2Seq(task="reverse", digits=[2, 3], n=50, test=10).task, len(UPOS)
    ('reverse', 17)
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, NonNegativeInt, PositiveInt

from dlc.compiler.registry import SOURCES, register
from dlc.compiler.sources import Source

# the 17 universal POS tags, ids 0..16
# fmt: off
UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
        "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X")
# fmt: on


MAX_LENGTH = 100_000  # tokens per sequence


class TokenSource(Source):
    path: str | list[str]
    test: str | list[str] | None = None
    lowercase: bool = True
    min_count: PositiveInt = 1
    max_vocab: PositiveInt | None = None
    length: PositiveInt = Field(64, le=MAX_LENGTH)
    suffix: NonNegativeInt = Field(0, le=8)  # also ids of each word's last 1..k characters
    shape: bool = False  # also an id of each word's shape ("Xx", "d.d", ...)
    positional = ("path",)
    task_hint: ClassVar[str] = "classification"


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
    # one character; default: tab for lines, comma for CSV
    delimiter: str | None = Field(None, min_length=1, max_length=1)


@register(SOURCES, "conllu")
class Conllu(TokenSource):
    """A CoNLL-U treebank, a label per word: the word (column 2) in, its universal POS tag
    (column 4, 17 classes) out; comments, multi-word ranges and empty nodes are skipped.
    Sentences longer than `length` are cut into pieces so that every word is tagged once.
    Padding positions have label -1. E.g. `conllu "ud/dev.conllu" test="ud/test.conllu"`."""

    lowercase: bool = False


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
