"""`parallel { branch { ... } ... }` runs each branch on the same input and merges them exactly
as written out by hand; `select` picks features; misfits are errors at the branch's line."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dlc.compiler.layers.base import Context
from dlc.compiler.layers.branch import Branch, Parallel, Select
from dlc.compiler.layers.core import Dense
from dlc.compiler.layers.flatten import Flatten
from dlc.compiler.layers.recurrent import Gru
from dlc.runtime.cli.main import main

X = np.random.default_rng(0).normal(size=(3, 7, 4)).astype(np.float32)


@pytest.mark.parametrize("merge", ["concat", "add", "multiply"])
def test_parallel_equals_the_branches_written_out(merge: str) -> None:
    b0 = Branch(layers=(Select(index=[0, 1]), Gru(units=5)))
    b1 = Branch(layers=(Select(index=[3]), Flatten(), Dense(units=5)))
    layer = Parallel(layers=(b0, b1), merge=merge)
    params = layer.init_params(jax.random.PRNGKey(0), (7, 4))
    got = np.asarray(layer.apply(params, jnp.asarray(X), Context()))
    gru, d = params["00_branch"]["01_gru"], params["01_branch"]["02_dense"]
    first = np.asarray(Gru(units=5).apply(gru, jnp.asarray(X[..., [0, 1]]), Context()))
    second = X[..., 3] @ np.asarray(d["w"]) + np.asarray(d["b"])
    want = {
        "concat": np.concatenate([first, second], -1),
        "add": first + second,
        "multiply": first * second,
    }[merge]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert got.shape[1:] == layer.output_shape((7, 4)) == ((10,) if merge == "concat" else (5,))


def test_concat_add_multiply_by_hand() -> None:
    a, b = Dense(units=3), Branch(layers=(Select(index=[2, 0]), Dense(units=3)))
    x = jnp.asarray(X[:, 0])  # (3, 4)
    for merge in ("concat", "add", "multiply"):
        layer = Parallel(layers=(a, b), merge=merge)
        p = layer.init_params(jax.random.PRNGKey(1), (4,))
        ya = x @ p["00_dense"]["w"] + p["00_dense"]["b"]
        q = p["01_branch"]["01_dense"]
        yb = x[:, jnp.array([2, 0])] @ q["w"] + q["b"]
        want = {"concat": jnp.concatenate([ya, yb], -1), "add": ya + yb, "multiply": ya * yb}
        got = layer.apply(p, x, Context())
        np.testing.assert_allclose(got, want[merge], rtol=1e-6)
        assert got.shape[1:] == layer.output_shape((4,))
        # gradients reach both branches
        g = jax.grad(lambda p, layer=layer: jnp.sum(layer.apply(p, x, Context()) ** 2))(p)
        assert float(jnp.abs(g["00_dense"]["w"]).sum()) > 0
        assert float(jnp.abs(g["01_branch"]["01_dense"]["w"]).sum()) > 0


def test_misfit_branches_are_errors_at_the_branch(tmp_path, specs_dir, capsys) -> None:
    text = (specs_dir / "branch_weather.dl").read_text()
    data = str((specs_dir / "data" / "seattle-weather.csv").resolve())
    text = text.replace("data/seattle-weather.csv", data)
    bad = tmp_path / "bad.dl"
    bad.write_text(text.replace("flatten; dense 8; relu", "dense 8"))  # (7, 8) vs (16,)
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "select [2, 3]" in s)
    assert f"bad.dl:{line}:" in err and "merge=concat" in err, err
    bad.write_text(text.replace("select [2, 3]", "select [2, 9]"))
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"bad.dl:{line}:" in err and "select [9]" in err, err


@pytest.mark.slow
def test_branch_weather_beats_the_mean(specs_dir) -> None:
    from dlc.runtime.train.model import CompiledModel

    model = CompiledModel.from_source(specs_dir / "branch_weather.dl")
    model.fit()
    assert model.evaluate("valid")["valid_loss"] < 14.5  # the training mean: about 29 (°C)²
