"""`dlc experiment --sweep KEY=V1,V2`: a grid axis from the command line, validated like `--set`,
combined with the spec's own grid."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from dlc.compiler.errors import DlcError
from dlc.runtime.cli.experiment import swept_text
from dlc.runtime.cli.main import main

DATA = Path(__file__).resolve().parents[1] / "specs" / "data" / "seattle-weather.csv"


def _spec(
    tmp_path: Path, experiment: str = 'experiment { seeds [0]; grid "optimizer.lr" [0.01, 0.1] }\n'
) -> Path:
    path = tmp_path / "tiny.dl"
    path.write_text(
        "data {\n"
        f'  csv "{DATA}" target=temp_max features=[temp_max, temp_min]\n'
        "  window 2\n  split valid=0.2 test=0.1\n  normalize standard\n}\n"
        "model { dense 1 }\nloss mse\noptimizer adam lr=0.01\n"
        "train { batch 64; epochs 2; seed 0 }\n" + experiment
    )
    return path


def test_sweep_adds_an_axis_to_the_spec_grid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path)
    runs = tmp_path / "runs"
    args = ["experiment", str(spec), "--sweep", "train.batch=16,32", "--runs", str(runs)]
    code = main([*args, "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    (report,) = runs.glob("tiny-experiment-*")  # the spec's name, not the temporary file's
    with open(report / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4  # 2 batches x 2 learning rates
    assert {(r["train.batch"], r["optimizer.lr"]) for r in rows} == {
        ("16", "0.01"),
        ("16", "0.1"),
        ("32", "0.01"),
        ("32", "0.1"),
    }
    assert spec.read_text().count('grid "') == 1  # the spec itself is untouched


def test_sweep_without_an_experiment_section_makes_one(tmp_path: Path) -> None:
    spec = _spec(tmp_path, experiment="")
    text = swept_text(str(spec), ["optimizer.lr=1e-3, 1e-2"], [])
    assert text.splitlines()[:-1] == spec.read_text().splitlines()
    assert text.splitlines()[-1] == 'experiment { grid "optimizer.lr" [1e-3, 1e-2] }'


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ("train.batch", "is not KEY=V1,V2"),
        ("train.batch=16,", "is not KEY=V1,V2"),
        ("optimizer.lr=0.1,0.2", "`optimizer.lr` has a grid already"),
        ("train.seed=1,2", "`train.seed` is not a grid axis"),
        ("train.batch=16,-3", "comes from `--sweep train.batch=16,-3`"),  # as --set refuses it
        ("train.bacth=1,2", "bacth"),
    ],
)
def test_sweep_values_are_validated_like_set(tmp_path: Path, sweep: str, message: str) -> None:
    spec = _spec(tmp_path)
    with pytest.raises(DlcError) as e:
        swept_text(str(spec), [sweep], [])
    assert message in str(e.value)
    assert "Traceback" not in str(e.value)
