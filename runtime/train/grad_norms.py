"""Backpropagation made visible (`train { grad_norms true }`): the L2 norm of the training
loss's gradient for each layer's parameters, full-batch over the first `GRAD_ROWS` training
rows, in one jitted function. The loop records them as `grad_norm/<layer key>` at the epochs
where validation is computed (and the last), so no other epoch syncs with the host.

Layer keys are the top-level keys of `params` (`00_dense`, `03_residual`); a block's nested
parameters are summed into its own key. Layers without parameters (activations) are skipped.
The loss is `program.loss` (penalties included) with every row weight 1 and a fixed dropout key,
so the training state and its random numbers are never touched.

Example:
    >>> fn = make_grad_norms(program)                       # doctest: +SKIP
    >>> fn(state.params, state.model_state, x, y)           # doctest: +SKIP
    {'grad_norm/00_dense': Array(0.31, dtype=float32), ...}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from dlc.compiler.lower import Program

GRAD_ROWS = 1024  # training rows the gradient is taken over (the first ones)
PREFIX = "grad_norm/"


def layer_norms(grads: dict[str, Any]) -> dict[str, jax.Array]:
    """{`grad_norm/<key>`: L2 norm over every leaf under `key`} for keys with parameters."""
    out: dict[str, jax.Array] = {}
    for key, sub in grads.items():
        leaves = jax.tree_util.tree_leaves(sub)
        if leaves:
            out[PREFIX + key] = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in leaves))
    return out


def make_grad_norms(program: Program, n_train: int) -> Callable[..., dict[str, jax.Array]]:
    """(params, model_state, x, y) -> per-layer gradient norms over the first
    min(`GRAD_ROWS`, `n_train`) rows (rows past `n_train` pad a sharded part: never taken)."""
    rows = min(GRAD_ROWS, n_train)

    def norms(params: Any, model_state: Any, x: Any, y: Any) -> dict[str, jax.Array]:
        x, y = x[:rows], y[:rows]
        w = jnp.ones((x.shape[0],), jnp.float32)

        def loss(p: Any) -> Any:
            return program.loss(p, model_state, x, y, w, jax.random.PRNGKey(0))[0]

        return layer_norms(jax.grad(loss)(params))

    return jax.jit(norms)
