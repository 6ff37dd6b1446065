"""Lazy module proxies: registry entries name `jnp`/`optax` at module level, JAX loads on first use.

Example:
    >>> np_ = LazyModule("numpy")
    >>> int(np_.add(1, 2))
    3
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    def __init__(self, name: str) -> None:
        self._name = name
        self._mod: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._mod is None:
            self._mod = importlib.import_module(self._name)
        return getattr(self._mod, attr)


jax = LazyModule("jax")
jnp = LazyModule("jax.numpy")
optax = LazyModule("optax")
