"""Parameter declarations: every parameter of a layer says its shape, its role and its init.

A layer's `params(in_shape)` returns {name: Param} (layers holding a block nest their inner
layers' declarations by key). The role, not the name, decides behaviour: L1/L2 penalize the
roles in `PENALIZED` (weights and embedding tables, never biases, scales or learned position
and token vectors); a parameter without an explicit `init` gets its role's default.

Example:
    >>> p = Param((3, 4), "weight")
    >>> p.penalized, p.init_name, Param((4,), "bias").init_name
    (True, 'glorot_uniform', 'zeros')
    >>> shapes_of({"w": p, "inner": {"b": Param((4,), "bias")}})
    {'w': (3, 4), 'inner': {'b': (4,)}}
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args

from dlc.compiler.lazy import jax, jnp

Shape = tuple[int, ...]

# weight: mixes inputs (dense/conv kernels, projections); embedding: a token table;
# bias: an added offset; scale: a multiplying gain; position / token: learned vectors added to
# or put in front of a sequence
Role = Literal["weight", "embedding", "bias", "scale", "position", "token"]
ROLES: tuple[str, ...] = get_args(Role)
PENALIZED: frozenset[str] = frozenset({"weight", "embedding"})  # what L1/L2 sum over


def embedding_init(key: Any, shape: Shape, dtype: Any = None) -> Any:
    """Normal with standard deviation 1/√dim (dim = the last axis): vectors of about unit
    length, small enough for a few training steps to move them far."""
    return jax.random.normal(key, shape, dtype or jnp.float32) * shape[-1] ** -0.5


INITIALIZERS = {
    "glorot_uniform": lambda: jax.nn.initializers.glorot_uniform(),
    "glorot_normal": lambda: jax.nn.initializers.glorot_normal(),
    "he_uniform": lambda: jax.nn.initializers.he_uniform(),
    "he_normal": lambda: jax.nn.initializers.he_normal(),
    "lecun_uniform": lambda: jax.nn.initializers.lecun_uniform(),
    "lecun_normal": lambda: jax.nn.initializers.lecun_normal(),
    "normal": lambda: jax.nn.initializers.normal(1.0),
    "orthogonal": lambda: jax.nn.initializers.orthogonal(),
    "zeros": lambda: jax.nn.initializers.zeros,
    "ones": lambda: jax.nn.initializers.ones,
    "embedding": lambda: embedding_init,
}

DEFAULT_INIT: dict[str, str] = {
    "weight": "glorot_uniform",
    "embedding": "embedding",
    "bias": "zeros",
    "scale": "ones",
    "position": "embedding",
    "token": "embedding",
}


@dataclass(frozen=True)
class Param:
    """One parameter: its shape, its role and (optionally) its initializer's name."""

    shape: Shape
    role: Role
    init: str | None = None  # a key of INITIALIZERS; None: the role's default

    @property
    def init_name(self) -> str:
        return self.init or DEFAULT_INIT[self.role]

    @property
    def penalized(self) -> bool:
        return self.role in PENALIZED

    def initialize(self, key: Any) -> Any:
        return INITIALIZERS[self.init_name]()(key, tuple(self.shape), jnp.float32)


ParamTree = Mapping[str, Union[Param, "ParamTree"]]  # {name: Param}, blocks nest by key


def shapes_of(tree: ParamTree) -> dict[str, Any]:
    """{name: shape}, nested like the declarations."""
    return {k: shapes_of(v) if isinstance(v, Mapping) else tuple(v.shape) for k, v in tree.items()}


def count_of(tree: ParamTree) -> int:
    """Number of parameter values declared in `tree`."""
    return sum(count_of(v) if isinstance(v, Mapping) else math.prod(v.shape) for v in tree.values())


def leaves(tree: ParamTree, prefix: str = "") -> Iterator[tuple[str, Param]]:
    """(dotted path, Param) of every declaration, e.g. ("00_dense.w", Param(...))."""
    for k, v in tree.items():
        if isinstance(v, Mapping):
            yield from leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def prefixed(prefix: str, tree: dict[str, Param]) -> dict[str, Param]:
    """The declarations with names prefixed (`q_w` -> `enc0_q_w`)."""
    return {f"{prefix}{k}": v for k, v in tree.items()}
