"""Every spec in specs/ passes `check` and then trains a step (issue 15): no spec may pass
`dlc check` and then crash. One epoch on at most 64 training rows, whatever the data size."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from dlc.runtime.data.idx import DEBIAN_FASHION_MNIST
from dlc.runtime.train.model import CompiledModel

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"
SPECS = sorted(p for p in SPECS_DIR.rglob("*.dl") if "plugins" not in p.parts)


@pytest.mark.slow
@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(SPECS_DIR)))
def test_spec_trains_one_step_after_check(path: Path) -> None:
    if "fashion" in path.name and not Path(DEBIAN_FASHION_MNIST).exists():
        pytest.skip("dataset-fashion-mnist is not installed")
    t0 = time.perf_counter()
    m = CompiledModel.from_source(path, overrides=["train.epochs=1"])
    x, y = (a[:64] for a in m.data.parts["train"])
    result = m.fit(x, y)
    assert np.isfinite(result.history[-1]["train_loss"]), result.history
    assert time.perf_counter() - t0 < 120
