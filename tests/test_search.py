"""`experiment { search random|bayes ... }`: the block and its located errors, the distribution
table, unchanged hashes of specs without it, Optuna missing, and (with Optuna) a search that is
deterministic for its seed, ranks its trials, reports intermediate values, writes its report
and a retrained run folder, and whose lanes equal single runs of the trials' settings."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import sys
from pathlib import Path

import pytest
from testutil import max_diff

from dlc.compiler.errors import DlcError
from dlc.compiler.explain import canonical_json, to_dl
from dlc.compiler.frontend import load_spec
from dlc.runtime.cli.main import main

SPECS = Path(__file__).resolve().parents[1] / "specs"

TINY = """
data { digits; divide 16; split valid=0.15 test=0.15 }
model { dense 16; relu; dropout 0.1; dense 10 }
loss cross_entropy
optimizer adam lr=0.001
train { batch 64; epochs 2; seed 1 }
experiment {
  search bayes trials=4 batch=2 seed=7 prune=true {
    param "optimizer.lr" loguniform(1e-3, 0.3)
    param "model.dropout" uniform(0, 0.5)
    param "train.batch" choice([32, 64])
  }
  retrain true
}
"""


def _with(search_line: str, params: str) -> str:
    """TINY with `search SEARCH_LINE { param P1 \n param P2 ... }` (params split at `;`)."""
    head = TINY[: TINY.index("  search")]
    lines = "".join(f"    param {p.strip()}\n" for p in params.split(";") if p.strip())
    return f"{head}  search {search_line} {{\n{lines}  }}\n}}\n"


def test_search_block_resolves_and_round_trips() -> None:
    r = load_spec(SPECS / "search_digits.dl")
    s = r.spec.experiment.search
    assert (s.method, s.trials, s.batch, s.prune) == ("bayes", 24, 8, True)
    assert [(p.key, p.dist.dl_name) for p in s.param] == [
        ("optimizer.lr", "loguniform"),
        ("optimizer.weight_decay", "loguniform"),
        ("model.dropout", "uniform"),
        ("train.batch", "choice"),
    ]
    assert r.spans["param.1"].line == r.spans["param.0"].line + 1
    # `dlc explain` text loads back (expanded: its paths unchecked, as for a grid)
    assert load_spec(to_dl(r.spec), base_dir=SPECS, check_grid_paths=False).spec == r.spec


def test_specs_without_search_keep_their_hash() -> None:
    """`search` is left out of the canonical JSON while absent: grid specs hash as before."""
    r = load_spec(SPECS / "grid_digits.dl")
    assert '"search"' not in canonical_json(r.spec)
    text = canonical_json(r.spec)
    assert r.hash() == hashlib.sha256(text.encode()).hexdigest()


LR, BATCH = '"optimizer.lr"', '"train.batch"'
BAD = [
    ("bayes", f"{LR} logunifrom(1e-4, 1)", "unknown distribution", "`loguniform`"),
    ("bayes", f"{LR} loguniform(0.1, 1e-4)", "`low` must be below", None),
    ("bayes", f"{LR} loguniform(0, 1)", "greater than 0", None),
    ("bayse", f"{LR} uniform(0, 1)", "'random' or 'bayes'", "`bayes`"),
    ("bayes", '"optimizer.lrr" uniform(0.1, 1)', "searched value `optimizer.lrr=0.1`", "`lr`"),
    ("bayes", f"{BATCH} uniform(16, 64)", "valid integer", None),
    ("bayes", f"{BATCH} choice([32, -1])", "`train.batch=-1`", None),
    ("bayes", '"train.seed" choice([1, 2])', "`train.seed` is not", "seeds"),
    ("bayes", f"{LR} uniform(0.1, 1); {LR} uniform(0.1, 1)", "searched already", None),
    ("bayes", f"{BATCH} intuniform(16, 65, step=8)", "multiple of `step`", None),
    ("bayes", "", "at least one `param", None),
    ("bayes trial=4", f"{LR} uniform(0.1, 1)", "no setting `trial`", "`trials`"),
]


@pytest.mark.parametrize(("search", "params", "message", "hint"), BAD)
def test_search_errors_are_located(
    search: str, params: str, message: str, hint: str | None
) -> None:
    text = _with(search, params)
    with pytest.raises(DlcError) as e:
        load_spec(text)
    d = e.value.diagnostics[0]
    assert len(e.value.diagnostics) == 1, e.value.diagnostics  # no follow-on errors
    assert message in d.message, d.message
    assert d.span is not None and d.span.line >= text[: text.index("search")].count("\n") + 1
    if hint:
        assert hint in (d.hint or ""), d.hint


def test_grid_and_search_cannot_be_combined() -> None:
    text = TINY.replace("  retrain true", '  grid "optimizer.lr" [0.1]')
    with pytest.raises(DlcError, match="cannot be combined") as e:
        load_spec(text)
    assert e.value.diagnostics[0].span.line == text[: text.index("grid")].count("\n") + 1


def test_dlc_check_validates_the_search_block(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.dl"
    bad.write_text(TINY.replace("loguniform(1e-3", "loguniform(-1"))
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.dl:9:" in err and "loguniform" in err
    assert main(["check", str(SPECS / "search_digits.dl")]) == 0


def test_dlc_check_infers_shapes_at_searched_values(tmp_path: Path, capsys) -> None:
    """`dlc check` infers the layer shapes at each range's ends and every choice; an error is
    at the `param` line that caused it, and a good search is summarized."""
    spec = tmp_path / "s.dl"
    params = f'{LR} loguniform(1e-3, 0.3); "model.dense[-1].units" choice([10, 5])'
    text = _with("bayes trials=4", params)
    spec.write_text(text)
    assert main(["check", str(spec)]) == 2
    err = capsys.readouterr().err
    line = text[: text.index('"model.dense')].count("\n") + 1
    assert f"s.dl:{line}:" in err and "`model.dense[-1].units=5`" in err, err
    assert main(["check", str(SPECS / "search_digits.dl")]) == 0
    assert "search: bayes, 24 trials, 8 at a time" in capsys.readouterr().out


def test_missing_optuna_names_the_extra(monkeypatch) -> None:
    from dlc.runtime.experiment.runner import run_experiment

    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` raises ImportError
    with pytest.raises(DlcError, match="needs Optuna") as e:
        run_experiment(TINY, runs_root=None, say=lambda m: None)
    assert "pip install 'dlc[search]'" in (e.value.diagnostics[0].hint or "")
    assert e.value.diagnostics[0].span.line == 8


def test_ranking_order() -> None:
    from dlc.runtime.experiment.search_report import ranked

    trials = [
        {"trial": 0, "state": "complete", "value": 0.5},
        {"trial": 1, "state": "pruned", "value": 0.1},
        {"trial": 2, "state": "failed", "value": math.nan},
        {"trial": 3, "state": "complete", "value": 0.2},
        {"trial": 4, "state": "complete", "value": 0.2},
    ]
    assert ranked(trials, "valid_loss") == [3, 4, 0, 1, 2]
    assert ranked(trials, "valid_accuracy") == [0, 3, 4, 1, 2]


@pytest.mark.slow
def test_search_is_deterministic_ranked_reported_and_lanes_equal_single_runs(
    tmp_path: Path,
) -> None:
    """Two runs with the sampler's seed ask the same trials and get the same values; trials.csv
    ranks them by value; each trial reported its intermediate values (pruned ones stopped
    early); the best is retrained as a run folder; a trial's lane equals `fit` of its settings."""
    pytest.importorskip("optuna")
    from dlc.runtime.experiment.runner import run_experiment
    from dlc.runtime.train.model import CompiledModel

    a = run_experiment(TINY, runs_root=tmp_path, say=lambda m: None)
    b = run_experiment(TINY.replace("retrain true", ""), runs_root=None, say=lambda m: None)
    assert [t["params"] for t in a.trials] == [t["params"] for t in b.trials]
    assert [t["value"] for t in a.trials] == pytest.approx([t["value"] for t in b.trials], 1e-6)
    assert len(a.trials) == 4 and [t["round"] for t in a.trials] == [1, 1, 2, 2]
    assert len({t["params"]["train.batch"] for t in a.trials}) == 2  # two shape groups
    lane_of = {r.setting: r for r in a.records}  # one lane per trial
    assert sorted(lane_of) == [t["trial"] for t in a.trials]
    for t in a.trials:
        rec = lane_of[t["trial"]]
        assert t["value"] == pytest.approx(rec.metrics["valid_loss"])
        assert sorted(t["intermediate"]) == list(range(1, rec.epochs + 1))
        assert (rec.epochs < 2) == (t["state"] == "pruned")
    # ranking: complete trials by value, the best one starred and retrained
    rows = list(csv.DictReader((a.path / "trials.csv").open()))
    done = [r for r in rows if r["state"] == "complete"]
    assert [float(r["valid_loss"]) for r in done] == sorted(float(r["valid_loss"]) for r in done)
    assert int(rows[0]["trial"]) == a.best.index and rows[0]["rank"] == "1"
    assert (a.path / "search.png").stat().st_size > 10_000
    doc = json.loads((a.path / "experiment.json").read_text())
    assert doc["search"]["method"] == "bayes" and len(doc["search"]["trials"]) == 4
    assert (Path(a.retrain["run"]) / "params.safetensors").exists()
    # the lane of a complete trial equals a single run of its settings
    t = next(t for t in a.trials if t["state"] == "complete")
    setting = a.settings[t["trial"]]
    model = CompiledModel.from_source(TINY, overrides=setting.overrides)
    model.fit()
    lane = next(i for i, r in enumerate(a.records) if r.setting == t["trial"])
    assert max_diff(a.lane_params(lane), model.params) < 1e-5
    single = model.evaluate("valid")
    assert single["valid_loss"] == pytest.approx(a.records[lane].metrics["valid_loss"], rel=1e-5)
