"""JAX settings for command-line runs: the persistent compilation cache, so that running the
same spec again skips most of XLA's compile time.

The cache lives in `jax/` of dlc's cache folder (`$DLC_CACHE`, else `$XDG_CACHE_HOME/dlc`, else
`~/.cache/dlc`); `DLC_JAX_CACHE=0` turns it off.

Example:
    >>> enable_compilation_cache()          # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

from dlc.compiler.files import cache_root


def cache_dir() -> Path:
    """`jax/` in dlc's one cache folder (`dlc.compiler.files.cache_root`: $DLC_CACHE, ...)."""
    return cache_root() / "jax"


def enable_compilation_cache() -> Path | None:
    """Point JAX's persistent compilation cache at dlc's cache folder (idempotent)."""
    if os.environ.get("DLC_JAX_CACHE", "1") == "0":
        return None
    import jax

    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    # every program, however small: a run compiles ~40 programs of well under 0.5 s each
    # (optimizer state, evaluation per shape, predictions), together seconds of a warm run
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return folder
