"""Experiments: the `experiment` section and its errors, folds and per-fold normalization,
lanes that equal single runs (CV with early stopping and memory chunks; dropout, L2 and schedule
lanes through `dlc.compile`), shape-changing grids as separate programs, the two specs and the
`dlc experiment` command."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from testutil import max_diff

import dlc
from dlc.compiler.errors import DlcError
from dlc.compiler.explain import to_dl
from dlc.compiler.frontend import load_spec
from dlc.runtime.cli.main import main
from dlc.runtime.experiment.folds import lane_splits, load_pool
from dlc.runtime.experiment.lane_setup import chunk_sizes, static_key
from dlc.runtime.experiment.lanes import padded_permutation
from dlc.runtime.experiment.runner import run_experiment
from dlc.runtime.train.model import CompiledModel

SPECS = Path(__file__).resolve().parents[1] / "specs"
CV = SPECS / "cv_sigmoids.dl"
GRID = SPECS / "grid_digits.dl"


def _cv_text(experiment: str) -> str:
    """specs/cv_sigmoids.dl with another `experiment` section."""
    text = CV.read_text()
    return text[: text.index("experiment {")] + experiment


def test_experiment_section_resolves_and_round_trips() -> None:
    r = load_spec(GRID)
    exp = r.spec.experiment
    assert exp is not None and exp.seeds == [0, 1, 2] and exp.folds is None
    assert [(g.key, g.values) for g in exp.grid] == [
        ("optimizer.lr", [0.001, 0.003, 0.01]),
        ("optimizer.weight_decay", [0.0001, 0.01]),
    ]
    assert r.spans["grid.1"].line == r.spans["grid.0"].line + 1
    assert load_spec(to_dl(r.spec), base_dir=SPECS).spec == r.spec


@pytest.mark.parametrize(
    ("grid", "message", "hint"),
    [
        ('grid "optimizer.lr" [0.01, -1]', "grid value `optimizer.lr=-1`", None),
        ('grid "optimizer.lrr" [0.1]', "grid value `optimizer.lrr=0.1`", "`lr`"),
        ('grid "train.seed" [1, 2]', "`train.seed` is not a grid axis", "seeds [0, 1, 2]"),
        ('grid "optimizer.lr" 0.1', "`values` of `grid`", None),
        (
            'grid "model.dense[-1]" [4]',
            "grid value `model.dense[-1]=4`: the model outputs",
            "dense 1",
        ),
        (
            'grid "model.dense" [4]',
            "grid value `model.dense=4`: `model.dense`: `model` has 2",
            "[*]",
        ),
    ],
)
def test_grid_errors_point_at_the_grid_line(grid: str, message: str, hint: str | None) -> None:
    text = _cv_text("experiment {\n  folds 3\n  " + grid + "\n}\n")
    line = text.count("\n", 0, text.index(grid)) + 1
    with pytest.raises(DlcError) as err:
        run_experiment(text, runs_root=None, base_dir=SPECS)
    rendered = err.value.render()
    assert f"<spec>:{line}:" in rendered and f"error: {message}" in rendered, rendered
    assert hint is None or hint in rendered


def test_static_key_separates_shapes_not_hyperparameters() -> None:
    def key(opt: str, *sets: str) -> str:
        model = "model { dense 8\ndropout 0.1\ndense 10 }"
        text = f"data {{ digits }}\n{model}\nloss cross_entropy\n{opt}\n"
        return static_key(load_spec(text, overrides=list(sets)).spec)

    base = key("optimizer sgd lr=0.1 momentum=0.9")
    assert (
        key("optimizer sgd lr=0.3 momentum=0.5", "model.dropout=0.4", "regularize.l2=0.1") == base
    )
    assert key("optimizer sgd lr=0.1 momentum=0.9", "schedule=cosine", "train.seed=4") == base
    assert key("optimizer sgd lr=0.1 momentum=0") != base  # no momentum trace: another state
    assert key("optimizer sgd lr=0.1 momentum=0.9", "train.batch=64") != base
    assert key("optimizer adam lr=0.1") != base
    assert chunk_sizes(5, per_lane=10, shared=0, budget=100) == [5]
    assert chunk_sizes(5, per_lane=10, shared=60, budget=100) == [3, 2]  # 4 fit: 2 chunks


def test_padded_permutation_is_jax_permutation_of_each_lane_length() -> None:
    """Lanes of different lengths share one sort; each gets the single run's permutation."""
    keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(3))
    sizes = np.array([2, 999, 1018])
    got = jax.jit(jax.vmap(lambda k, n: padded_permutation(k, n, 1018)))(keys, sizes)
    for k, n, row in zip(keys, sizes, got, strict=True):
        np.testing.assert_array_equal(row[:n], jax.random.permutation(k, int(n)))
    assert not np.array_equal(got[2, :999], jax.random.permutation(keys[2], 999))


def test_folds_partition_and_statistics_ignore_validation_rows() -> None:
    r = load_spec(CV)
    pool = load_pool(r)
    splits = lane_splits(pool, 5, seed=0, classification=False)
    valid = np.concatenate([v for _, v in splits])
    assert sorted(valid.tolist()) == list(range(len(pool.x)))  # every row validates once
    for train, v in splits:
        assert not set(train) & set(v) and len(train) + len(v) == len(pool.x)
    norm = r.spec.data.normalize
    train, v = splits[2]
    before = pool.stats(train, norm)
    pool.x[v] = pool.x[v] * 100.0 + 7.0  # the validation fold's values change...
    after = pool.stats(train, norm)
    for k in before:  # ...and its statistics do not
        np.testing.assert_array_equal(before[k], after[k])
    pool.x[train[:50]] += 1.0  # while the training rows' values do change them
    assert not np.allclose(before["shift"], pool.stats(train, norm)["shift"])


def test_folds_are_stratified_for_classification() -> None:
    pool = load_pool(load_spec(GRID))
    counts = np.bincount(pool.y)
    for _, v in lane_splits(pool, 4, seed=0, classification=True):
        assert np.all(np.abs(np.bincount(pool.y[v], minlength=10) - counts / 4) <= 1)


@pytest.mark.slow
def test_cv_lanes_equal_single_runs_with_early_stopping_and_chunks() -> None:
    """Each lane (fold k of a setting) ends with the parameters of a single `fit` on fold k's
    training rows: 2 folds x 2 learning rates, run in 2 memory chunks; the slow lanes stop
    early (improvements below min_delta) while the others go on."""
    text = _cv_text(
        'experiment {\n  folds 2\n  seeds [3]\n  grid "optimizer.lr" [0.003, 0.05]\n'
        "  memory_mb 0.5\n}\n"
    )
    sets = ["train.epochs=4", "train.early_stop.patience=1", "train.early_stop.min_delta=20"]
    said: list[str] = []
    result = run_experiment(text, overrides=sets, runs_root=None, say=said.append, base_dir=SPECS)
    chunks = [int(m.group(1)) for m in map(re.compile(r"running (\d+) chunks").search, said) if m]
    assert chunks and chunks[0] == len(result.programs) > 1, said
    stopped = [r.stopped for r in result.records]
    assert any(stopped) and not all(stopped), stopped
    base = load_spec(text, overrides=sets, base_dir=SPECS)
    pool = load_pool(base)
    splits = lane_splits(pool, 2, seed=base.spec.train.seed, classification=False)
    for i, rec in enumerate(result.records):
        setting = result.settings[rec.setting]
        model = CompiledModel.from_source(  # what dlc.compile does, with the spec's folder
            text, overrides=[*sets, *setting.overrides, "train.seed=3"], base_dir=SPECS
        )
        train, valid = splits[rec.fold]
        parts, _ = pool.arrays(train, valid, base.spec.data.normalize)
        fit = model.fit(*parts["train"], valid=parts["valid"])
        assert (rec.epochs, rec.best_epoch) == (len(fit.history), fit.best_epoch)
        assert max_diff(result.lane_params(i), model.params) < 1e-5
        single = model.evaluate(x=parts["valid"][0], y=parts["valid"][1])
        assert abs(single["eval_loss"] - rec.metrics["valid_loss"]) < 1e-4 * single["eval_loss"]


DIGITS = """
data { digits; divide 16; split valid=0.15 test=0.15 }
model { dense 32; relu; dropout 0.2; dense 10 }
loss cross_entropy
optimizer sgd lr=0.1 momentum=0.9
schedule cosine
train { batch 64; epochs 2; seed 5 }
experiment {
  grid "model.dropout" [0.0, 0.3]
  grid "regularize.l2" [0, 0.001]
  grid "schedule.steps" [10, 40]
}
"""


@pytest.mark.slow
def test_dropout_l2_and_schedule_lanes_equal_dlc_compile() -> None:
    """Lanes differing in dropout rate, L2 strength and schedule length (traced per lane, one
    program) end where `dlc.compile(...).fit()` with the same values ends."""
    result = run_experiment(DIGITS, runs_root=None, say=lambda m: None)
    assert len(result.programs) == 1 and len(result.records) == 8
    for i in (1, 6):  # every value of every axis: (0, 0, 40) and (0.3, 0.001, 10)
        model = dlc.compile(DIGITS, overrides=result.settings[result.records[i].setting].overrides)
        model.fit()
        assert max_diff(result.lane_params(i), model.params) < 1e-5
        single = model.evaluate("valid")
        assert abs(single["valid_accuracy"] - result.records[i].metrics["valid_accuracy"]) < 1e-6


def test_shape_changing_grid_runs_separate_programs() -> None:
    """A grid over the batch size changes shapes: one program per batch size, one report."""
    text = _cv_text('experiment {\n  seeds [0, 1]\n  grid "train.batch" [32, 64]\n}\n')
    sets = ["train.epochs=1", "train.shuffle=false"]
    said: list[str] = []
    result = run_experiment(text, overrides=sets, runs_root=None, say=said.append, base_dir=SPECS)
    assert [p["program"] for p in result.programs] == [1, 2]
    assert [(r.program, r.seed) for r in result.records] == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert said[0].startswith("2 settings in 2 programs")
    assert said[2].startswith("program 2/2: 2 lanes (1 settings × 2 seeds × 1 split)")
    assert result.program_count == 2
    assert len(result.summary) == 2 and sum(r["best"] for r in result.summary) == 1


def test_cv_sigmoids_spec_trains_and_reports(tmp_path: Path) -> None:
    result = run_experiment(
        CV, overrides=["train.epochs=3"], runs_root=tmp_path, say=lambda m: None
    )
    assert len(result.records) == 15 and {r.fold for r in result.records} == set(range(5))
    assert result.best is not None and result.best.overrides[0].startswith("optimizer.lr=")
    assert result.retrain["epochs"] == 3 and result.retrain["test_loss"] > 0
    assert result.path is not None
    with open(result.path / "lanes.csv") as f:
        lanes = list(csv.DictReader(f))
    assert (
        len(lanes) == 15
        and float(lanes[0]["valid_loss"]) == result.records[0].metrics["valid_loss"]
    )
    doc = json.loads((result.path / "experiment.json").read_text())
    assert doc["best"]["label"] == result.best.label and doc["folds"] == 5
    means = {r["label"]: r["valid_loss_mean"] for r in doc["summary"]}
    assert min(means, key=means.get) == result.best.label
    lr_lanes = [r.metrics["valid_loss"] for r in result.records if r.setting == 0]
    assert means[result.settings[0].label] == pytest.approx(np.mean(lr_lanes))
    assert (result.path / "params.safetensors").is_file()


def test_dlc_experiment_command_on_grid_digits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["experiment", str(GRID), "--set", "train.epochs=2", "--runs", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "18 lanes (6 settings × 3 seeds × 1 split)" in err  # a note: stderr, not with --quiet
    assert "best by valid_accuracy: optimizer.lr=" in out and "test_accuracy" in out
    (run,) = tmp_path.glob("grid_digits-experiment-*")
    with open(run / "summary.csv") as f:
        assert len(list(csv.DictReader(f))) == 6


TAGGING = """
data {
  conllu "data/ud-english-ewt/en_ewt-ud-dev.conllu" length=24
  split valid=0.2 test=0
}
model { embedding 16; dense 17 }
loss cross_entropy
optimizer adam lr=1e-3
train { batch 64; epochs 2; seed 0 }
experiment { grid "optimizer.lr" [0.01, 0.05] }
"""


@pytest.mark.slow
def test_per_token_lanes_count_real_tokens_only() -> None:
    """Lanes of a tagging spec (a label per word, sentences padded to 24) report the validation
    loss and token accuracy over real tokens, as a single run's evaluation does (padding not
    counted): lanes differing in learning rate, each against a single run."""
    result = run_experiment(TAGGING, runs_root=None, say=lambda m: None, base_dir=SPECS)
    assert len(result.records) == 2
    for rec in result.records:
        overrides = result.settings[rec.setting].overrides
        model = CompiledModel.from_source(TAGGING, overrides=overrides, base_dir=SPECS)
        model.fit()
        single = model.evaluate("valid")
        assert single["valid_accuracy"] > 0.4, single  # it learns; padding is most positions
        for key in ("valid_loss", "valid_accuracy"):
            assert abs(single[key] - rec.metrics[key]) < 1e-5, (key, single, rec.metrics)
