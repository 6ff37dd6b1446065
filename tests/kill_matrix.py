"""The kill matrix of issue 18: `dlc run` processes killed with SIGKILL at random moments, then
resumed (`dlc run --resume RUN`) until they finish; each must end with parameters byte-identical
to an uninterrupted run's and the same `metrics.jsonl` rows (the `time` column aside).

    python tests/kill_matrix.py [--trials 5] [--seed 0] [--out kill-report.json]

Specs: early stopping with and without `restore_best`, and plateau + batchnorm + dropout. A
kill lands anywhere: during start-up, an epoch, a checkpoint write, the final evaluation, the
plots. The exit status is 1 when any resumed run differs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEATHER = ROOT / "specs" / "data" / "seattle-weather.csv"
DATA = f"""data {{
  csv "{WEATHER}" target=temp_max features=[temp_max, temp_min]
  split valid=0.15 test=0.15
  normalize standard
}}
"""
SPECS = {
    "early_stop": DATA + "model { dense 8; relu; dropout 0.2; dense 1 }\nloss mse\n"
    "optimizer adam lr=0.05\ntrain { batch 256; epochs 30; seed 1; checkpoint_every 1\n"
    "  early_stop patience=2 min_delta=0.5 restore_best=false }\n",
    "restore_best": DATA + "model { dense 8; relu; dropout 0.2; dense 1 }\nloss mse\n"
    "optimizer adam lr=0.05\ntrain { batch 256; epochs 30; seed 1; checkpoint_every 1\n"
    "  early_stop patience=2 min_delta=0.5 restore_best=true }\n",
    "plateau_bn": DATA + "model { dense 8; batchnorm; relu; dropout 0.3; dense 1 }\nloss mse\n"
    "optimizer adam lr=0.01\nschedule plateau(0.5, patience=1, rtol=0.05)\n"
    "train { batch 128; epochs 12; seed 2; checkpoint_every 2 }\n",
}


def dlc(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen(
        [sys.executable, "-m", "dlc.runtime.cli.main", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def rows(run: Path) -> list[dict[str, object]]:
    text = (run / "metrics.jsonl").read_text()
    return [{k: v for k, v in json.loads(x).items() if k != "time"} for x in text.splitlines()]


def finish(spec: Path, run: Path) -> int:
    """Resume until the run completes; the number of resumes."""
    for n in range(1, 6):
        p = dlc("run", str(spec), "--resume", str(run), "--quiet")
        _, err = p.communicate(timeout=600)
        if p.returncode == 0:
            return n
        if b"no earlier run" not in err and b"is not a dlc run folder" not in err:
            raise RuntimeError(err.decode()[-500:])
    raise RuntimeError("the run did not finish in 5 resumes")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=5, help="kills per spec")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="kill-report.json")
    args = p.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="dlc-kill-"))
    report: dict[str, dict[str, object]] = {}
    for name, text in SPECS.items():
        spec = work / f"{name}.dl"
        spec.write_text(text)
        t = time.perf_counter()
        ref = dlc("run", str(spec), "--runs", str(work / "ref" / name), "--quiet")
        ref.communicate(timeout=600)
        duration = time.perf_counter() - t
        ref_run = next((work / "ref" / name).iterdir())
        want_rows, want_params = rows(ref_run), (ref_run / "params.safetensors").read_bytes()
        same, differ, killed_before_folder = 0, [], 0
        for trial in range(args.trials):
            root = work / "k" / name / str(trial)
            proc = dlc("run", str(spec), "--runs", str(root), "--quiet")
            at = rng.uniform(0.3, 1.0) * duration
            time.sleep(at)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            runs = list(root.iterdir()) if root.is_dir() else []
            if not runs or not (runs[0] / "spec.json").is_file():
                killed_before_folder += 1
                continue
            finish(spec, runs[0])
            got = (runs[0] / "params.safetensors").read_bytes()
            if got == want_params and rows(runs[0]) == want_rows:
                same += 1
            else:
                differ.append(f"killed at {at:.2f}s")
        report[name] = {
            "trials": args.trials,
            "identical": same,
            "differ": differ,
            "killed_before_the_folder_existed": killed_before_folder,
            "run_seconds": round(duration, 1),
        }
        print(name, report[name], flush=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    return 1 if any(r["differ"] for r in report.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
