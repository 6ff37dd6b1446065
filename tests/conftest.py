"""Test configuration: CPU only, and a fixture for writing small specs next to data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")

# One dlc cache for the whole run, shared by the xdist workers and the `dlc` subprocesses the
# tests start, with JAX's persistent compilation cache in it (as every `dlc run` has): the same
# programs, compiled by many tests, are compiled once per run, which on a fresh machine (no
# cache yet) is minutes of the suite. A DLC_CACHE set by the caller is used as it is.
if not os.environ.get("DLC_CACHE"):
    _run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"
    os.environ["DLC_CACHE"] = str(Path(tempfile.gettempdir()) / f"dlc-tests-{_run}")

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
