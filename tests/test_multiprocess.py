"""`dlc run --coordinator HOST:PORT --num-processes N --process-id I`: one run as N cooperating
processes (here 2 on localhost, one CPU device each, gloo collectives). Each process places only
its share of the rows; process 0 alone writes the run folder.

Measured here (the tolerance asserted is 1e-5):
- 2 processes against 1 process with the same global batch: parameters differ by at most
  2.4e-7 after 12 epochs (float sums in another order), final metrics by a relative 2.1e-7
  (`pytest -s -k equal` prints both).
- When process 1 of a 2-process run is SIGKILLed after the first checkpoint, process 0 stops
  with a dlc error (exit 2); resumed by 2 processes, the run ends with `params.safetensors`
  byte-identical to an uninterrupted 2-process run.
- specs/stream_digits.dl (rows streamed from disk, each process reading its own): 2 processes
  against 1, parameters within 4.5e-8.
- specs/shards_digits.dl (an `npy` source within the budget, `normalize standard`): each of 2
  processes reads only its rows of the features file (201 and 199 of 400, each row once);
  parameters within 8.9e-8 of 1 process, statistics 2.4e-7, metrics a relative 1.2e-7.
- A process that fails on its own (here: process 1's spec file is missing) ends at once, and
  process 0 stops with a dlc error instead of waiting for it.

Every process is a real subprocess with a time limit; all are killed on timeout.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load_file
from testutil import dlc_command

from dlc.runtime.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
WEATHER = ROOT / "specs" / "data" / "seattle-weather.csv"
EPOCHS = 12
LIMIT = 240  # seconds for any one launch of the processes

# dropout (keys from the step), plateau (state in the optimizer), early stopping with
# restore_best (best parameters in the checkpoint): what a resume must bring back
SPEC = f"""\
data {{
  csv "{WEATHER}" target=temp_max features=[temp_max, temp_min, wind]
  window 3
  split valid=0.15 test=0.15
  normalize standard
}}
model {{ dense 16; relu; dropout 0.3; dense 1 }}
loss mse
optimizer adam lr=0.01
schedule plateau(0.5, patience=2, rtol=0.05)
train {{ batch 127; epochs {EPOCHS}; seed 3; checkpoint_every 1; early_stop patience=1000 }}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
        "DLC_CACHE": str(tmp_path_factory.mktemp("cache")),  # the compile cache, shared
        "COLUMNS": "200",
    }


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "weather.dl"
    path.write_text(SPEC)
    return path


def start(env: dict[str, str], n: int, *args: str) -> list[subprocess.Popen[str]]:
    """`dlc ARGS` as processes 0..n-1 of one cluster on a free localhost port."""
    address = f"127.0.0.1:{free_port()}"
    cluster = ["--coordinator", address, "--num-processes", str(n), "--join-timeout", "60"]
    return [
        subprocess.Popen(
            dlc_command(*args, *cluster, "--process-id", str(i)),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]


def finish(procs: list[subprocess.Popen[str]], limit: float = LIMIT) -> list[str]:
    """Wait for every process (all killed after `limit` seconds); each one's stderr. Every
    process must exit 0 without a traceback."""
    deadline = time.monotonic() + limit
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            assert p.returncode == 0, f"exit {p.returncode}\n{out}\n{err}"
            assert "Traceback" not in err, err
            outs.append(err)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    return outs


def only_run(runs: Path) -> Path:
    [run] = [p for p in runs.iterdir() if (p / "spec.json").is_file()]
    return run


def run_alone(env: dict[str, str], spec: str, sets: list[str], runs: Path) -> Path:
    """`dlc run SPEC` as a single process into `runs`; its run folder."""
    proc = subprocess.run(
        dlc_command("run", spec, *sets, "--runs", str(runs), "--quiet"),
        env=env,
        capture_output=True,
        text=True,
        timeout=LIMIT,
    )
    assert proc.returncode == 0, proc.stderr
    return only_run(runs)


def checkpoints(run: Path) -> list[Path]:
    return sorted((run / "checkpoints").glob("ckpt-*.safetensors"))


def metric_rows(run: Path) -> list[dict[str, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        r.pop("time")
    return rows


@pytest.fixture(scope="module")
def two(spec: Path, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run by 2 processes."""
    runs = tmp_path_factory.mktemp("two")
    errs = finish(start(env, 2, "run", str(spec), "--runs", str(runs)))
    run = only_run(runs)  # process 0 alone made a run folder
    assert "process done; process 0 wrote" in errs[1]
    assert len(metric_rows(run)) == EPOCHS  # one line per epoch: written once
    return run


@pytest.mark.slow
def test_two_processes_equal_one(
    spec: Path, env: dict[str, str], two: Path, tmp_path: Path
) -> None:
    proc = subprocess.run(
        dlc_command("run", str(spec), "--runs", str(tmp_path), "--quiet"),
        env=env,
        capture_output=True,
        text=True,
        timeout=LIMIT,
    )
    assert proc.returncode == 0, proc.stderr
    one = only_run(tmp_path)
    a, b = load_file(one / "params.safetensors"), load_file(two / "params.safetensors")
    assert sorted(a) == sorted(b)
    diff = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
    assert diff < 1e-5, diff
    m1 = json.loads((one / "results.json").read_text())["metrics"]
    m2 = json.loads((two / "results.json").read_text())["metrics"]
    pairs = [(m1[p][k], m2[p][k]) for p in m1 for k in m1[p]]
    rel = max(abs(u - v) / max(1.0, abs(u)) for u, v in pairs)
    print(f"2 processes vs 1: parameters max |diff| {diff:.3g}, metrics max rel. diff {rel:.3g}")
    assert pairs and all(abs(u - v) <= 1e-5 * max(1.0, abs(u)) for u, v in pairs), (m1, m2)


@pytest.mark.slow
def test_killed_two_process_run_resumes_to_the_identical_end(
    spec: Path, env: dict[str, str], two: Path, tmp_path: Path
) -> None:
    procs = start(env, 2, "run", str(spec), "--runs", str(tmp_path), "--quiet")
    deadline = time.monotonic() + LIMIT
    try:
        while not any(checkpoints(r) for r in tmp_path.glob("*")):
            assert all(p.poll() is None for p in procs), "dlc run ended early"
            assert time.monotonic() < deadline, f"no checkpoint within {LIMIT} s"
            time.sleep(0.01)
        procs[1].send_signal(signal.SIGKILL)  # process 1 dies: process 0 must notice and stop
        _, err = procs[0].communicate(timeout=60)
    finally:
        for p in procs:
            p.kill()
            p.communicate()
    assert procs[0].returncode == 2, err
    assert "a collective operation across the processes failed" in err and "Traceback" not in err
    run = only_run(tmp_path)
    assert not (run / "params.safetensors").exists(), "the run finished before it was killed"
    assert 1 <= len(checkpoints(run)) < EPOCHS
    errs = finish(start(env, 2, "run", str(spec), "--runs", str(tmp_path), "--resume"))
    assert "resuming after epoch" in errs[0]
    assert only_run(tmp_path) == run  # resumed in place
    assert (run / "params.safetensors").read_bytes() == (two / "params.safetensors").read_bytes()
    assert metric_rows(run) == metric_rows(two)  # one line per epoch, none twice


# bad settings fail before JAX is touched: these run `main` in this process
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--num-processes", "2", "--process-id", "2"], "--process-id is 2, but --num-processes"),
        (["--coordinator", "nohost", "--num-processes", "2", "--process-id", "1"], "HOST:PORT"),
        (["--num-processes", "0", "--process-id", "0"], "--num-processes"),
    ],
)
def test_bad_cluster_flags_are_dlc_errors(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    assert main(["run", str(spec), "--runs", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert not any(tmp_path.iterdir())  # nothing written


def test_unreachable_coordinator_is_an_error_after_the_timeout(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", "2"]
    t0 = time.monotonic()
    assert main(["run", str(spec), *flags, "--process-id", "1", "--join-timeout", "1"]) == 2
    assert time.monotonic() - t0 < 10
    err = capsys.readouterr().err
    assert "cannot reach the coordinator" in err and "--join-timeout" in err, err


def test_distributed_without_a_cluster_is_an_error(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JAX_COORDINATOR_ADDRESS", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("OMPI_MCA_orte_hnp_uri", raising=False)
    assert main(["run", str(spec), "--runs", str(tmp_path), "--distributed"]) == 2
    err = capsys.readouterr().err
    assert "cannot start the processes" in err and "Traceback" not in err, err
    assert not any(tmp_path.iterdir())


def test_coordinator_port_in_use_is_an_error(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen()
        port = busy.getsockname()[1]
        flags = ["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id"]
        assert main(["run", str(spec), "--runs", str(tmp_path), *flags, "0"]) == 2
    err = capsys.readouterr().err
    assert "cannot listen on port" in err and "Traceback" not in err, err


@pytest.mark.slow
def test_an_error_in_process_1_stops_process_0(
    spec: Path, env: dict[str, str], tmp_path: Path
) -> None:
    address = ["--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", "2"]
    args = [["run", str(spec), "--runs", str(tmp_path)], ["run", str(tmp_path / "missing.dl")]]
    procs = [
        subprocess.Popen(
            dlc_command(*args[i], *address, "--process-id", str(i), "--join-timeout", "60"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (0, 1)
    ]
    try:
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert [p.returncode for p in procs] == [2, 2], outs
    assert "does not exist" in outs[1][1], outs
    assert "a collective operation across the processes failed" in outs[0][1], outs
    assert all("Traceback" not in err for _, err in outs), outs


@pytest.mark.slow
def test_an_error_in_process_0_stops_the_others(
    spec: Path, env: dict[str, str], tmp_path: Path
) -> None:
    procs = start(
        env, 2, "run", str(spec), "--runs", str(tmp_path), "--resume"
    )  # nothing to resume
    try:
        outs = [p.communicate(timeout=LIMIT) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert [p.returncode for p in procs] == [2, 2], outs
    assert "no earlier run" in outs[0][1] and "process 0 stopped with an error" in outs[1][1]
    assert all("Traceback" not in err for _, err in outs), outs


# `dlc ARGS` with every read of an .npy file logged to the file named first (a JSON list of
# [kind, file name, rows]): `take` and `read` of a file left on disk, `whole` for read_npy
READ_LOG = """\
import json, sys
import numpy as np
from dlc.runtime.data import arrays, stream
log = []
take, read, whole = stream.NpyFile.take, stream.NpyFile.read, arrays.read_npy
def logged_take(self, rows):
    log.append(["take", self.path.name, np.asarray(rows).tolist()])
    return take(self, rows)
def logged_read(self, start, stop):
    log.append(["read", self.path.name, list(range(start, stop))])
    return read(self, start, stop)
def logged_whole(path):
    log.append(["whole", path.name, []])
    return whole(path)
stream.NpyFile.take, stream.NpyFile.read, arrays.read_npy = logged_take, logged_read, logged_whole
from dlc.runtime.cli.main import main
try:
    code = main(sys.argv[2:])
finally:
    with open(sys.argv[1], "w") as f:
        json.dump(log, f)
sys.exit(code)
"""


def run_logged(env: dict[str, str], logs: list[Path], *args: str) -> list[list[Any]]:
    """`dlc ARGS` as processes 0..len(logs)-1 of one cluster, each logging its reads of
    .npy files (`READ_LOG`) to its log file; each process's reads."""
    cluster = ["--coordinator", f"127.0.0.1:{free_port()}", "--join-timeout", "60"]
    cluster += ["--num-processes", str(len(logs)), "--process-id"]
    finish(
        [
            subprocess.Popen(
                [sys.executable, "-c", READ_LOG, str(log), *args, *cluster, str(i)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i, log in enumerate(logs)
        ]
    )
    return [json.loads(log.read_text()) for log in logs]


def x_reads(reads: list[Any], name: str = "digits_x.npy") -> list[int]:
    """The rows of the features file one process read (every `take`, in order)."""
    assert {kind for kind, file, _ in reads if file == name} <= {"take"}  # no whole-file pass
    return [r for kind, file, rows in reads if file == name for r in rows]


@pytest.mark.slow
def test_two_processes_streaming_from_disk_equal_one(env: dict[str, str], tmp_path: Path) -> None:
    """specs/stream_digits.dl streams its .npy rows from disk in chunks: with 2 processes each
    reads only the rows its device takes (training chunks, evaluation chunks, its share of the
    statistics and of the NaN check: no pass over the whole file), and the run equals 1
    process's within 1e-5."""
    spec, sets = str(ROOT / "specs" / "stream_digits.dl"), ["--set", "train.epochs=3"]
    logs = [tmp_path / f"reads{i}.json" for i in (0, 1)]
    reads = run_logged(env, logs, "run", spec, *sets, "--runs", str(tmp_path / "two"), "--quiet")
    counts = [len(x_reads(r)) for r in reads]
    one, two = run_alone(env, spec, sets, tmp_path / "one"), only_run(tmp_path / "two")
    a, b = load_file(one / "params.safetensors"), load_file(two / "params.safetensors")
    diff = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
    print(f"streamed, 2 processes vs 1: parameters max |diff| {diff:.3g}; rows read {counts}")
    assert diff < 1e-5, diff
    assert max(counts) < 0.55 * sum(counts), counts  # about half each
    confusion = "confusion_test.csv"  # counted on the processes' shares of the test part
    assert (one / confusion).read_text() == (two / confusion).read_text()


@pytest.mark.slow
def test_each_process_reads_only_its_rows(env: dict[str, str], tmp_path: Path) -> None:
    """specs/shards_digits.dl (400 rows of .npy, `normalize standard`) in 2 processes: each
    reads from the x file only the rows its device holds (together every row once), the
    labels whole; parameters, normalization statistics, metrics and the confusion matrix
    equal 1 process's."""
    spec, sets = str(ROOT / "specs" / "shards_digits.dl"), ["--set", "train.epochs=3"]
    logs = [tmp_path / f"reads{i}.json" for i in (0, 1)]
    reads = run_logged(env, logs, "run", spec, *sets, "--quiet", "--runs", str(tmp_path / "two"))
    x_rows = [x_reads(r) for r in reads]
    for r, mine in zip(reads, x_rows, strict=True):
        assert ["whole", "digits_y.npy", []] in r  # the labels: one number per row
        assert 190 <= len(mine) <= 210, len(mine)  # about half of the 400 rows each
    assert sorted(x_rows[0] + x_rows[1]) == list(range(400))  # every row, by one process
    one, two = run_alone(env, spec, sets, tmp_path / "one"), only_run(tmp_path / "two")
    diffs = {}
    for name in ("params", "stats"):
        a, b = (load_file(r / f"{name}.safetensors") for r in (one, two))
        diffs[name] = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
    m1 = json.loads((one / "results.json").read_text())["metrics"]
    m2 = json.loads((two / "results.json").read_text())["metrics"]
    rel = max(abs(m1[p][k] - m2[p][k]) / max(1.0, abs(m1[p][k])) for p in m1 for k in m1[p])
    print(f"rows read per process: {[len(r) for r in x_rows]}; {diffs}, metrics rel. {rel:.3g}")
    assert diffs["params"] < 1e-5 and diffs["stats"] < 1e-5, diffs
    assert rel <= 1e-5, (m1, m2)
    confusion = "confusion_test.csv"
    assert (one / confusion).read_text() == (two / confusion).read_text()
