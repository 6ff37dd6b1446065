"""The long fuzz campaign of issue 18 (`make fuzz`): every stage, counted, with the failures
kept. Usage:

    python tests/fuzz_campaign.py [--total 20000] [--seed 0] [--out fuzz-report.json]

Stages and their share of `--total`: `parse` (mutated and random text through `load_spec`,
no data), `check` (grammar-generated and mutated specs through `dlc check`: data and shapes),
`data` (damaged files of every format through `dlc check`), `flags` (random command lines),
`train` (specs that pass `check` through one training epoch), `runs` (damaged run folders
through `dlc plot` and `dlc run --resume`). It prints, and writes to `--out`, the inputs per
stage and the outcomes by kind; failing inputs are saved under `<out>.cases/`. The exit status
is 1 when any input failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from fuzzing import (
    FAILURES,
    damage_run,
    data_bases,
    grammar_spec,
    judge,
    mutate_text,
    random_argv,
    write_data_case,
)

SHARES = {"parse": 0.55, "check": 0.2, "data": 0.12, "flags": 0.1, "train": 0.002, "runs": 0.01}


def parse_stage(rng: random.Random, work: Path, i: int) -> tuple[list[str], Path]:
    from test_fuzz import BASES

    text = mutate_text(rng, rng.choice(BASES)) if rng.random() < 0.8 else grammar_spec(rng)
    path = work / f"p{i}.dl"
    path.write_text(text, encoding="utf-8")
    return ["explain", str(path)], path


def check_stage(rng: random.Random, work: Path, i: int) -> tuple[list[str], Path]:
    text = grammar_spec(rng)
    if rng.random() < 0.3:
        text = mutate_text(rng, text)
    path = work / f"c{i}.dl"
    path.write_text(text, encoding="utf-8")
    return ["check", str(path)], path


def data_stage(rng: random.Random, work: Path, i: int) -> tuple[list[str], Path]:
    folder = work / f"d{i}"
    folder.mkdir()
    spec = write_data_case(rng, folder, rng.choice(sorted(data_bases())))
    return ["check", str(spec)], folder


def flags_stage(rng: random.Random, work: Path, i: int) -> tuple[list[str], Path]:
    spec = work / "flags.dl"
    if not spec.exists():
        spec.write_text(grammar_spec(random.Random(1), data="data { digits }\n"))
        (work / "FILE").write_text("x")
        os.mkfifo(work / "pipe")
    return random_argv(rng, str(spec), work), spec


def train_stage(rng: random.Random, work: Path, i: int) -> tuple[list[str], Path]:
    path = work / f"t{i}.dl"
    for _ in range(200):
        path.write_text(grammar_spec(rng, data="data { fizzbuzz train=[101, 300] bits=9 }\n"))
        if judge(["check", str(path)])[0] == "ok":
            break
    runs = str(work / "runs")
    return ["run", str(path), "--set", "train.epochs=1", "--runs", runs, "--quiet"], path


def runs_stage(rng: random.Random, work: Path, i: int) -> tuple[list[str], Path]:
    spec = work / "run.dl"
    good_root = work / "good"
    if not good_root.exists():
        spec.write_text(
            "data { fizzbuzz train=[101, 300] bits=9 }\nmodel { dense 8; relu; dense 4 }\n"
            "loss cross_entropy\noptimizer adam lr=0.01\ntrain { epochs 2; checkpoint_every 1 }\n"
        )
        judge(["run", str(spec), "--runs", str(good_root), "--quiet"], seconds=300)
    good = next(good_root.iterdir())
    run = work / f"r{i}" / good.name
    shutil.copytree(good, run)
    damage_run(rng, run)
    argv = ["plot", str(run)] if rng.random() < 0.5 else ["run", str(spec), "--resume", str(run)]
    return [*argv, "--quiet"] if argv[0] == "run" else argv, run


STAGES = {
    "parse": parse_stage,
    "check": check_stage,
    "data": data_stage,
    "flags": flags_stage,
    "train": train_stage,
    "runs": runs_stage,
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--total", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="fuzz-report.json")
    p.add_argument("--stages", default=",".join(STAGES))
    args = p.parse_args()
    cases_dir = Path(args.out + ".cases").resolve()
    out_path = Path(args.out).resolve()
    work_root = Path(tempfile.mkdtemp(prefix="dlc-fuzz-"))
    os.chdir(work_root)  # relative paths in random flags (`--plot 0`) land in the work folder
    os.environ["DLC_CACHE"] = str(cases_dir / "cache")  # the tracebacks of internal errors
    os.environ.setdefault("DLC_MAX_PARAMS", "2000000")
    report: dict[str, dict[str, int]] = {}
    failures: list[dict[str, str]] = []
    started = time.time()
    for name in args.stages.split(","):
        count = max(1, round(args.total * SHARES[name]))
        rng = random.Random(f"{args.seed}-{name}")
        work = work_root / f"stage-{name}"  # not `runs`: a default folder name
        work.mkdir(parents=True)
        kinds: Counter[str] = Counter()
        for i in range(count):
            argv, made = STAGES[name](rng, work, i)
            kind, text = judge(argv, seconds=120 if name in ("train", "runs") else 20)
            kinds[kind] += 1
            if kind in FAILURES:
                keep = cases_dir / f"{name}-{i}"
                keep.mkdir(parents=True, exist_ok=True)
                if made.is_file():
                    shutil.copy(made, keep)
                failures.append({"stage": name, "kind": kind, "argv": " ".join(argv), "out": text})
        report[name] = dict(kinds)
        print(f"{name}: {count} inputs, {dict(kinds)}", flush=True)
    summary = {
        "inputs": sum(sum(k.values()) for k in report.values()),
        "seconds": round(time.time() - started),
        "stages": report,
        "failures": failures,
    }
    out_path.write_text(json.dumps(summary, indent=1))
    shutil.rmtree(work_root, ignore_errors=True)
    print(f"{summary['inputs']} inputs, {len(failures)} failures ({summary['seconds']} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
