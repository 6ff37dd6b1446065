"""The NaN guard: a diverging run stops with a clear message (epoch, step, a hint about the
learning rate), exit code 1 (a training failure) and no traceback, and keeps its last good
checkpoint."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from testutil import dlc_command

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "diverge.dl"


@pytest.mark.slow
def test_diverging_run_stops_cleanly_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "COLUMNS": "200"}
    proc = subprocess.run(
        dlc_command("run", str(SPEC), "--runs", str(tmp_path), "--quiet"),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    err = " ".join(proc.stderr.split())
    assert proc.returncode == 1, proc.stdout + proc.stderr  # a training failure, not bad input
    assert "Traceback" not in proc.stderr
    m = re.search(r"became NaN or infinite in epoch (\d+) \(by step (\d+)\)", err)
    assert m, err
    epoch, step = int(m.group(1)), int(m.group(2))
    assert "hint: lower the learning rate (optimizer lr=100)" in err

    [run] = list(tmp_path.iterdir())
    assert str(run) in err
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, epoch))  # the diverged epoch is not logged
    assert epoch > 1, "the spec should diverge after a few good epochs"
    assert step == rows[-1]["step"] + (rows[-1]["step"] // rows[-1]["epoch"])
    assert all(math.isfinite(r["train_loss"]) for r in rows)
    assert not (run / "params.safetensors").exists()  # no parameters from a diverged model

    ckpts = sorted((run / "checkpoints").glob("ckpt-*.safetensors"))
    assert ckpts, "the last good checkpoint was not kept"
    assert f"kept in {run / 'checkpoints'}" in err
    with safe_open(ckpts[-1], "numpy") as f:
        meta = f.metadata()
        assert int(meta["epoch"]) == epoch - 1
        assert int(meta["step"]) == rows[-1]["step"]
        for key in f.keys():  # noqa: SIM118 - safe_open has keys(), not iteration
            arr = f.get_tensor(key)
            if arr.dtype.kind == "f":
                assert np.isfinite(arr).all(), key
