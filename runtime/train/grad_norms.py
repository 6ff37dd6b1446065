"""Backpropagation made visible (`train { grad_norms true }`): the L2 norm of the training
loss's gradient for each layer's parameters, full-batch over the first `GRAD_ROWS` training
rows, and the L2 norm of the parameters themselves, in one jitted function. The loop records
them as `grad_norm/<layer key>` and `param_norm/<layer key>` at the epochs where validation is
computed (and the last), so no other epoch syncs with the host.

Layer keys are the top-level keys of `params` (`00_dense`, `03_residual`); a block's nested
parameters are summed into its own key. Layers without parameters (activations) are skipped.
The loss is `program.loss` (penalties included) with every row weight 1 and a fixed dropout key,
so the training state and its random numbers are never touched.

Example:
    >>> fn = make_grad_norms(program)                       # doctest: +SKIP
    >>> fn(state.params, state.model_state, x, y)           # doctest: +SKIP
    {'grad_norm/00_dense': Array(0.31, dtype=float32), ..., 'param_norm/00_dense': ...}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from dlc.compiler.lower import Program

GRAD_ROWS = 1024  # training rows the gradient is taken over (the first ones)
PREFIX = "grad_norm/"
PARAM_PREFIX = "param_norm/"


def layer_norms(tree: dict[str, Any], prefix: str = PREFIX) -> dict[str, jax.Array]:
    """{`<prefix><key>`: L2 norm over every leaf under `key`} for keys with parameters.

    Example:
        >>> layer_norms({"00_dense": {"w": jnp.array([3.0, 4.0])}, "01_relu": {}})
        {'grad_norm/00_dense': Array(5., dtype=float32)}
    """
    out: dict[str, jax.Array] = {}
    for key, sub in tree.items():
        leaves = jax.tree_util.tree_leaves(sub)
        if leaves:
            out[prefix + key] = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in leaves))
    return out


def make_grad_norms(program: Program, n_train: int) -> Callable[..., dict[str, jax.Array]]:
    """(params, model_state, x, y) -> per-layer gradient norms over the first
    min(`GRAD_ROWS`, `n_train`) rows (rows past `n_train` pad a sharded part: never taken), and
    per-layer parameter norms."""
    rows = min(GRAD_ROWS, n_train)

    def norms(params: Any, model_state: Any, x: Any, y: Any) -> dict[str, jax.Array]:
        x, y = x[:rows], y[:rows]
        w = jnp.ones((x.shape[0],), jnp.float32)

        def loss(p: Any) -> Any:
            return program.loss(p, model_state, x, y, w, jax.random.PRNGKey(0))[0]

        return {**layer_norms(jax.grad(loss)(params)), **layer_norms(params, PARAM_PREFIX)}

    return jax.jit(norms)
