"""Rule-defined sequence-to-sequence tasks (numpy only): the data is honest and unlimited, and
held-out inputs are never seen in training.

Tasks on digit strings of `lo`..`hi` digits: `reverse` ("123" -> "321"), `sort` ("312" ->
"123") and `add` ("12+345" -> "357"). Every character is a token; the vocabulary is fixed:
`<pad>`, `<unk>`, `<s>` (start), `</s>` (end), the digits and `+`.

A pair becomes one (2, L) input row (source; start token + target: teacher forcing) and an
(L,) label row (target + end token, -1 at padding).

Example:
    >>> src, tgt = make_task("reverse", 3, 3, n=2, seed=0)
    >>> [t == s[::-1] for s, t in zip(src, tgt)]
    [True, True]
    >>> x, y = encode_pairs(task_vocab(), ["12"], ["21"], 4)
    >>> x.tolist(), y.tolist()
    ([[[5, 6, 0, 0], [2, 6, 5, 0]]], [[6, 5, 3, -1]])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.runtime.data.text import BOS, EOS, Vocab, pad_ids

TASKS = ("reverse", "sort", "add")


def task_vocab() -> Vocab:
    return Vocab.build([], specials=[BOS, EOS, *"0123456789+"])


def _number(rng: np.random.Generator, digits: int) -> str:
    first = rng.integers(1 if digits > 1 else 0, 10)
    rest = rng.integers(0, 10, size=digits - 1)
    return str(first) + "".join(map(str, rest))


def _source(task: str, rng: np.random.Generator, lo: int, hi: int) -> str:
    if task == "add":
        return (
            f"{_number(rng, int(rng.integers(lo, hi + 1)))}+"
            f"{_number(rng, int(rng.integers(lo, hi + 1)))}"
        )
    return "".join(map(str, rng.integers(0, 10, size=int(rng.integers(lo, hi + 1)))))


def solve(task: str, source: str) -> str:
    """The rule: what the model should output for `source`."""
    if task == "reverse":
        return source[::-1]
    if task == "sort":
        return "".join(sorted(source))
    a, _, b = source.partition("+")
    return str(int(a) + int(b))


def make_task(task: str, lo: int, hi: int, n: int, seed: int) -> tuple[list[str], list[str]]:
    """`n` distinct random sources of the task and their answers."""
    if task not in TASKS:
        raise DlcError.single(f"unknown seq2seq task `{task}`", hint=f"one of {', '.join(TASKS)}")
    if not 1 <= lo <= hi:
        raise DlcError.single(
            f"digits=[{lo}, {hi}] is not a range of lengths",
            hint="write digits=[min, max] with 1 <= min <= max",
        )
    space = sum(10**k for k in range(lo, hi + 1)) ** (2 if task == "add" else 1)
    if n > space // 2:
        raise DlcError.single(
            f"{n} distinct {task} inputs of {lo}..{hi} digits do not exist "
            f"(or are too many to draw)",
            hint="use more digits or a smaller n",
        )
    rng = np.random.default_rng(seed)
    seen: dict[str, None] = {}
    while len(seen) < n:
        seen.setdefault(_source(task, rng, lo, hi), None)
    sources = list(seen)
    return sources, [solve(task, s) for s in sources]


def encode_pairs(
    vocab: Vocab, sources: Sequence[str], targets: Sequence[str], length: int
) -> tuple[np.ndarray, np.ndarray]:
    """x [N, 2, length] (source ids; start + target ids) and y [N, length] (target ids + end,
    -1 at padding)."""
    index = vocab.index
    src = [[index.get(c, 1) for c in s] for s in sources]
    tgt = [[index.get(c, 1) for c in t] for t in targets]
    x = np.stack([pad_ids(src, length), pad_ids([[index[BOS], *t] for t in tgt], length)], 1)
    y = pad_ids([[*t, index[EOS]] for t in tgt], length, fill=-1)
    return x, y


def pair_length(sources: Sequence[str], targets: Sequence[str]) -> int:
    """The shortest L that holds every source, and every target with its start/end token."""
    return max(max(map(len, sources)), max(map(len, targets)) + 1)
