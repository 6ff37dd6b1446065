"""`train { grad_norms true }`: per-layer L2 norms of the loss gradient at evaluation epochs,
equal to a direct `jax.grad` of `program.loss` on the same rows and parameters."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dlc.runtime.train.grad_norms import GRAD_ROWS
from dlc.runtime.train.model import CompiledModel

SPECS = Path(__file__).resolve().parent.parent / "specs"
SPEC = """
data {{ csv "data/seattle-weather.csv" target=temp_max features=[temp_max, temp_min, wind]
       window 3; split valid=0.2 test=0; normalize standard }}
model {{ dense 8; sigmoid; dense 4; tanh; dense 1 }}
loss mse
optimizer adam lr=0.01
train {{ batch 64; epochs 4; eval_every 2; seed 3{extra} }}
"""


def _model(extra: str = "") -> CompiledModel:
    return CompiledModel.from_source(SPEC.format(extra=extra), base_dir=SPECS)


def test_norms_equal_direct_grad() -> None:
    m = _model("; grad_norms true")
    result = m.fit()
    hist = result.history
    keys = {k for r in hist for k in r if k.startswith("grad_norm/")}
    assert keys == {"grad_norm/00_dense", "grad_norm/02_dense", "grad_norm/04_dense"}
    # only at evaluation epochs (2 and 4), never in between
    assert [r["epoch"] for r in hist if "grad_norm/00_dense" in r] == [2, 4]
    x, y = (jnp.asarray(a) for a in m.data.parts["train"])
    x, y = x[:GRAD_ROWS], y[:GRAD_ROWS]
    assert len(m.data.parts["train"][0]) > GRAD_ROWS  # the row cap is exercised
    program = m.program(len(m.data.parts["train"][0]))
    st = result.state

    def loss(p: object) -> jax.Array:
        w = jnp.ones((x.shape[0],), jnp.float32)
        return program.loss(p, st.model_state, x, y, w, jax.random.PRNGKey(0))[0]

    grads = jax.grad(loss)(st.params)
    for key in ("00_dense", "02_dense", "04_dense"):
        direct = float(
            np.sqrt(sum(np.sum(np.square(np.asarray(g))) for g in jax.tree.leaves(grads[key])))
        )
        assert hist[-1][f"grad_norm/{key}"] == pytest.approx(direct, rel=1e-5, abs=1e-7)
        weights = jax.tree.leaves(st.params[key])
        norm = float(np.sqrt(sum(np.sum(np.square(np.asarray(w))) for w in weights)))
        assert hist[-1][f"param_norm/{key}"] == pytest.approx(norm, rel=1e-5)
    assert {k for r in hist for k in r if k.startswith("param_norm/")} == {
        "param_norm/00_dense",
        "param_norm/02_dense",
        "param_norm/04_dense",
    }


def test_norms_plot_as_one_chart_per_family(tmp_path: Path) -> None:
    """All layers' gradient norms in one grad_norm.png (a curve per layer, only at the epochs
    they were recorded, log scale when they span decades); parameter norms likewise."""
    from dlc.runtime.runs.plots import plot_run

    rows = [
        {"epoch": 1, "train_loss": 2.0},
        {"epoch": 2, "train_loss": 1.0, "grad_norm/00_dense": 1e-4, "grad_norm/02_dense": 0.5},
        {"epoch": 3, "train_loss": 0.8},
        {"epoch": 4, "train_loss": 0.7, "grad_norm/00_dense": 2e-4, "grad_norm/02_dense": 0.4},
    ]
    for r in rows:
        if "grad_norm/00_dense" in r:
            r["param_norm/00_dense"], r["param_norm/02_dense"] = r["epoch"] / 2, 2.5
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    figures: dict[str, object] = {}
    names = [p.name for p in plot_run(tmp_path, figures=figures)]
    assert "grad_norm.png" in names and "param_norm.png" in names
    assert not any(n.startswith("grad_norm_") for n in names)  # not one PNG per layer
    ax = figures["grad_norm.png"].axes[0]  # type: ignore[attr-defined]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) >= {"00_dense", "02_dense"}
    assert list(lines["00_dense"].get_xdata()) == [2, 4]  # the recorded epochs, joined
    assert ax.get_yscale() == "log"
    assert figures["param_norm.png"].axes[0].get_yscale() == "linear"  # type: ignore[attr-defined]


def test_off_by_default_leaves_records_unchanged() -> None:
    plain = _model().fit().history
    assert not any(k.startswith("grad_norm/") for r in plain for k in r)
    on = _model("; grad_norms true").fit().history
    strip = [
        {
            k: v
            for k, v in r.items()
            if k != "time" and not k.startswith(("grad_norm/", "param_norm/"))
        }
        for r in on
    ]
    assert strip == [{k: v for k, v in r.items() if k != "time"} for r in plain]


@pytest.mark.slow
def test_vanishing_gradients_spec() -> None:
    """specs/vanishing_gradients.dl: six sigmoid layers; the first layer's gradient is orders
    of magnitude smaller than the last's at every evaluation epoch."""
    m = CompiledModel.from_source(SPECS / "vanishing_gradients.dl", overrides=["train.epochs=10"])
    rows = [r for r in m.fit().history if "grad_norm/00_dense" in r]
    assert [r["epoch"] for r in rows] == [5, 10]
    for r in rows:
        assert r["grad_norm/00_dense"] < 1e-2 * r["grad_norm/10_dense"]
        assert r["grad_norm/10_dense"] < r["grad_norm/12_dense"]


def test_dlc_run_writes_weight_histograms_at_the_norm_epochs(tmp_path: Path) -> None:
    """`dlc run` with grad_norms: TensorBoard gets a histogram of each layer's weights at the
    epochs that record the norms (2 and 4 here), over all of that layer's values."""
    from dlc.runtime.cli import main
    from dlc.runtime.runs.tblog import read_histograms

    spec = tmp_path / "norms.dl"
    text = SPEC.format(extra="; grad_norms true").replace("data/", f"{SPECS}/data/")
    spec.write_text(text)
    assert main(["run", str(spec), "--runs", str(tmp_path / "runs"), "--quiet"]) == 0
    [run] = (tmp_path / "runs").iterdir()
    hist = read_histograms(run / "tensorboard")
    assert sorted({(s, t) for s, t, _ in hist}) == [
        (s, f"weights/{k}") for s in (2, 4) for k in ("00_dense", "02_dense", "04_dense")
    ]
    sizes = {t: n for _, t, n in hist}
    assert sizes["weights/00_dense"] == 3 * 3 * 8 + 8  # window 3 of 3 columns -> 8 units, + bias
