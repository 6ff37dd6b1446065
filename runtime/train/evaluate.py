"""The evaluation accumulators that single runs (`step.make_functions`) and experiment lanes
(`experiment/lanes.py`) scan over chunks of an evaluation set.

Each reported value starts as a pair (statistics, weight): the loss and the loss's per-example
metrics as (weighted sum, weight), whose mean is the value; the loss's `report=[...]` metrics
(`compiler/metrics.py`: precision, recall, F1, ROC AUC, R²) as the sufficient statistics of the
whole set (a confusion matrix, every score, moments), whose value is computed once at the end.
So every value is exact over the whole set, never a mean of per-chunk values.

Example:
    >>> from dlc.compiler.frontend import load_spec
    >>> from dlc.compiler.lower import lower
    >>> src = 'data { csv "x.csv" target=y }\\nmodel { dense 1 }\\nloss mse report=[r2]'
    >>> # (see tests/test_metrics.py: start, add chunks, means)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from dlc.compiler.losses import element_weights
from dlc.compiler.lower import Program
from dlc.compiler.metrics import finish, is_exact, start, update

Sums = dict[str, tuple[Any, Any]]


def eval_start(program: Program, y: Any) -> Sums:
    """Zero (statistics, weight) for each value an evaluation reports: `loss`, the loss's
    metrics and its `report` metrics (`y`: labels of the data, for their shape; its size
    bounds the number of scores `roc_auc` keeps)."""
    loss = program.spec.loss
    out_shape = tuple(program.infos[-1].out_shape)
    out0 = jnp.zeros((1, *out_shape))
    names = jax.eval_shape(
        lambda: {"loss": 0.0, **loss.metrics(out0, y[:1]), **loss.custom_metrics(out0, y[:1])}
    )
    z = jnp.zeros((), jnp.float32)
    sums: Sums = {k: (z, z) for k in names}
    sizes = {"classes": loss.classes(out_shape), "rows": int(y.size)}
    for name in loss.exact_names(out_shape):
        sums[name] = (start(name, outputs=max(1, int(y[:1].size)), **sizes), z)
    return sums


def add_eval_sums(program: Program, sums: Sums, out: Any, y: Any, w: Any) -> Sums:
    """`sums` plus one chunk's statistics, for outputs `out`, labels `y` and example weights
    `w` (0: a padding row): per-token values count real tokens only."""
    loss = program.spec.loss
    per = loss.per_example(out, y)
    vals = {"loss": per, **loss.metrics(out, y), **loss.custom_metrics(out, y)}
    ws = {k: element_weights(v, y, w) for k, v in vals.items()}
    new = {
        k: (sums[k][0] + jnp.sum(v * ws[k]), sums[k][1] + jnp.sum(ws[k])) for k, v in vals.items()
    }
    exact = [k for k in sums if k not in new]
    if exact:
        we = element_weights(per, y, w)
        chunk = {**loss.exact_inputs(out, y), "w": we.reshape(-1)}
        if "score" in chunk:
            chunk["score"] = chunk["score"].reshape(-1)
            chunk["labels"] = chunk["labels"].reshape(-1)
        else:
            chunk["w"] = we
        for k in exact:
            new[k] = (update(k, sums[k][0], **chunk), sums[k][1] + jnp.sum(we))
    return new


def eval_means(sums: Sums) -> dict[str, Any]:
    """Each value from its totals: a weighted mean, or the exact metric's formula."""
    return {
        k: finish(k, s) if is_exact(k) else s / jnp.maximum(d, 1.0) for k, (s, d) in sums.items()
    }
