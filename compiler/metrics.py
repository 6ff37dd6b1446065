"""Metrics exact over a whole evaluation set: each keeps sufficient statistics that chunks of
the set add to, and its value is computed once, from the totals (never a mean of batch values).

- `precision`, `recall`, `f1`: from the weighted confusion matrix; for a binary loss those of
  class 1, else the macro average over the classes that occur (in labels or predictions), as
  scikit-learn's `average="macro"`. `f1_per_class` (and the others) give `f1_0`, `f1_1`, ...
- `roc_auc` (two classes): every (score, label, weight) in a buffer the size of the set; the
  area under the ROC curve, ties counted half.
- `r2`: weight, mean and squared deviations of y (merged chunk by chunk with Chan's rule) and
  the squared errors; 1 - SSE/SST per output, averaged over the outputs.

A loss names the metrics it reports with `report=[...]` (`loss cross_entropy report=[f1]`).

Example:
    >>> import jax.numpy as jnp
    >>> acc = start("f1", classes=2, outputs=1, rows=4)
    >>> labels, pred = jnp.array([0, 1, 1, 1]), jnp.array([0, 1, 0, 1])
    >>> acc = update("f1", acc, labels=labels, pred=pred, w=jnp.ones(4), binary=True)
    >>> round(float(finish("f1", acc)), 4)  # precision 1, recall 2/3
    0.8
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from dlc.compiler.lazy import jax, jnp

CONFUSION = ("precision", "recall", "f1")
REPORTABLE = {
    "classification": (*CONFUSION, *(f"{m}_per_class" for m in CONFUSION), "roc_auc"),
    "binary": (*CONFUSION, *(f"{m}_per_class" for m in CONFUSION), "roc_auc"),
    "regression": ("r2",),
}
# metrics of plugins (`dlc.metric`): name -> fn(out, y) giving one value per example
METRICS: dict[str, Callable[[Any, Any], Any]] = {}
_NAME = re.compile(r"(precision|recall|f1)(?:_(\d+))?|roc_auc|r2")


def expand(names: tuple[str, ...], classes: int) -> list[str]:
    """The reported names: `f1_per_class` -> `f1_0`, `f1_1`, ...

    Example:
        >>> expand(("f1", "recall_per_class"), 3)
        ['f1', 'recall_0', 'recall_1', 'recall_2']
    """
    out: list[str] = []
    for name in names:
        if name.endswith("_per_class"):
            out += [f"{name.removesuffix('_per_class')}_{i}" for i in range(classes)]
        else:
            out.append(name)
    return out


def is_exact(name: str) -> bool:
    """Whether a reported value is one of these metrics (else a weighted mean)."""
    return _NAME.fullmatch(name) is not None


def start(name: str, *, classes: int, outputs: int, rows: int) -> dict[str, Any]:
    """Zero statistics of metric `name`."""
    if name == "roc_auc":
        z = jnp.zeros((rows,), jnp.float32)
        return {"s": z, "y": z, "w": z, "n": jnp.zeros((), jnp.int32)}
    if name == "r2":
        z = jnp.zeros((outputs,), jnp.float32)
        return {"w": z, "mean": z, "m2": z, "sse": z}
    return {"c": jnp.zeros((classes, classes), jnp.float32), "binary": jnp.zeros((), bool)}


def update(name: str, acc: dict[str, Any], **chunk: Any) -> dict[str, Any]:
    """`acc` plus one chunk: `labels`, `pred` (classes), `w` and `binary` for the confusion
    metrics; `labels`, `score`, `w` for `roc_auc`; `y`, `out`, `w` ([B, outputs]) for `r2`."""
    if name == "roc_auc":
        return _add_scores(acc, chunk["score"], chunk["labels"], chunk["w"])
    if name == "r2":
        return _add_moments(acc, chunk["y"], chunk["out"], chunk["w"])
    k = acc["c"].shape[0]
    w = chunk["w"].reshape(-1, 1)
    true = jax.nn.one_hot(chunk["labels"].reshape(-1), k) * w  # label < 0 (padding): a zero row
    pred = jax.nn.one_hot(chunk["pred"].reshape(-1), k)
    return {"c": acc["c"] + true.T @ pred, "binary": acc["binary"] | chunk["binary"]}


def _add_scores(acc: dict[str, Any], score: Any, labels: Any, w: Any) -> dict[str, Any]:
    keep = w > 0
    slot = jnp.where(keep, acc["n"] + jnp.cumsum(keep) - 1, acc["s"].shape[0])  # rest dropped
    put = lambda a, v: a.at[slot].set(v.astype(jnp.float32), mode="drop")  # noqa: E731
    return {
        "s": put(acc["s"], score),
        "y": put(acc["y"], labels),
        "w": put(acc["w"], w),
        "n": acc["n"] + jnp.sum(keep).astype(jnp.int32),
    }


def _add_moments(acc: dict[str, Any], y: Any, out: Any, w: Any) -> dict[str, Any]:
    y, out = y.reshape(y.shape[0], -1), out.reshape(out.shape[0], -1)
    wc = jnp.sum(w)
    w_col = w[:, None]
    mean_c = jnp.sum(w_col * y, axis=0) / jnp.maximum(wc, 1e-30)
    m2_c = jnp.sum(w_col * (y - mean_c) ** 2, axis=0)
    total = acc["w"] + wc
    delta = mean_c - acc["mean"]
    frac = jnp.where(total > 0, wc / jnp.maximum(total, 1e-30), 0.0)
    return {
        "w": total,
        "mean": acc["mean"] + delta * frac,
        "m2": acc["m2"] + m2_c + delta**2 * acc["w"] * frac,
        "sse": acc["sse"] + jnp.sum(w_col * (y - out) ** 2, axis=0),
    }


def finish(name: str, acc: dict[str, Any]) -> Any:
    """The metric's value from its totals."""
    if name == "roc_auc":
        return roc_auc(acc["s"], acc["y"], acc["w"])
    if name == "r2":
        r2 = 1.0 - acc["sse"] / jnp.where(acc["m2"] > 0, acc["m2"], 1.0)
        return jnp.mean(jnp.where(acc["m2"] > 0, r2, jnp.where(acc["sse"] > 0, 0.0, 1.0)))
    match = _NAME.fullmatch(name)
    assert match is not None, name
    kind, index = match.group(1), match.group(2)
    c = acc["c"]
    tp = jnp.diag(c)
    predicted, actual = jnp.sum(c, axis=0), jnp.sum(c, axis=1)
    per = {
        "precision": tp / jnp.where(predicted > 0, predicted, 1.0),
        "recall": tp / jnp.where(actual > 0, actual, 1.0),
        "f1": 2 * tp / jnp.where(predicted + actual > 0, predicted + actual, 1.0),
    }[kind]
    if index is not None:
        return per[int(index)]
    present = (predicted + actual) > 0
    macro = jnp.sum(jnp.where(present, per, 0.0)) / jnp.maximum(jnp.sum(present), 1)
    return jnp.where(acc["binary"], per[-1], macro)


def roc_auc(score: Any, labels: Any, w: Any) -> Any:
    """Area under the ROC curve of scores for labels 0/1 with weights (0: not counted): the
    weighted chance that a positive scores above a negative, ties counted half.

    Example:
        >>> import jax.numpy as jnp
        >>> float(roc_auc(jnp.array([0.1, 0.4, 0.35, 0.8]), jnp.array([0, 0, 1, 1.0]), jnp.ones(4)))
        0.75
    """
    order = jnp.argsort(score)
    s, pos = score[order], (labels[order] > 0.5)
    wp, wn = jnp.where(pos, w[order], 0.0), jnp.where(pos, 0.0, w[order])
    below = jnp.concatenate([jnp.zeros(1), jnp.cumsum(wn)])  # negative weight before index i
    lo = jnp.searchsorted(s, s, side="left")
    hi = jnp.searchsorted(s, s, side="right")
    beaten = below[lo] + 0.5 * (below[hi] - below[lo])  # negatives below, half of the ties
    total = jnp.sum(wp) * jnp.sum(wn)
    return jnp.sum(wp * beaten) / jnp.where(total > 0, total, 1.0)
