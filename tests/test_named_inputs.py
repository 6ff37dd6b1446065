"""Issue 14, named inputs: `data { input NAME [columns] }` groups feature columns, the model's
`input NAME` reads one group; the forward pass equals one written out in NumPy from the CSV's
columns by name; `dlc.load(...).predict` takes the same named inputs; mistakes are located."""

from __future__ import annotations

import csv
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dlc
from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import load_spec
from dlc.runtime.data.prepare import prepare

SPECS = Path(__file__).resolve().parents[1] / "specs"
CSV = SPECS / "data" / "seattle-weather.csv"

SPEC = f"""data {{
  csv "{CSV}" target=temp_max features=[temp_max, temp_min, precipitation, wind]
  input temps [temp_max, temp_min]
  input rain ["precipitation:wind"]
  window 2
  split train=1
}}
model {{
  parallel {{
    branch {{ input temps; dense 3 }}
    branch {{ input rain; dense 2; relu }}
  }}
  dense 1
}}
loss mse
optimizer adam
train {{ epochs 1; batch 256 }}
"""


def _columns() -> dict[str, np.ndarray]:
    with CSV.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in ("temp_max", "temp_min", "wind")} | {
        "precipitation": np.array([float(r["precipitation"]) for r in rows])
    }


def _by_hand(params: dict, cols: dict[str, np.ndarray]) -> np.ndarray:
    """The model written out: each row's window of 2 days, each group's columns by name."""
    n = len(cols["temp_max"])
    t = np.arange(2, n)

    def group(names: list[str]) -> np.ndarray:  # day t-2's columns, then day t-1's
        return np.stack([cols[c][t - d] for d in (2, 1) for c in names], axis=1)

    p = params["00_parallel"]
    a = group(["temp_max", "temp_min"]) @ p["00_branch"]["01_dense"]["w"]
    a = a + p["00_branch"]["01_dense"]["b"]
    b = group(["precipitation", "wind"]) @ p["01_branch"]["01_dense"]["w"]
    b = np.maximum(b + p["01_branch"]["01_dense"]["b"], 0)
    d = params["01_dense"]
    return np.concatenate([a, b], axis=1) @ d["w"] + d["b"]


def test_two_named_inputs_equal_the_model_written_out() -> None:
    model = dlc.compile(SPEC)
    assert model.data.inputs == {
        "temps": ["temp_max", "temp_min"],
        "rain": ["precipitation", "wind"],
    }
    # positions in the flat (day, feature) input: features temp_max, temp_min, precipitation, wind
    assert model.data.input_index == {"temps": (0, 1, 4, 5), "rain": (2, 3, 6, 7)}
    assert [i.out_shape for i in model.infos] == [(5,), (1,)]
    x, y = model.data.parts["train"]
    program = model.program(len(x))
    params, _ = program.init(jax.random.PRNGKey(0))
    got = np.asarray(program.apply(params, {}, jnp.asarray(x), train=False)[0])
    params = _as_numpy(params)
    want = _by_hand(params, _columns())
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert np.allclose(y[:, 0], _columns()["temp_max"][2:])


def _as_numpy(tree: dict) -> dict:
    return {
        k: _as_numpy(v) if isinstance(v, dict) else np.asarray(v, np.float64)
        for k, v in tree.items()
    }


def test_one_branch_zeroed_equals_a_one_input_model() -> None:
    """With the `rain` branch's dense weights and bias at 0 (so relu gives 0), the two-input
    model equals the one-input model `input temps; dense 3; dense 1` on the same weights."""
    two = dlc.compile(SPEC)
    one = dlc.compile(
        SPEC.replace(
            "  parallel {\n    branch { input temps; dense 3 }\n    branch { input rain; dense 2; "
            "relu }\n  }\n  dense 1",
            "  input temps\n  dense 3\n  dense 1",
        )
    )
    assert [i.name for i in one.infos] == ["input", "dense", "dense"]
    p2, _ = two.program(8).init(jax.random.PRNGKey(1))
    d3 = p2["00_parallel"]["00_branch"]["01_dense"]
    p1 = {"01_dense": d3, "02_dense": {"w": p2["01_dense"]["w"][:3], "b": p2["01_dense"]["b"]}}
    zero = {k: jnp.zeros_like(v) for k, v in p2["00_parallel"]["01_branch"]["01_dense"].items()}
    p2 = {**p2, "00_parallel": {**p2["00_parallel"], "01_branch": {"01_dense": zero}}}
    x = jnp.asarray(two.data.parts["train"][0])
    out2 = two.program(len(x)).apply(p2, {}, x, train=False)[0]
    out1 = one.program(len(x)).apply(p1, {}, x, train=False)[0]
    np.testing.assert_allclose(np.asarray(out2), np.asarray(out1), rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_predict_takes_the_named_inputs(tmp_path: Path) -> None:
    from dlc.runtime.runs.session import run_spec

    spec = tmp_path / "s.dl"
    spec.write_text(SPEC)
    run = run_spec(spec, runs_root=tmp_path / "runs").run.path
    model = dlc.load(run)
    cols = _columns()
    table = {k: v[:10] for k, v in cols.items()}
    by_columns = model.predict(table)
    named = {
        "temps": np.stack([cols["temp_max"][:10], cols["temp_min"][:10]], 1),
        "rain": np.stack([cols["precipitation"][:10], cols["wind"][:10]], 1),
    }
    np.testing.assert_allclose(model.predict(named), by_columns, rtol=1e-6)
    # prepared arrays, by name: what `input NAME` reads (2 days x 2 columns each, oldest first)
    win = {
        name: np.array([[cols[c][t] for t in (0, 1) for c in group]])
        for name, group in (
            ("temps", ["temp_max", "temp_min"]),
            ("rain", ["precipitation", "wind"]),
        )
    }
    np.testing.assert_allclose(model.predict(win, prepared=True)[0], by_columns[0], rtol=1e-5)
    with pytest.raises(DlcError) as err:
        model.predict({"temp": win["temps"], "rain": win["rain"]}, prepared=True)
    assert "did you mean `temps`" in (err.value.diagnostics[0].hint or "")
    with pytest.raises(DlcError) as err:
        model.predict({"temps": named["temps"][:, :1], "rain": named["rain"]})
    assert "needs one row of 2 values" in err.value.diagnostics[0].message


def _error(text: str) -> DlcError:
    with pytest.raises(DlcError) as err:
        resolved = load_spec(text)
        prepare(resolved)
        dlc.compile(text)
    return err.value


def test_unknown_input_name_is_located_with_did_you_mean() -> None:
    err = _error(SPEC.replace("branch { input rain;", "branch { input rains;"))
    d = err.diagnostics[0]
    assert "declares no input `rains`" in d.message and d.span.line == 11
    assert "did you mean `rain`?" in (d.hint or "")
    err = _error(
        SPEC.replace("  input temps [temp_max, temp_min]\n", "").replace(
            '  input rain ["precipitation:wind"]\n', ""
        )
    )
    assert "declare it in the data section" in (err.diagnostics[0].hint or "")


def test_bad_groups_are_errors_at_the_input_line() -> None:
    err = _error(SPEC.replace("[temp_max, temp_min]", "[temp_max, tmin]"))
    d = err.diagnostics[0]
    assert d.span.line == 3 and "column `tmin` is not in the features" in d.message
    assert "did you mean `temp_min`?" in (d.hint or "")
    err = _error(SPEC.replace("input rain", "input temps"))
    assert "declared twice" in err.diagnostics[0].message and err.diagnostics[0].span.line == 4
    err = _error(SPEC.replace("branch { input temps; dense 3 }", "branch { dense 3; input temps }"))
    d = err.diagnostics[0]
    assert "reads the model's input" in d.message and d.span.line == 10


def test_sources_without_names_take_positions() -> None:
    """fizzbuzz rows are 10 binary digits: `#1` .. `#10`; images and tokens have no columns."""
    text = (
        'data {\n  fizzbuzz\n  input low ["#1:#5"]\n  input high [6, "#10"]\n}\n'
        "model {\n  parallel {\n    branch { input low; dense 4 }\n"
        "    branch { input high; dense 4 }\n  }\n}\n"
        "loss cross_entropy\noptimizer adam\n"
    )
    data = prepare(load_spec(text))
    assert data.input_index == {"low": (0, 1, 2, 3, 4), "high": (5, 9)}
    err = _error(text.replace('"#10"', '"#11"'))
    d = err.diagnostics[0]
    assert d.span.line == 4 and "position 11 is outside the feature list's 1..10" in d.message
    err = _error(text.replace("fizzbuzz", "seq2seq reverse n=50 test=10"))
    d = err.diagnostics[0]
    assert d.span.line == 3 and "gives no feature columns" in d.message


def test_hash_of_specs_without_inputs_is_unchanged() -> None:
    """`Data.input` is left out of the canonical JSON while empty (`hash_omit`)."""
    from dlc.compiler.explain import canonical_json

    r = load_spec(SPECS / "branch_weather.dl")
    assert '"input"' not in canonical_json(r.spec)
    assert '"input":[' in canonical_json(load_spec(SPEC).spec)


def test_check_lists_the_named_inputs(tmp_path: Path, capsys) -> None:
    import json

    from dlc.runtime.cli.main import main

    spec = tmp_path / "s.dl"
    spec.write_text(SPEC)
    assert main(["check", str(spec), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["inputs"] == {
        "temps": {"columns": ["temp_max", "temp_min"], "shape": [4]},
        "rain": {"columns": ["precipitation", "wind"], "shape": [4]},
    }
    assert main(["check", str(spec)]) == 0
    assert "input `temps` (4,): temp_max, temp_min" in capsys.readouterr().out
