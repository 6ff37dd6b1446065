"""JAX settings for command-line runs: the persistent compilation cache, so that running the
same spec again skips most of XLA's compile time.

The cache lives in `$DLC_CACHE/jax` (default `~/.cache/dlc/jax`); `DLC_JAX_CACHE=0` turns it
off.

Example:
    >>> enable_compilation_cache()          # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    base = os.environ.get("DLC_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "dlc"
    )
    return Path(base) / "jax"


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
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return folder
