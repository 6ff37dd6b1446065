"""The one pytree serializer: a tree's leaves as a flat {name: array} dict and back.

Two names for a leaf: `keystr` paths (`['train'].params['00_dense']['w']`, checkpoints and
`save_pytree` files, loaded back into the structure of a template) and dotted ones
(`00_dense.w`, the params.safetensors layout, whose nested dicts are rebuilt from the dots).

Example:
    >>> flatten_params({"00_dense": {"w": 1}, "01_residual": {"00_dense": {"b": 2}}})
    {'00_dense.w': 1, '01_residual.00_dense.b': 2}
    >>> unflatten_params({"00_dense.w": 1})
    {'00_dense': {'w': 1}}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dlc.compiler.errors import DlcError

KeyName = Callable[[Sequence[Any]], str]
_NATIVE = {"b", "i", "u"}  # dtype kinds safetensors.numpy stores natively (plus f16/32/64)


def keystr(path: Sequence[Any]) -> str:
    """`['train'].params['00_dense']['w']`; the root leaf is `<root>`."""
    import jax

    return jax.tree_util.keystr(tuple(path)) or "<root>"


def dotted(path: Sequence[Any]) -> str:
    """`00_dense.w`: dict keys joined by dots (the params.safetensors layout)."""
    return ".".join(str(getattr(k, "key", k)) for k in path)


def named_leaves(tree: Any, name: KeyName = keystr) -> list[tuple[str, Any]]:
    """(name, leaf) in `jax.tree` order.

    Example: `named_leaves({"a": {"w": 1}}, dotted) == [("a.w", 1)]`.
    """
    import jax

    return [(name(path), leaf) for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]]


def flatten_params(tree: dict[str, Any]) -> dict[str, Any]:
    """{"00_dense": {"w": ...}} -> {"00_dense.w": ...} (the params.safetensors layout); layers
    inside blocks nest further: "01_residual.00_conv2d.kernel"."""
    return dict(named_leaves(tree, dotted))


def unflatten_params(flat: dict[str, Any]) -> dict[str, Any]:
    """The inverse of `flatten_params`: nested dicts rebuilt from the dotted names."""
    out: dict[str, Any] = {}
    for key, v in flat.items():
        *groups, name = key.split(".")
        node = out
        for g in groups:
            node = node.setdefault(g, {})
        node[name] = v
    return out


def _leaf_array(leaf: Any) -> np.ndarray:
    import jax

    if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        leaf = jax.random.key_data(leaf)
    return np.asarray(leaf)


def to_arrays(tree: Any) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Leaves keyed by `keystr` as C-contiguous numpy arrays (PRNG keys as their data); dtypes
    safetensors cannot store (bfloat16, ...) go in as same-size uints, their names in `views`."""
    arrays: dict[str, np.ndarray] = {}
    views: dict[str, str] = {}
    for key, leaf in named_leaves(tree):
        arr = _leaf_array(leaf)
        arr = arr if arr.flags.c_contiguous else arr.copy(order="C")
        if arr.dtype.kind not in _NATIVE and arr.dtype not in (np.float16, np.float32, np.float64):
            if arr.dtype.itemsize not in (1, 2, 4, 8):
                raise DlcError.single(f"cannot store leaf `{key}` of dtype {arr.dtype}")
            views[key] = str(arr.dtype)
            arr = arr.view(f"u{arr.dtype.itemsize}")
        arrays[key] = arr
    return arrays, views


def from_arrays(arrays: dict[str, np.ndarray], views: dict[str, str], like: Any, where: str) -> Any:
    """The inverse of `to_arrays` into the structure of `like`; every missing, unexpected or
    mis-shaped leaf is named in one DlcError at `where`."""
    import jax

    pairs, treedef = jax.tree_util.tree_flatten_with_path(like)
    keys = [keystr(p) for p, _ in pairs]
    missing = [k for k in keys if k not in arrays]
    unexpected = sorted(set(arrays) - set(keys))
    problems = [f"missing `{k}`" for k in missing] + [f"unexpected `{k}`" for k in unexpected]
    leaves = []
    for key, (_, tmpl) in zip(keys, pairs, strict=True):
        if key not in arrays:
            continue
        want = _leaf_array(tmpl)
        got = arrays[key]
        if key in views:
            if views[key] != str(want.dtype):
                problems.append(f"`{key}`: dtype {views[key]} in file, {want.dtype} expected")
                continue
            got = got.view(want.dtype)
        if got.shape != want.shape or got.dtype != want.dtype:
            problems.append(
                f"`{key}`: {got.dtype}{list(got.shape)} in file, "
                f"{want.dtype}{list(want.shape)} expected"
            )
            continue
        leaves.append(_restore(got, tmpl))
    if problems:
        shown = "; ".join(problems[:8]) + (
            f"; ... {len(problems) - 8} more" if problems[8:] else ""
        )
        raise DlcError.single(
            f"stored tree does not match the expected structure: {shown}",
            hint="the model or optimizer changed since this file was written; "
            "load it with the same spec, or start a new run",
            where=where,
        )
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _restore(arr: np.ndarray, tmpl: Any) -> Any:
    import jax

    if isinstance(tmpl, jax.Array):
        if jax.dtypes.issubdtype(tmpl.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(jax.numpy.asarray(arr), impl=jax.random.key_impl(tmpl))
        return jax.numpy.asarray(arr)
    if isinstance(tmpl, np.ndarray):
        return arr.copy()
    if isinstance(tmpl, np.generic):
        return arr[()]
    return type(tmpl)(arr.item())  # Python int / float / bool
