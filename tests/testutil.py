"""Helpers shared by test modules (importable as `testutil`: pyproject puts tests/ on the path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np


def dlc_command(*args: str) -> list[str]:
    """The command line of `dlc ARGS` for a subprocess: the installed console script, or the
    same `main()` through this interpreter."""
    script = Path(sys.executable).with_name("dlc")
    if script.is_file():
        return [str(script), *args]
    return [
        sys.executable,
        "-c",
        "import sys; from dlc.runtime.cli.main import main; sys.exit(main())",
        *args,
    ]


def max_diff(a: object, b: object) -> float:
    """The largest absolute difference between the leaves of two pytrees of the same shape."""
    return max(
        float(np.max(np.abs(np.asarray(u) - np.asarray(v))))
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def run_on_devices(
    script: str, devices: int, *args: str, timeout: float = 600, **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -c SCRIPT ARGS` in a subprocess whose JAX sees `devices` simulated CPU devices
    (`--xla_force_host_platform_device_count`); `env` adds variables. Output is captured."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
            "JAX_PLATFORMS": "cpu",
            **env,
        },
        timeout=timeout,
        check=False,
    )
