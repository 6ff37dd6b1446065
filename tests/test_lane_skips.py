"""How lanes skip updates: when every lane has the same number of steps an inactive lane skips
its whole epoch at once (`lanes.make_lane_functions`, `uniform`), otherwise every step selects
(`engine.train_step`); both end where single runs end."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from testutil import max_diff

import dlc
from dlc.runtime.experiment.lane_setup import LaneSpec
from dlc.runtime.experiment.lanes import train_lanes

SPEC = """
data { digits; divide 16; split valid=0.2 }
model { dense 16; relu; dense 10 }
loss cross_entropy
optimizer adam lr=0.01
train { batch 32; epochs 3; seed 2 }
"""


def _pool(model: dlc.CompiledModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    (xt, yt), (xv, yv) = model.data.parts["train"], model.data.parts["valid"]
    valid = np.arange(len(xt), len(xt) + len(xv))
    return np.concatenate([xt, xv]), np.concatenate([yt, yv]), valid


@pytest.mark.slow
def test_lanes_of_different_step_counts_equal_each_lane_alone() -> None:
    """96 and 130 rows in batches of 32: 3 and 5 steps, so the shorter lane skips padding steps
    one by one; each lane alone (the whole-epoch path) ends at the same parameters."""
    model = dlc.compile(SPEC)
    x, y, valid = _pool(model)
    lanes = [
        LaneSpec(model.spec, 2, rows, valid, {}) for rows in (np.arange(96), np.arange(100, 230))
    ]
    program = model.program(130)
    both = train_lanes(program, lanes, x, y)
    for k, lane in enumerate(lanes):
        alone = train_lanes(program, [lane], x, y)
        assert max_diff(jax.tree.map(lambda a, k=k: a[k], both.params), alone.params) < 1e-5


@pytest.mark.slow
def test_a_lane_stopped_after_one_epoch_keeps_that_epochs_parameters() -> None:
    """Two lanes of 96 rows (the whole-epoch path); lane 0 is stopped at the first evaluation
    and ends where a 1-epoch `fit` on its rows ends, lane 1 where a 3-epoch `fit` ends."""
    model = dlc.compile(SPEC)
    x, y, valid = _pool(model)
    rows = [np.arange(96), np.arange(100, 196)]
    lanes = [LaneSpec(model.spec, 2, r, valid, {}) for r in rows]
    run = train_lanes(
        model.program(96),
        lanes,
        x,
        y,
        on_eval=lambda epoch, values, active: np.array([epoch == 1, False]),
    )
    assert run.epochs.tolist() == [1, 3]
    for k, epochs in enumerate((1, 3)):
        single = dlc.compile(SPEC, overrides=[f"train.epochs={epochs}"])
        single.fit(x[rows[k]], y[rows[k]])
        assert max_diff(jax.tree.map(lambda a, k=k: a[k], run.params), single.params) < 1e-6
