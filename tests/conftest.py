"""Test configuration: CPU only, and a fixture for writing small specs next to data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")

# The tests' own dlc cache (not the user's ~/.cache/dlc), shared by the xdist workers and the
# `dlc` subprocesses the tests start, with JAX's persistent compilation cache in it (as every
# `dlc run` has): programs that many tests compile are compiled once (on an empty cache, 11 min
# 39 s -> 10 min 57 s for the suite on a 2-core machine), and a second run finds them all. A
# DLC_CACHE set by the caller is used as it is.
if not os.environ.get("DLC_CACHE"):
    os.environ["DLC_CACHE"] = str(Path(tempfile.gettempdir()) / "dlc-tests-cache")

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"


@pytest.fixture
def specs_dir() -> Path:
    return SPECS


@pytest.fixture(scope="session", autouse=True)
def _compilation_cache() -> None:
    """In-process tests compile into the run's persistent cache too (`DLC_CACHE` above)."""
    from dlc.runtime.train.jaxsetup import enable_compilation_cache

    enable_compilation_cache()
