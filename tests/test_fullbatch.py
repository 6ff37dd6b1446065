"""Small full-batch models take the fast path: one batch holding every row is neither shuffled
nor gathered (the order of rows inside one batch cannot matter: results differ from a permuted
batch only by float rounding), and epochs with nothing due on the host run several to a jitted
call with one transfer per call, giving the same history as one epoch per call."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from testutil import max_diff

from dlc.runtime.train.batches import data_order
from dlc.runtime.train.engine import train_epoch
from dlc.runtime.train.loop import due_epochs, evaluate_parts, train_loop
from dlc.runtime.train.model import CompiledModel
from dlc.runtime.train.step import SINGLE, Diverged

SPEC = """
data {{ csv "data/seattle-weather.csv" target=temp_max features=[temp_max, temp_min, wind]
       window 3; split valid=0 test=0; normalize standard }}
model {{ dense 8; sigmoid; dropout {drop}; dense 1 }}
loss mse
optimizer adam lr=0.01
train {{ batch 5000; epochs {epochs}; seed 1; shuffle {shuffle} }}
"""
SPECS = Path(__file__).resolve().parent.parent / "specs"


def _model(epochs: int = 12, shuffle: str = "true", drop: float = 0.0) -> CompiledModel:
    text = SPEC.format(drop=drop, epochs=epochs, shuffle=shuffle)
    return CompiledModel.from_source(text, base_dir=SPECS)


def _xy(m: CompiledModel) -> tuple[jax.Array, jax.Array]:
    x, y = m.data.parts["train"]
    return jnp.asarray(x), jnp.asarray(y)


def test_one_batch_epoch_has_no_sort_and_no_gather() -> None:
    m = _model()
    x, y = _xy(m)
    fns = m.functions(len(x))
    assert fns.steps_per_epoch == 1
    text = fns.epoch.lower(fns.init(1), x, y, jnp.int32(0)).as_text()
    assert "sort" not in text and "gather" not in text


def test_full_batch_ignores_shuffle_and_a_permuted_batch_differs_by_rounding() -> None:
    a, b = _model(shuffle="true"), _model(shuffle="false")
    a.fit(), b.fit()
    assert max_diff(a.params, b.params) == 0.0
    # the former path: the rows of the one batch gathered in a permuted order each epoch
    x, y = _xy(a)
    n = len(x)
    program = a.program(n)
    state = a.functions(n).init(a.spec.train.seed)
    for e in range(a.spec.train.epochs):
        order = data_order(state.key, jnp.int32(e), n, True)
        state, _ = train_epoch(program, state, x, y, order, n, SINGLE, batch=n)
    assert 0.0 <= max_diff(jax.tree.map(np.asarray, state.params), a.params) < 1e-5


def test_several_epochs_per_call_give_the_one_epoch_history() -> None:
    m = _model(epochs=12)
    x, y = _xy(m)
    fns = m.functions(len(x))
    assert fns.epochs is not None and fns.epochs_per_call == 12
    seen: list[int] = []
    result = m.fit(on_epoch=lambda rec, st, lp: seen.append(rec["epoch"]))
    assert seen == list(range(1, 13))
    assert [r["step"] for r in result.history] == list(range(1, 13))
    state = fns.init(m.spec.train.seed)
    for e in range(12):
        state, stats = fns.epoch(state, x, y, jnp.int32(e))
        assert float(stats["loss"]) == pytest.approx(result.history[e]["train_loss"], rel=1e-6)
    assert max_diff(jax.tree.map(np.asarray, state.params), m.params) < 1e-6


def test_due_epochs_cut_the_calls() -> None:
    m = _model(epochs=10)
    t = m.spec.train.model_copy(update={"eval_every": 3, "checkpoint_every": 4})
    due = due_epochs(t, {"valid": None}, checkpoints=True)
    assert [e for e in range(1, 11) if due(e)] == [3, 4, 6, 8, 9, 10]
    x, y = _xy(m)
    calls: list[int] = []
    fns = m.functions(len(x))
    original = fns.epochs
    assert original is not None

    def counted(*args: object) -> object:
        calls.append(int(args[4]))  # type: ignore[call-overload]
        return original(*args)

    fast = fns.__class__(**{**fns.__dict__, "epochs": counted})
    t = t.model_copy(update={"eval_every": 1})
    result = train_loop(fast, fns.init(1), {"train": (x, y)}, t)
    assert calls == [10] and len(result.history) == 10


def test_divergence_inside_a_call_names_its_epoch() -> None:
    m = CompiledModel.from_source(
        SPECS / "diverge.dl",
        overrides=["train.batch=5000", "train.epochs=400", "train.eval_every=1000"],
    )
    with pytest.raises(Diverged) as err:
        m.fit()
    ep = err.value.epoch
    assert 1 < ep < 400 and err.value.step == ep


def test_final_evaluation_in_one_program_equals_one_part_at_a_time() -> None:
    text = SPEC.format(drop=0.0, epochs=2, shuffle="true").replace("valid=0 ", "valid=0.2 ")
    m = CompiledModel.from_source(text.replace("test=0", "test=0.2"), base_dir=SPECS)
    m.fit()
    parts = {k: tuple(jnp.asarray(a) for a in v) for k, v in m.data.parts.items()}
    one_by_one = evaluate_parts(m._fns, m.state, parts, ("train", "valid", "test"))
    together = m.evaluate()
    assert together.keys() == one_by_one.keys() and "test_loss" in together
    for k, v in together.items():
        assert v == pytest.approx(one_by_one[k], rel=1e-6)
    assert m.evaluate("valid") == {k: v for k, v in together.items() if k.startswith("valid_")}


def test_validation_fused_into_the_call_equals_a_separate_evaluation() -> None:
    text = SPEC.format(drop=0.0, epochs=6, shuffle="true").replace("valid=0 ", "valid=0.2 ")
    m = CompiledModel.from_source(text.replace("batch 5000", "batch 64"), base_dir=SPECS)
    t = m.spec.train.model_copy(update={"eval_every": 3})
    fns = m.functions(len(m.data.parts["train"][0]))
    assert fns.epochs_eval is not None and fns.steps_per_epoch > 1
    parts = {k: tuple(jnp.asarray(a) for a in v) for k, v in m.data.parts.items()}
    result = train_loop(fns, fns.init(1), parts, t)
    assert [("valid_loss" in r) for r in result.history] == [False, False, True] * 2
    separate = evaluate_parts(fns, result.state, parts, ("valid",))["valid_loss"]
    assert result.history[-1]["valid_loss"] == pytest.approx(separate, rel=1e-6)
