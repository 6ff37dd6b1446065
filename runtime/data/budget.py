"""How much memory the data may take (`train { memory_mb N | auto }`), and giving freed memory
back: the budget that decides whether a source is streamed from disk (`stream.py`) and how
many steps a streamed chunk holds (`train/feed.py`).

Example:
    >>> memory_budget(2)
    2097152
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import numpy as np


def trim_memory() -> None:
    """Give freed memory back to the operating system now: glibc's free pages in every
    arena (`malloc_trim`; a reading thread's arena keeps its chunks' pages otherwise) and
    pyarrow's pool, when pyarrow is loaded. A no-op where neither applies."""
    pa = sys.modules.get("pyarrow")
    if pa is not None:
        pa.default_memory_pool().release_unused()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def available_bytes() -> int:
    """The memory the system could give this process now (`MemAvailable`), else its total."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def device_free_bytes() -> int | None:
    """Free memory of the first accelerator (`memory_stats`), when JAX is already imported
    and runs on one; None on a CPU, or before JAX is imported (`dlc check` never imports it)."""
    jax = sys.modules.get("jax")
    if jax is None:
        return None
    try:
        device = jax.devices()[0]
        if device.platform == "cpu":
            return None
        stats = device.memory_stats() or {}
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    except (RuntimeError, KeyError, TypeError, ValueError):
        return None


_AGREED: list[int] = []  # `auto` as the processes of one run agreed on it (`agree_auto_budget`)


def agree_auto_budget(gather: Callable[[np.ndarray], np.ndarray] | None) -> None:
    """With several processes (`gather`: `held.Share.gather`), `auto` becomes the smallest of
    the processes' budgets, the same in each from now on: whether data streams and how many
    steps a chunk holds must not differ between processes (hosts with different free
    memory), or they would run different programs. None: `auto` is measured again each time."""
    _AGREED.clear()
    if gather is not None:
        mine = np.array([float(memory_budget("auto"))])
        _AGREED.append(int(np.asarray(gather(mine)).min()))


def memory_budget(setting: float | str) -> int:
    """Bytes the data arrays may take: `train.memory_mb` (MB = 2**20 bytes), or with `auto`
    half the memory available now: the host's, or an accelerator's when it has less (the
    data in memory is copied to the device); over several processes the value they agreed
    on (`agree_auto_budget`).

    Example:
        >>> memory_budget(1.5)
        1572864
    """
    if setting == "auto" and _AGREED:
        return _AGREED[0]
    if setting == "auto":
        free = available_bytes()
        device = device_free_bytes()
        return (free if device is None else min(free, device)) // 2
    return int(float(setting) * 2**20)
