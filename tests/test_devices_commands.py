"""`--devices N` on `dlc experiment` and `dlc analyze`: the lanes (and the retrained model) and
the analysis' loss evaluations run over N devices and equal one device's. Run on 2 simulated
CPU devices in a subprocess (`XLA_FLAGS=--xla_force_host_platform_device_count=2`).

Tolerance: 1e-5 relative for the analysis' loss, gradient norm and Hessian extremes and for
the lanes' metrics; the split loss compiles to a program with an all-reduce."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from testutil import run_on_devices

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import jax, numpy as np
    from dlc.runtime.analysis.landscape import make_loss
    from dlc.runtime.cli.main import main
    from dlc.runtime.experiment.runner import run_experiment
    from dlc.runtime.train.model import CompiledModel
    from dlc.runtime.train.sharding import mesh_for
    assert jax.device_count() == 2, jax.devices()
    tmp, specs = Path(sys.argv[1]), Path(sys.argv[2])

    def close(a, b):
        return abs(a - b) <= 1e-5 * max(1.0, abs(a))

    # 1. analyze: the full-batch loss, gradient norm and Hessian extremes, 1 and 2 devices
    linear = str(specs / "linear.dl")
    reports = []
    for extra in ([], ["--devices", "2"]):
        out = tmp / f"a{len(extra)}"
        assert main(["analyze", linear, "--at", "init", "--out", str(out), "--n", "5", *extra]) == 0
        reports.append(json.loads((out / "report.json").read_text()))
    one, two = reports
    for key in ("grad_norm", "min_eig", "max_eig"):
        assert close(one["hessian"][key], two["hessian"][key]), (key, one, two)
    assert close(one["loss"], two["loss"]), (one["loss"], two["loss"])
    assert all(close(u, v) for u, v in zip(one["line"]["loss"], two["line"]["loss"])) \\
        if "line" in one else True
    print(f"analyze loss {one['loss']!r} / {two['loss']!r}")
    m = CompiledModel.from_source(linear)
    program = m.program(len(m.data.parts["train"][0]))
    params, model_state = program.init(jax.random.key(0))
    loss = make_loss(program, model_state, *m.data.parts["train"], mesh_for(2))
    assert "all-reduce" in jax.jit(loss).lower(params).compile().as_text()

    # 2. experiment: lanes and the retrained model over 2 devices, by --devices
    cv = str(specs / "cv_sigmoids.dl")
    sets = ["train.epochs=3", "experiment.folds=2"]
    a = run_experiment(cv, overrides=sets, runs_root=None, say=lambda m: None)
    b = run_experiment(cv, overrides=sets, runs_root=None, say=lambda m: None, devices=2)
    w = b.retrained.state.params["00_dense"]["w"]
    assert len(w.sharding.device_set) == 2, w.sharding
    for ra, rb in zip(a.records, b.records):
        assert all(close(ra.metrics[k], rb.metrics[k]) for k in ra.metrics), (ra, rb)
    assert all(close(a.retrain[k], b.retrain[k]) for k in a.retrain if k.startswith("test_"))
    # more devices than there are: exit 2 naming --devices
    assert main(["experiment", cv, "--devices", "4", "--runs", str(tmp / "x")]) == 2
    print("OK")
""")


@pytest.mark.slow
def test_experiment_and_analyze_take_devices(tmp_path: Path) -> None:
    out = run_on_devices(SCRIPT, 2, str(tmp_path), str(ROOT / "specs"), DLC_JAX_CACHE="0")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert "OK" in out.stdout, out.stdout
