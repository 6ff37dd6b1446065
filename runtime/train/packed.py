"""Many small results in one device-to-host transfer.

Fetching an array from the device costs tens of microseconds whatever its size, so an epoch's
few numbers (training loss, finite flag, learning rate and step of each epoch of a call, then
the validation metrics) cost more in transfers than a small model's epoch does in compute.
Inside a jitted function `Packer.pack` lays every leaf of a tree into one float32 vector
(integer and bool leaves bit-cast, so every value comes back exact) and notes the layout
while tracing; on the host `Packer.unpack` rebuilds the tree as NumPy arrays. `host_results`
wraps a jitted `(state, *trees)` function so that callers see the same trees as before.

Example:
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> p = Packer()
    >>> f = jax.jit(lambda x: p.pack({"loss": x.sum(), "step": jnp.int32(7), "ok": x[0] > 0}))
    >>> tree = p.unpack(np.asarray(f(jnp.ones(3))))
    >>> float(tree["loss"]), int(tree["step"]), bool(tree["ok"]), tree["step"].dtype.name
    (3.0, 7, True, 'int32')
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


class Packer:
    """The layout of one traced function's packed results (set when it is traced, which
    happens once per process even when the compiled program comes from the cache)."""

    def __init__(self) -> None:
        self.layout: tuple[Any, list[tuple[tuple[int, ...], np.dtype[Any]]]] | None = None

    def pack(self, tree: Any) -> jax.Array:
        """Every leaf of `tree` (traced) in one float32 vector."""
        leaves, treedef = jax.tree.flatten(tree)
        specs: list[tuple[tuple[int, ...], np.dtype[Any]]] = []
        parts = []
        for leaf in leaves:
            leaf = jnp.asarray(leaf)
            dtype = np.dtype(leaf.dtype)
            specs.append((tuple(leaf.shape), dtype))
            if jnp.issubdtype(dtype, jnp.floating):
                if dtype.itemsize > 4:
                    raise TypeError(f"cannot pack a {dtype} result exactly in float32")
                parts.append(leaf.astype(jnp.float32).ravel())
            else:  # integers and bools: their int32 bits, bit-cast
                if dtype.itemsize > 4:
                    raise TypeError(f"cannot pack a {dtype} result exactly in 32 bits")
                bits = leaf.astype(jnp.int32)
                parts.append(jax.lax.bitcast_convert_type(bits, jnp.float32).ravel())
        self.layout = (treedef, specs)
        return jnp.concatenate(parts) if parts else jnp.zeros((0,), jnp.float32)

    def unpack(self, flat: np.ndarray) -> Any:
        """The tree `pack` packed, as NumPy arrays of the original shapes and dtypes."""
        if self.layout is None:
            raise RuntimeError("unpack before the packing function was traced")
        treedef, specs = self.layout
        flat = np.asarray(flat, np.float32)
        leaves, at = [], 0
        for shape, dtype in specs:
            n = math.prod(shape)
            segment = flat[at : at + n]
            at += n
            if jnp.issubdtype(dtype, jnp.floating):  # bfloat16 too (not a NumPy floating)
                value = segment.astype(dtype)
            else:
                value = segment.view(np.int32).astype(dtype)
            leaves.append(value.reshape(shape))
        if at != flat.size:
            raise RuntimeError(f"packed {flat.size} numbers, the layout holds {at}")
        return jax.tree.unflatten(treedef, leaves)


def host_results(
    fn: Callable[..., tuple[Any, ...]], donate_argnums: tuple[int, ...] = ()
) -> Callable[..., tuple[Any, ...]]:
    """`fn` (returning `(state, *trees)`) jitted with its trees packed: the wrapper returns
    `(state, *trees)` with the trees as host NumPy arrays, fetched in one transfer."""
    packer = Packer()

    def packed(*args: Any) -> tuple[Any, jax.Array]:
        state, *trees = fn(*args)
        return state, packer.pack(tuple(trees))

    jitted = jax.jit(packed, donate_argnums=donate_argnums)

    def call(*args: Any) -> tuple[Any, ...]:
        state, flat = jitted(*args)
        return (state, *packer.unpack(np.asarray(flat)))  # the one transfer

    call.jitted = jitted  # type: ignore[attr-defined]  # for lowering / cost analysis
    return call
