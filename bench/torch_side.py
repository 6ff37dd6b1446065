"""The benchmarks' PyTorch eager side: torch imported only if it is installed, pinned first.

With the default OpenMP wait policy, PyTorch's idle threads spin, and on 2 loaded cores a run
was 35x slower (issue 19); so `OMP_WAIT_POLICY=PASSIVE` is set before torch is imported (a
value already in the environment wins) and the thread count is fixed: `$BENCH_THREADS`, or 2.
PyTorch is never a dependency of dlc: without it, a bench prints a note and skips the side.
"""

from __future__ import annotations

import os
from typing import Any


def threads() -> int:
    """The thread count every side is given: `$BENCH_THREADS`, or 2."""
    return int(os.environ.get("BENCH_THREADS") or 2)


def load_torch(skip: bool = False) -> Any | None:
    """The `torch` module, pinned (wait policy, threads), or None with a printed note."""
    if skip:
        print("PyTorch side: skipped (--no-torch)")
        return None
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
    except ImportError:
        print("PyTorch side: skipped (torch is not installed; dlc does not need it)")
        return None
    torch.set_num_threads(threads())
    print(
        f"PyTorch {torch.__version__} eager: {torch.get_num_threads()} threads, "
        f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
    )
    return torch


def child_env(env: dict[str, str]) -> dict[str, str]:
    """A child process's environment with the same pins (for a PyTorch script run apart)."""
    return {"OMP_WAIT_POLICY": "PASSIVE", **env, "BENCH_THREADS": str(threads())}
