"""Your own layers, losses and metrics: loaded only with `--plugin FILE.py`, then used like the
built-in ones; the layer conformance test runs on plugin layers too."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import test_conformance  # (a module: its tests are not collected here again)
from sklearn.metrics import r2_score

import dlc
from dlc.compiler.metrics import METRICS
from dlc.compiler.registry import LAYERS, LOSSES
from dlc.runtime.cli.main import main
from dlc.runtime.train.model import CompiledModel

PLUGINS = Path(__file__).resolve().parents[1] / "specs" / "plugins"
PLUGIN, SPEC = PLUGINS / "weather_plugin.py", PLUGINS / "swish_weather.dl"


@pytest.fixture
def clean_registries():
    """Whatever a test registers is gone afterwards (other tests list the registries)."""
    saved = dict(LAYERS.entries), dict(LOSSES.entries), dict(METRICS), set(sys.modules)
    yield
    for table, old in zip((LAYERS.entries, LOSSES.entries, METRICS), saved[:3], strict=True):
        table.clear()
        table.update(old)
    for name in set(sys.modules) - saved[3]:
        if name.startswith("dlc_plugin_"):
            del sys.modules[name]


def test_a_spec_alone_never_loads_the_plugin(clean_registries, capsys) -> None:
    assert main(["check", str(SPEC)]) == 2
    err = capsys.readouterr().err
    assert "unknown layer `swish`" in err
    assert LAYERS.get("swish") is None
    # the hint names the flag that would load it (no plugin defines `swish` yet)
    assert "A layer of your own (`@dlc.layer`): load its Python file with `--plugin" in err
    assert "a loss of your own (`@dlc.loss`)" in err  # `log_cosh`, the plugin's loss


def test_a_misspelt_layer_gets_both_hints(clean_registries, capsys) -> None:
    from dlc.compiler.errors import DlcError
    from dlc.compiler.frontend import load_spec

    with pytest.raises(DlcError) as err:
        load_spec("data { fizzbuzz }\nmodel { dens 4 }\nloss cross_entropy\noptimizer adam\n")
    hint = err.value.diagnostics[0].hint or ""
    assert hint.startswith("did you mean `dense`? Or a layer of your own") and "--plugin" in hint


def test_plugin_layer_passes_the_conformance_test(clean_registries) -> None:
    assert dlc.load_plugin(PLUGIN) == ["log_cosh", "swish", "within_2"]
    test_conformance.test_layer_conformance("swish")
    assert LAYERS.get("swish").model_validate({}).param_count((4,)) == 4


@pytest.mark.slow
def test_plugin_loss_and_metric_are_exact(clean_registries) -> None:
    dlc.load_plugin(PLUGIN)
    err = np.array([[0.1], [-3.0]])
    got = LOSSES.get("log_cosh")().per_example(jnp.asarray(err), jnp.zeros((2, 1)))
    np.testing.assert_allclose(got, np.log(np.cosh(err[:, 0])), atol=1e-6)
    model = CompiledModel.from_source(SPEC, overrides=["train.epochs=5"])
    model.fit()
    x, y = model.data.parts["test"]
    pred = np.asarray(model.predict(x))
    test = model.evaluate("test")
    assert test["test_within_2"] == pytest.approx(np.mean(np.abs(pred - y) <= 2.0), abs=1e-6)
    assert test["test_r2"] == pytest.approx(r2_score(y, pred), abs=1e-4)


@pytest.mark.slow
def test_dlc_run_with_plugin(clean_registries, tmp_path) -> None:
    args = ["run", str(SPEC), "--plugin", str(PLUGIN), "--set", "train.epochs=2"]
    assert main([*args, "--runs", str(tmp_path), "--quiet"]) == 0
    [run] = tmp_path.iterdir()
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert "valid_within_2" in last and "valid_r2" in last


def test_plugin_errors_point_at_the_plugin(clean_registries, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('import dlc\n\n\n@dlc.layer("dense")\nclass Mine(dlc.Layer):\n    pass\n')
    assert main(["check", str(SPEC), "--plugin", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:4:" in err and "layer `dense` exists already" in err
    assert main(["check", str(SPEC), "--plugin", str(tmp_path / "missing.py")]) == 2
    assert "not found" in capsys.readouterr().err
    with pytest.raises(TypeError):
        dlc.layer("not_a_layer")(int)
