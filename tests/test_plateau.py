"""`schedule plateau`: the learning rate is cut by `factor` when the epoch's training loss stops
improving for `patience` epochs (Optax's reduce_on_plateau inside the jitted step): the cuts
follow the rule computed by hand from the logged losses, cross-validation lanes (folds of
different sizes, so different epoch lengths) equal single runs, and misuse is a located error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from testutil import max_diff

import dlc
from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import load_spec
from dlc.runtime.experiment.folds import lane_splits, load_pool
from dlc.runtime.experiment.runner import run_experiment
from dlc.runtime.train.model import CompiledModel

SPECS = Path(__file__).resolve().parents[1] / "specs"

TEXT = """data { digits; divide 16 }
model { dense 32; relu; dense 10 }
loss cross_entropy
optimizer sgd lr=0.5 momentum=0.9
schedule plateau(0.5, patience=2, rtol=0.2)
train { batch 64; epochs 24; shuffle false }
"""


def expected_lrs(losses: list[float], lr: float, factor: float, patience: int, rtol: float):
    """The lr after each epoch by the reduce-on-plateau rule (no cooldown)."""
    best, bad, scale, out = float("inf"), 0, 1.0, []
    for loss in losses:
        if loss < (1 - rtol) * best:
            best, bad = loss, 0
        else:
            bad += 1
        if bad == patience:
            scale, bad = scale * factor, 0
        out.append(lr * scale)
    return out


def test_cuts_follow_the_rule_on_the_logged_losses() -> None:
    """256 rows in batches of 64: the epoch's mean minibatch loss (what the rule reads) is the
    logged training loss, so the cuts can be recomputed from the log."""
    model = dlc.compile(TEXT)
    x, y = model.data.parts["train"]
    fit = model.fit(x[:256], y[:256])
    losses = [h["train_loss"] for h in fit.history]
    lrs = [h["lr"] for h in fit.history]
    want = expected_lrs(losses, 0.5, 0.5, 2, 0.2)
    assert np.allclose(lrs, want, rtol=1e-6), (lrs, want)
    assert len(set(want)) >= 3  # at least two cuts happened


def test_plateau_is_only_the_last_part_of_then() -> None:
    text = TEXT.replace("plateau(0.5, patience=2, rtol=0.2)", "plateau then cosine")
    with pytest.raises(DlcError) as err:
        load_spec(text)
    assert "<spec>:5:10:" in str(err.value) and "last part of `then`" in str(err.value)
    assert load_spec(TEXT.replace("schedule plateau(", "schedule warmup(10) then plateau("))


CV = (SPECS / "cv_sigmoids.dl").read_text()
CV = CV[: CV.index("experiment {")].replace(
    "schedule warmup(100) then cosine",
    "schedule warmup(20) then plateau(0.5, patience=1, rtol=0.3)",
)
CV += "experiment {\n  folds 5\n}\n"


@pytest.mark.slow
def test_lanes_with_folds_of_different_sizes_equal_single_runs() -> None:
    """Each fold's lane counts its own epochs (its own number of steps) and ends where a single
    run on that fold's training rows ends."""
    sets = ["train.epochs=8", "train.early_stop.patience=100", "train.batch=76"]
    result = run_experiment(CV, overrides=sets, runs_root=None, say=lambda m: None, base_dir=SPECS)
    base = load_spec(CV, overrides=sets, base_dir=SPECS)
    pool = load_pool(base)
    splits = lane_splits(pool, 5, seed=base.spec.train.seed, classification=False)
    steps = {-(-len(train) // 76) for train, _ in splits}
    assert len(steps) > 1, steps  # the folds' epochs differ in length (13 and 14 steps)
    cuts = []
    for i, rec in enumerate(result.records):
        model = CompiledModel.from_source(CV, overrides=sets, base_dir=SPECS)
        train, valid = splits[rec.fold]
        parts, _ = pool.arrays(train, valid, base.spec.data.normalize)
        fit = model.fit(*parts["train"], valid=parts["valid"])
        cuts.append(fit.history[-1]["lr"] < 0.01)
        diff = max_diff(result.lane_params(i), model.params)
        assert diff < 1e-5, (rec.fold, diff)
    assert all(cuts)  # the plateau rule fired in every fold
