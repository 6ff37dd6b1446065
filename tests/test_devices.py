"""`train { devices N }` and `dlc run --devices N`: data-parallel training over a device mesh
(the batch split along a "data" axis, the state replicated) equals one device's training to
float rounding, for `fit`, `dlc run`, `--resume` and the final evaluation, with row and batch
counts the device count does not divide. Run on 4 simulated CPU devices in a subprocess
(`XLA_FLAGS=--xla_force_host_platform_device_count=4`).

Tolerance: parameters within rtol 1e-5 / atol 1e-5 of one device's (measured: |diff| below
1e-7 after 3 epochs of the MLP, below 1e-6 after the CLI runs), final metrics within 1e-5."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from testutil import run_on_devices

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import load_spec

ROOT = Path(__file__).resolve().parents[1]
WEATHER = ROOT / "specs" / "data" / "seattle-weather.csv"

SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import numpy as np, jax, dlc
    from safetensors.numpy import load_file
    from dlc.runtime.cli.main import main
    from dlc.runtime.runs.session import run_spec
    assert jax.device_count() == 4, jax.devices()
    tmp, weather = Path(sys.argv[1]), sys.argv[2]

    def maxdiff(a, b):
        return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)

    # 1. fit on arrays: 511 rows, batch 50 (neither divisible by 2 or 4)
    spec = '''
    data { digits }
    model { dense 32; relu; dense 10 }
    loss cross_entropy
    optimizer adam lr=0.01
    train { batch 50; epochs 3; seed 1 }
    '''
    rng = np.random.default_rng(0)
    x = rng.normal(size=(511, 64)).astype(np.float32)
    y = rng.integers(0, 10, 511).astype(np.int32)
    one = dlc.compile(spec); one.fit(x, y)
    flat = lambda m: {f"{k}/{n}": v for k, d in m.params.items() for n, v in d.items()}
    for d in (2, 4):
        m = dlc.compile(spec); m.fit(x, y, devices=d)
        w = m.state.params["00_dense"]["w"]
        assert len(w.sharding.device_set) == d and w.sharding.is_fully_replicated
        diff = maxdiff(flat(one), flat(m))
        assert diff < 1e-5, (d, diff)
        ev1, evd = one.evaluate(x=x, y=y), m.evaluate(x=x, y=y)
        assert all(abs(ev1[k] - evd[k]) < 1e-5 for k in ev1), (ev1, evd)
        print(f"fit devices={d} maxdiff={diff:.3g}")
    # a host loop over jitted calls of 4 steps (`steps_per_call 4`) shards the same way
    m4 = dlc.compile(spec.replace("seed 1", "seed 1; steps_per_call 4"))
    m4.fit(x, y, devices=2)
    diff = maxdiff(flat(one), flat(m4))
    assert diff < 1e-5, diff
    print(f"fit steps_per_call=4 devices=2 maxdiff={diff:.3g}")
    # the compiled epoch is partitioned: each device takes a slice of the batch and the
    # gradients are all-reduced (not every device computing the whole batch)
    from dlc.runtime.train.sharding import shard_rows
    xs, ys = shard_rows(x, m.mesh(4)), shard_rows(y, m.mesh(4))
    hlo = m._fns.epoch.lower(m.state, xs, ys, np.int32(0)).compile().as_text()
    assert "all-reduce" in hlo
    # 2. `dlc run --devices 2`, its resume, and one device: the same run to float rounding
    spec_file = tmp / "w.dl"
    spec_file.write_text(f'''
    data {{
      csv "{weather}" target=temp_max features=[temp_max, temp_min, wind]
      window 3
      split valid=0.15 test=0.15
      normalize standard
    }}
    model {{ dense 16; relu; dropout 0.3; dense 1 }}
    loss mse
    optimizer adam lr=0.01
    schedule plateau(0.5, patience=2, rtol=0.05)
    train {{ batch 63; epochs 6; seed 3; checkpoint_every 1; early_stop patience=1000 }}
    ''')
    def run(name, *extra):
        assert main(["run", str(spec_file), "--runs", str(tmp / name), "--quiet", *extra]) == 0
        (folder,) = [p for p in (tmp / name).rglob("params.safetensors")]
        res = json.loads((folder.parent / "results.json").read_text())
        return load_file(folder), res
    p1, r1 = run("one")
    p2, r2 = run("two", "--devices", "2")

    class Stop(Exception):
        pass

    def stop(record):
        if record["epoch"] == 3:
            raise Stop
    try:
        run_spec(spec_file, runs_root=tmp / "resumed", devices=2, on_epoch=stop, warn=lambda m: 0)
    except Stop:
        pass
    p3, r3 = run("resumed", "--devices", "2", "--resume")
    d12, d23 = maxdiff(p1, p2), maxdiff(p2, p3)
    print(f"run maxdiff one/two={d12:.3g} two/resumed-two={d23:.3g}")
    assert d12 < 1e-5 and d23 < 1e-5, (d12, d23)
    f1 = {(p, k): v for p, d in r1["metrics"].items() for k, v in d.items()}
    f2 = {(p, k): v for p, d in r2["metrics"].items() for k, v in d.items()}
    assert f1.keys() == f2.keys() and f1, (f1, f2)
    rel = max(abs(f1[k] - f2[k]) / max(1.0, abs(f1[k])) for k in f1)
    print(f"final metrics max relative diff one/two={rel:.3g}")
    assert rel < 1e-5, (f1, f2)
    # 3. more devices than there are: a located error, exit status 2, nothing trained
    assert main(["run", str(spec_file), "--runs", str(tmp / "x"), "--devices", "8"]) == 2
    # a shipped spec on every device, by --set
    linear = str(Path(weather).parents[1] / "linear.dl")
    sets = ["--set", "train.devices=all", "--set", "train.epochs=3"]
    assert main(["run", linear, "--runs", str(tmp / "x"), "--quiet", *sets]) == 0
    print("OK")
""")


@pytest.mark.slow
def test_data_parallel_equals_one_device(tmp_path: Path) -> None:
    out = run_on_devices(SCRIPT, 4, str(tmp_path), str(WEATHER), COLUMNS="200")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert "OK" in out.stdout
    assert "JAX sees 4 devices" in out.stderr


@pytest.mark.parametrize("bad", ["0", "-1", "true", '"x"', "1.5"])
def test_devices_setting_is_validated(bad: str) -> None:
    src = "data { digits }\nmodel { dense 10 }\nloss cross_entropy\noptimizer sgd lr=0.1\n"
    with pytest.raises(DlcError, match="devices"):
        load_spec(src + f"train {{ devices {bad} }}\n")


def test_devices_setting_accepts_numbers_and_all() -> None:
    src = "data { digits }\nmodel { dense 10 }\nloss cross_entropy\noptimizer sgd lr=0.1\n"
    assert load_spec(src + "train { devices all }\n").spec.train.devices == "all"
    assert load_spec(src + "train { devices 2 }\n").spec.train.devices == 2
    assert load_spec(src).spec.train.devices == 1


def test_too_many_devices_is_a_located_error() -> None:
    src = "data { digits }\nmodel { dense 10 }\nloss cross_entropy\noptimizer sgd lr=0.1\n"
    import dlc

    with pytest.raises(DlcError, match=r"train.devices is 64, but JAX sees \d+ device") as err:
        dlc.compile(src + "train { devices 64 }\n").fit()
    assert "<spec>:5" in str(err.value)


LANES = textwrap.dedent("""
    import sys
    import numpy as np, jax
    from dlc.runtime.experiment.runner import run_experiment
    assert jax.device_count() == 4, jax.devices()
    out = {}
    for d in (1, 2, 4):  # 15 lanes (5 folds x 3 learning rates): uneven over 2 and 4 devices
        sets = ["train.epochs=8", f"train.devices={d}"]
        out[d] = run_experiment(sys.argv[1], overrides=sets, runs_root=None, say=lambda m: None)
    ref = out[1]
    for d in (2, 4):
        r = out[d]
        assert len(r.records) == len(ref.records) == 15
        dm = max(
            abs(a.metrics[k] - b.metrics[k]) / max(1.0, abs(a.metrics[k]))
            for a, b in zip(ref.records, r.records)
            for k in a.metrics
        )
        pa, pb = (jax.tree.leaves(x.runs[0][1].params) for x in (ref, r))
        dp = max(float(np.max(np.abs(a - b))) for a, b in zip(pa, pb))
        dt = abs(ref.retrain["test_loss"] - r.retrain["test_loss"]) / ref.retrain["test_loss"]
        print(f"lanes devices={d} metric reldiff={dm:.3g} param maxdiff={dp:.3g} retrain={dt:.3g}")
        assert dm < 1e-5 and dp < 1e-5 and dt < 1e-5, (dm, dp, dt)
    print("OK")
""")


@pytest.mark.slow
def test_experiment_lanes_over_devices_equal_one_device() -> None:
    out = run_on_devices(LANES, 4, str(ROOT / "specs" / "cv_sigmoids.dl"))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert "OK" in out.stdout, out.stdout
