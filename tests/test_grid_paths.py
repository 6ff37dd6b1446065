"""Paths into the model for `--set` and `grid` (compiler/paths.py): every form, on the spec as
written (repeat counts, settings inside `repeat`, residual and named blocks, block arguments,
which layer stands at a place); errors at the path with did-you-mean; a grid over depths runs
one program per shape group with lanes equal to single runs; `dlc check` checks grid paths."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from testutil import max_diff

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import load_spec
from dlc.compiler.paths import valid_paths
from dlc.runtime.cli.experiment import print_report
from dlc.runtime.cli.main import main
from dlc.runtime.experiment.runner import run_experiment
from dlc.runtime.train.model import CompiledModel

SPECS = Path(__file__).resolve().parents[1] / "specs"
DATA = "data/seattle-weather.csv"

SPEC = f"""data {{ csv "{DATA}" target=temp_max features=[temp_max, temp_min]; window 3 }}
block hidden(width=8, act=relu) {{
  dense width
  act
}}
model {{
  repeat 2 {{ hidden }}
  dropout 0.1
  residual {{ dense 4; tanh }}
  dense 4
  dropout 0.2
  dense 1
}}
loss mse
optimizer adam
"""


def layers(*sets: str, text: str = SPEC) -> list[tuple[Any, ...]]:
    """(name, units or rate) of each layer after the overrides (a residual: its inner ones)."""

    def row(layer: Any) -> tuple[Any, ...]:
        if layer.dl_name == "residual":
            return ("residual", [row(inner) for inner in layer.layers])
        value = getattr(layer, "units", getattr(layer, "rate", None))
        return (layer.dl_name,) if value is None else (layer.dl_name, value)

    r = load_spec(text, overrides=list(sets), base_dir=SPECS)
    return [row(layer) for layer in r.spec.model.layers]


BASE = [
    ("dense", 8),
    ("relu",),
    ("dense", 8),
    ("relu",),
    ("dropout", 0.1),
    ("residual", [("dense", 4), ("tanh",)]),
    ("dense", 4),
    ("dropout", 0.2),
    ("dense", 1),
]


def _with(changes: dict[int, tuple[Any, ...]], base: list[Any] = BASE) -> list[Any]:
    return [changes.get(i, row) for i, row in enumerate(base)]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model.repeat=3", [("dense", 8), ("relu",), *BASE]),  # the count
        ("model.repeat=1", BASE[2:]),
        ("model.repeat.hidden.act=sigmoid", _with({1: ("sigmoid",), 3: ("sigmoid",)})),  # an arg
        ("model.repeat.hidden.width=16", _with({0: ("dense", 16), 2: ("dense", 16)})),
        ("model.repeat.hidden.dense.units=5", _with({0: ("dense", 5), 2: ("dense", 5)})),  # inside
        ("model.dense[0].units=7", _with({6: ("dense", 7)})),  # the 1st dense of `model`
        ("model.dense[0]=7", _with({6: ("dense", 7)})),  # its positional setting
        ("model.dense[-1].units=1", BASE),  # the last one
        ("model.dropout[1]=0.5", _with({7: ("dropout", 0.5)})),
        ("model.dropout[*]=0.3", _with({4: ("dropout", 0.3), 7: ("dropout", 0.3)})),  # all
        ("model.dropout[*].rate=0.3", _with({4: ("dropout", 0.3), 7: ("dropout", 0.3)})),
        ("model.residual.dense.units=2", _with({5: ("residual", [("dense", 2), ("tanh",)])})),
        ("model.residual.tanh=relu", _with({5: ("residual", [("dense", 4), ("relu",)])})),  # kind
        ("model.dropout[0]=identity", _with({4: ("identity",)})),  # a layer in its place
        ("model.dense[0]=leaky_relu", _with({6: ("leaky_relu",)})),
    ],
)
def test_each_path_form_changes_what_it_names(override: str, expected: list[Any]) -> None:
    assert layers(override) == expected


def test_paths_through_a_named_block_change_that_use_only() -> None:
    text = SPEC.replace("repeat 2 { hidden }", "hidden\n  hidden width=3")
    base = layers(text=text)
    assert base[:4] == [("dense", 8), ("relu",), ("dense", 3), ("relu",)]
    got = layers("model.hidden[1].dense.units=5", "model.hidden[0].act=tanh", text=text)
    assert got[:4] == [("dense", 8), ("tanh",), ("dense", 5), ("relu",)]
    # the block's own definition is unchanged for a later use of it
    assert layers("model.hidden[0].dense.units=5", text=text)[2] == ("dense", 3)


def test_overrides_combine_and_grid_points_resolve_alike() -> None:
    got = layers("model.repeat=1", "model.repeat.hidden.act=sigmoid", "model.repeat.hidden.width=6")
    assert got[:2] == [("dense", 6), ("sigmoid",)] and len(got) == len(BASE) - 2
    # a path into a block copies it for that use; later paths still name it `hidden`
    got = layers(
        "model.repeat.hidden.dense.units=5",
        "model.repeat.hidden.act=tanh",
        "model.repeat.hidden.dense.units=6",
        "model.repeat.hidden.dense.bias=false",
    )
    assert got[:2] == [("dense", 6), ("tanh",)]


@pytest.mark.parametrize(
    ("override", "message", "hint"),
    [
        (
            "model.dens.units=3",
            "`model.dens.units`: `model` has no `dens`",
            "`model.dense[0].units`",
        ),
        ("model.dropout=0.5", "`model` has 2 `dropout` (lines 8, 11)", "`model.dropout[*]`"),
        ("model.dense[3].units=3", "`model` has 2 `dense` (lines 10, 12): no [3]", "[-1]"),
        ("model.repeat.hiden.act=tanh", "`model.repeat` has no `hiden`", "model.repeat.hidden.act"),
        ("model.residual.dense.unit=3", "`dense` has no setting `unit`", "`units`"),
        ("model.dense[0].units.x=1", "is a layer without a block", "units"),
        ("model=3", "`model` is a block of layers", "model.repeat=3"),
        ("model.residual=3", "`residual` holds a block of layers", "LAYER.SETTING"),
        ("optimizer[0].lr=0.1", "only paths into `model` take [i]", "model.dense[0].units"),
        ("model.dense[x]=1", "is not a dotted name", "model.dense[0].units"),
    ],
)
def test_bad_paths_are_errors_at_the_override_with_a_hint(
    override: str, message: str, hint: str
) -> None:
    with pytest.raises(DlcError) as err:
        load_spec(SPEC, overrides=["train.epochs=1", override], base_dir=SPECS)
    (d,) = err.value.diagnostics
    assert message in d.message, d.message
    assert d.span is not None and d.span.file == "--set[1]", d.span  # located at the --set
    assert d.hint is not None and hint in d.hint, d.hint


def test_a_bad_repeat_count_points_at_the_value() -> None:
    with pytest.raises(DlcError) as err:
        load_spec(SPEC, overrides=["model.repeat=0"], base_dir=SPECS)
    (d,) = err.value.diagnostics
    assert "`repeat` takes a count" in d.message
    assert d.span is not None and (d.span.file, d.span.column) == ("--set[0]", 14)


def test_valid_paths_list_every_place_with_indices() -> None:
    from dlc.compiler.ast import build_ast
    from dlc.compiler.parser import parse_text

    paths = valid_paths(build_ast(parse_text(SPEC, "x"), "x"))
    for p in [
        "model.repeat",
        "model.repeat.hidden.width",
        "model.repeat.hidden.act",
        "model.repeat.hidden.dense.units",
        "model.dropout[1].rate",
        "model.residual.tanh",
        "model.residual.projection",
        "model.dense[1].units",
    ]:
        assert p in paths, p
    for p in paths:  # each one is a path that resolves
        value = "relu" if p.endswith(("act", ".tanh", ".relu")) else "2"
        value = "0.5" if "dropout" in p else value
        if p.rsplit(".", 1)[-1] in {"init", "bias", "projection", "residual"}:
            continue
        load_spec(SPEC, overrides=[f"{p}={value}"], base_dir=SPECS)


GRID = f"""data {{
  csv "{DATA}" target=temp_max features=[temp_max, temp_min]
  window 3
  split valid=0.2 test=0.1
  normalize standard
}}
model {{
  repeat 1 {{ dense 6; tanh; dropout 0.1 }}
  dense 1
}}
loss mse
optimizer adam lr=0.01
train {{ batch 128; epochs 2 }}
experiment {{
  seeds [0, 1]
  grid "model.repeat" [1, 2]
  grid "model.repeat.dropout" [0.0, 0.2]
}}
"""


@pytest.mark.slow
def test_grid_over_repeat_counts_runs_one_program_per_shape_group(tmp_path: Path) -> None:
    """2 depths x 2 dropout rates: the rate is traced per lane, the depth changes shapes, so
    2 programs of 4 lanes each; every lane ends where a single run with its overrides ends, on
    its training, validation and test rows alike."""
    said: list[str] = []
    result = run_experiment(GRID, runs_root=tmp_path, say=said.append, base_dir=SPECS)
    assert result.program_count == 2 and said[0].startswith("4 settings in 2 programs")
    assert [p["lanes"] for p in result.programs] == [4, 4]
    assert result.path is not None  # the report says how many programs ran, printed and saved
    assert json.loads((result.path / "experiment.json").read_text())["programs_run"] == 2
    out = io.StringIO()
    print_report(Console(file=out, width=200), result)
    assert "2 programs ran (8 lanes" in out.getvalue(), out.getvalue()
    assert "train loss" in out.getvalue() and "test loss" in out.getvalue()
    for rec in result.records:  # the programs are the depths
        assert rec.program == result.settings[rec.setting].values["model.repeat"]
    for i in (1, 6):  # (depth 1, rate 0, seed 1) and (depth 2, rate 0.2, seed 0)
        rec = result.records[i]
        setting = result.settings[rec.setting]
        depth = setting.values["model.repeat"]
        sets = [*setting.overrides, f"train.seed={rec.seed}"]
        model = CompiledModel.from_source(GRID, overrides=sets, base_dir=SPECS)  # dlc.compile
        assert len(model.spec.model.layers) == 3 * depth + 1
        model.fit()
        assert max_diff(result.lane_params(i), model.params) < 1e-5
        for part in ("train", "valid", "test"):
            single = model.evaluate(part)[f"{part}_loss"]
            assert abs(single - rec.metrics[f"{part}_loss"]) < 1e-4 * max(1.0, single), part


def test_check_reports_bad_grid_paths_at_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GRID.replace('grid "model.repeat.dropout"', 'grid "model.repeat.dropot"')
    spec = tmp_path / "bad.dl"
    spec.write_text(text.replace(DATA, str(SPECS / DATA)))
    line = text.splitlines().index('  grid "model.repeat.dropot" [0.0, 0.2]') + 1
    assert main(["check", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"bad.dl:{line}:3: error: grid value `model.repeat.dropot=0.0`" in err, err
    assert "did you mean `model.repeat.dropout`" in err, err
    spec.write_text(GRID.replace(DATA, str(SPECS / DATA)).replace("[1, 2]", "[1, 0]"))
    assert main(["check", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "grid value `model.repeat=0`: `repeat` takes a count" in err, err
    # each grid point's shapes too: 3 outputs against one target, at the grid line
    shapes = GRID.replace('grid "model.repeat.dropout"', 'grid "model.dense.units"')
    spec.write_text(shapes.replace("[0.0, 0.2]", "[1, 3]").replace(DATA, str(SPECS / DATA)))
    assert main(["check", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"bad.dl:{line}:3: error: grid value `model.dense.units=3`: the model outputs" in err


def test_check_counts_grid_points_and_programs_without_jax() -> None:
    code = (
        "import json, sys\n"
        "from dlc.runtime.cli.main import main\n"
        f"code = main(['check', {str(SPECS / 'depth_activation.dl')!r}])\n"
        "print(json.dumps({'code': code, 'jax': sorted(m for m in sys.modules\n"
        "    if m.split('.')[0] in ('jax', 'jaxlib', 'optax'))}))\n"
    )
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    *lines, last = proc.stdout.strip().splitlines()
    assert json.loads(last) == {"code": 0, "jax": []}
    assert any(
        line.startswith("grid: 8 settings, each with valid shapes; 8 programs") for line in lines
    )


def test_grid_points_put_layers_in_place_and_sweeps_take_paths() -> None:
    """Each axis's values are checked on the spec as written; a grid point applies them
    together (one value replaces the `relu` that the axis's own path names)."""
    from dlc.runtime.cli.experiment import sweep_axes
    from dlc.runtime.experiment.programs import grid_settings, static_key

    text = GRID.replace(
        'grid "model.repeat.dropout" [0.0, 0.2]', 'grid "model.repeat.tanh" [tanh, relu]'
    )
    base = load_spec(text, base_dir=SPECS)
    settings = grid_settings(text, [], base)
    kinds = [[layer.dl_name for layer in s.resolved.spec.model.layers] for s in settings]
    assert kinds == [
        ["dense", "tanh", "dropout", "dense"],
        ["dense", "relu", "dropout", "dense"],
        ["dense", "tanh", "dropout"] * 2 + ["dense"],
        ["dense", "relu", "dropout"] * 2 + ["dense"],
    ]
    assert len({static_key(s.resolved.spec) for s in settings}) == 4  # 4 programs
    spec = SPECS / "relu_deep.dl"
    assert sweep_axes(str(spec), ["model.repeat=1,2", "model.repeat.relu=relu,tanh"], []) == [
        ("model.repeat", ["1", "2"]),
        ("model.repeat.relu", ["relu", "tanh"]),
    ]
    with pytest.raises(DlcError) as err:
        sweep_axes(str(spec), ["model.repeet=1,2"], [])
    (d,) = err.value.diagnostics
    assert d.where == "--sweep model.repeet=1,2" and d.hint and "`model.repeat`" in d.hint


def test_the_language_server_completes_grid_paths() -> None:
    from dlc.runtime.lsp.features import completions

    lines = SPEC.replace("loss mse\n", 'loss mse\nexperiment {\n  grid "model.repeat.hi\n}\n')
    text = lines.rstrip("\n")
    row = text.split("\n").index('  grid "model.repeat.hi')
    got = {(c.label, c.insert) for c in completions(text, row, len('  grid "model.repeat.hi'))}
    assert ("model.repeat.hidden.act", "hidden.act") in got
    assert ("model.repeat.hidden.dense.units", "hidden.dense.units") in got
    assert all(label.startswith("model.repeat.hi") for label, _ in got)
