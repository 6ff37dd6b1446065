"""The training engine shared by single runs and experiment lanes: the early-stopping rule
(table-driven against a plain-Python reference, scalar and vmapped alike), best-parameter
selection, the one steps-per-epoch formula and batch layout, dropout with a traced rate, and a
1-lane experiment that ends exactly where `CompiledModel.fit` ends (same step function)."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from testutil import max_diff

import dlc
from dlc.compiler.layers.base import Context
from dlc.compiler.layers.dropout import Dropout
from dlc.runtime.experiment import lanes as lanes_module
from dlc.runtime.experiment.lane_setup import LaneSpec
from dlc.runtime.train.batches import epoch_batches, steps_per_epoch
from dlc.runtime.train.early_stop import StopRule, improved, keep_best, start, update


def _reference(rule: StopRule, values: list[float]) -> tuple[float, int, int, int]:
    """Early stopping as the prose says it: (best, best epoch, bad epochs, stop epoch or 0)."""
    best, best_epoch, bad = math.nan, 0, 0
    for epoch, v in enumerate(values, start=1):
        if math.isnan(best):
            gain = math.isfinite(v)
        elif rule.mode == "min":
            gain = v < best - rule.min_delta
        else:
            gain = v > best + rule.min_delta
        if gain:
            best, best_epoch, bad = v, epoch, 0
        else:
            bad += 1
            if bad >= rule.patience:
                return best, best_epoch, bad, epoch
    return best, best_epoch, bad, 0


CASES = [  # (rule, monitored values per evaluation)
    (StopRule("min", 0.0, 1), [1.0, 0.9, 0.95, 0.5]),
    (StopRule("min", 0.0, 2), [1.0, 0.9, 0.95, 0.94, 0.5]),
    (StopRule("min", 0.1, 2), [1.0, 0.95, 0.85, 0.84, 0.83]),
    (StopRule("max", 0.0, 1), [0.5, 0.6, 0.6, 0.7]),
    (StopRule("max", 0.05, 3), [0.5, 0.52, 0.56, 0.57, 0.58, 0.59]),
    (StopRule("min", 0.0, 2), [math.nan, math.inf, 2.0, 3.0, 1.0]),
    (StopRule("min", 0.0, 5), [3.0, 2.0, 1.0]),
]


def _run(rule: StopRule, values: list[float], xp: Any = jnp) -> tuple[float, int, int, int]:
    s, stop_epoch = start(), 0
    for epoch, v in enumerate(values, start=1):
        s = update(rule, s, xp.float32(v), epoch, xp.bool_(stop_epoch == 0), xp=xp)
        if bool(s.stopped) and not stop_epoch:
            stop_epoch = epoch
    return float(s.best), int(s.best_epoch), int(s.bad), stop_epoch


@pytest.mark.parametrize("xp", [jnp, np], ids=["jnp", "numpy"])
@pytest.mark.parametrize(("rule", "values"), CASES)
def test_early_stop_rule_matches_the_reference(
    rule: StopRule, values: list[float], xp: Any
) -> None:
    """The one rule, traced with jnp (lanes) and on host numbers with NumPy (a single run),
    against the prose; both give the same float32 state."""
    got, want = _run(rule, values, xp), _reference(rule, values)
    assert got[1:] == want[1:]
    assert got[0] == pytest.approx(want[0], nan_ok=True)
    ref = _run(rule, values, jnp)
    assert got[1:] == ref[1:]
    assert got[0] == ref[0] or (math.isnan(got[0]) and math.isnan(ref[0]))


def test_vmapped_rule_equals_the_scalar_rule_per_lane() -> None:
    """Lanes with different values and an inactive lane: one vmapped update per epoch equals
    each lane's own scalar run (the inactive lane never changes)."""
    rule = StopRule("min", 0.05, 2)
    values = np.array([[1.0, 0.9, 0.97, 0.96, 0.5], [2.0, 1.0, 0.5, 0.4, 0.3], [1, 1, 1, 1, 1.0]])
    active = np.array([True, True, False])
    s = jax.tree.map(jnp.asarray, start(3))
    step = jax.jit(jax.vmap(lambda s, v, e, a: update(rule, s, v, e, a), (0, 0, None, 0)))
    for e in range(values.shape[1]):
        s = step(s, jnp.asarray(values[:, e], jnp.float32), e + 1, jnp.asarray(active))
        active = active & ~np.asarray(s.stopped)
    for lane in range(2):
        best, best_epoch, _, stop_epoch = _run(rule, list(values[lane]))
        assert float(s.best[lane]) == best and int(s.best_epoch[lane]) == best_epoch
        assert bool(s.stopped[lane]) == (stop_epoch > 0)
    assert np.isnan(float(s.best[2])) and int(s.best_epoch[2]) == 0 and not bool(s.stopped[2])


def test_keep_best_on_the_host_and_per_lane() -> None:
    cur, best = {"w": jnp.ones((2, 3))}, {"w": jnp.zeros((2, 3))}
    assert keep_best(False, cur, best) is best
    kept = keep_best(True, cur, best)
    assert kept["w"] is not cur["w"] and float(kept["w"].sum()) == 6.0  # a copy
    s = start(2)._replace(best_epoch=np.array([4, 2], np.int32))
    picked = keep_best(improved(s, 4), cur, best)
    np.testing.assert_array_equal(np.asarray(picked["w"]), [[1, 1, 1], [0, 0, 0]])


def test_steps_per_epoch_on_host_numbers_and_traced_counts() -> None:
    for n, batch, want in [(1000, 32, 32), (64, 64, 1), (65, 64, 2), (10, 32, 1)]:
        assert steps_per_epoch(n, batch) == want
        assert int(jax.jit(steps_per_epoch, static_argnums=1)(jnp.int32(n), batch)) == want


def test_epoch_batches_pad_the_last_batch_with_weight_zero_rows() -> None:
    """Every row once with weight 1, padding from the start of the order with weight 0; a
    shorter traced count gives whole padding batches (a lane shorter than the longest)."""
    order = jnp.asarray([4, 2, 0, 1, 3])
    idx, w = epoch_batches(order, 5, steps=2, batch=3)
    assert idx.tolist() == [[4, 2, 0], [1, 3, 4]] and w.sum() == 5 and w[1, 2] == 0
    idx, w = jax.jit(epoch_batches, static_argnums=(2, 3))(order, jnp.int32(2), 3, 2)
    assert w.tolist() == [[1, 1], [0, 0], [0, 0]] and idx[0].tolist() == [4, 2]


def test_dropout_rate_as_a_traced_value_equals_the_static_rate() -> None:
    x = jnp.arange(1.0, 41.0).reshape(4, 10)
    key = jax.random.PRNGKey(7)

    def traced(rate: jax.Array) -> jax.Array:
        ctx = Context(train=True, rng=key, overrides={"rate": rate})
        return Dropout(rate=0.9).apply({}, x, ctx)  # the override wins over the layer's 0.9

    out = jax.vmap(traced)(jnp.asarray([0.0, 0.25, 0.5]))
    for i, rate in enumerate([0.0, 0.25, 0.5]):
        static = Dropout(rate=rate).apply({}, x, Context(train=True, rng=key))
        np.testing.assert_array_equal(np.asarray(out[i]), np.asarray(static))


ONE_LANE = """
data { digits; divide 16; split valid=0.2 test=0.1 }
model { dense 16; relu; dropout 0.25; dense 10 }
loss cross_entropy
optimizer adam lr=0.01
regularize { l2 0.0001 }
train { batch 100; epochs 3; seed 4; early_stop patience=1 min_delta=0.0 }
"""


ONE_LANE_AUGMENTED = """
data { digits flat=false; divide 16; augment crop=1 flip=true brightness=0.1
       split valid=0.2 test=0.1 }
model { flatten; dense 16; relu; dense 10 }
loss cross_entropy
optimizer adam lr=0.01
train { batch 100; epochs 3; seed 4; early_stop patience=1 min_delta=0.0 }
"""


@pytest.mark.slow
@pytest.mark.parametrize("spec", [ONE_LANE, ONE_LANE_AUGMENTED], ids=["dropout", "augment"])
def test_one_lane_experiment_equals_fit_through_the_same_step(
    monkeypatch: pytest.MonkeyPatch, spec: str
) -> None:
    """A single lane on the training rows of `dlc.compile(...).fit()` ends with the same
    parameters and validation loss, and its epoch is the engine's `train_epoch`."""
    calls: list[int] = []
    original = lanes_module.train_epoch

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(lanes_module, "train_epoch", counted)
    model = dlc.compile(spec)
    model.fit()
    (xt, yt), (xv, yv) = model.data.parts["train"], model.data.parts["valid"]
    n = len(xt)
    pool_x, pool_y = np.concatenate([xt, xv]), np.concatenate([yt, yv])
    lane = LaneSpec(model.spec, 4, np.arange(n), np.arange(n, len(pool_x)), {})
    run = lanes_module.train_lanes(model.program(n), [lane], pool_x, pool_y)
    assert calls, "lanes did not train through engine.train_epoch"
    assert max_diff(jax.tree.map(lambda a: a[0], run.params), model.params) < 1e-6
    single = model.evaluate("valid")["valid_loss"]
    assert abs(float(run.metrics["valid_loss"][0]) - single) < 1e-6 * max(1.0, single)
    assert int(run.best_epoch[0]) == model.result.best_epoch
