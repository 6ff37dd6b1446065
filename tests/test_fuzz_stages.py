"""Fuzzing past the parser (issue 18): grammar-generated and mutated specs through `dlc check`
(data loading and shapes) and through one training epoch, damaged data files of every format,
random command lines, and damaged run folders. Every outcome must be a success or a located
dlc error: never an internal error, an escaped exception, an unlocated error or a hang.

The budget here is quick (seeded, a few hundred inputs); DLC_FUZZ_SCALE multiplies it, and
tests/fuzz_campaign.py runs the long campaign.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
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

SCALE = float(os.environ.get("DLC_FUZZ_SCALE", "1"))


def n(count: int) -> int:
    return max(1, int(count * SCALE))


@pytest.fixture(autouse=True)
def _crashes_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DLC_CACHE", str(tmp_path / "cache"))  # saved tracebacks stay here
    monkeypatch.setenv("DLC_MAX_PARAMS", "2000000")  # and models stay small
    monkeypatch.chdir(tmp_path)


def check_all(cases: list[list[str]]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    bad = []
    for argv in cases:
        kind, text = judge(argv)
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind in FAILURES:
            bad.append((kind, argv, text))
    assert not bad, bad[:3]
    return kinds


def test_grammar_specs_through_check(tmp_path: Path) -> None:
    rng = random.Random(18)
    cases = []
    for i in range(n(120)):
        text = grammar_spec(rng)
        if i % 3 == 0:
            text = mutate_text(rng, text)
        path = tmp_path / f"g{i}.dl"
        path.write_text(text)
        cases.append(["check", str(path)])
    kinds = check_all(cases)
    assert kinds.get("ok", 0) > 0 and kinds.get("error", 0) > 0  # both outcomes are reached


@pytest.mark.parametrize("kind", sorted(data_bases()))
def test_damaged_data_files_through_check(tmp_path: Path, kind: str) -> None:
    rng = random.Random(kind)
    cases = []
    for i in range(n(15)):
        folder = tmp_path / f"c{i}"
        folder.mkdir()
        cases.append(["check", str(write_data_case(rng, folder, kind))])
    check_all(cases)


def test_random_command_lines(tmp_path: Path) -> None:
    rng = random.Random(7)
    spec = tmp_path / "s.dl"
    spec.write_text(grammar_spec(random.Random(1), data="data { digits }\n"))
    (tmp_path / "FILE").write_text("x")
    os.mkfifo(tmp_path / "pipe")
    check_all([random_argv(rng, str(spec), tmp_path) for _ in range(n(60))])
    assert not (tmp_path / "no").exists()  # --plot/--out never create folders


@pytest.mark.slow
def test_grammar_specs_through_one_training_epoch(tmp_path: Path) -> None:
    rng = random.Random(3)
    trained = 0
    for i in range(n(400)):
        if trained >= n(6):
            break
        path = tmp_path / f"t{i}.dl"
        path.write_text(grammar_spec(rng, data="data { fizzbuzz train=[101, 300] bits=9 }\n"))
        if judge(["check", str(path)])[0] != "ok":
            continue
        runs = str(tmp_path / "runs")
        check_all([["run", str(path), "--set", "train.epochs=1", "--runs", runs, "--quiet"]])
        trained += 1
    assert trained > 0


@pytest.mark.slow
def test_damaged_run_folders(tmp_path: Path) -> None:
    spec = tmp_path / "s.dl"
    spec.write_text(
        "data { fizzbuzz train=[101, 300] bits=9 }\nmodel { dense 8; relu; dense 4 }\n"
        "loss cross_entropy\noptimizer adam lr=0.01\ntrain { epochs 2; checkpoint_every 1 }\n"
    )
    assert judge(["run", str(spec), "--runs", str(tmp_path / "runs"), "--quiet"])[0] == "ok"
    good = next((tmp_path / "runs").iterdir())
    rng = random.Random(5)
    cases = []
    for i in range(n(12)):
        run = tmp_path / f"damaged{i}" / good.name
        shutil.copytree(good, run)
        damage_run(rng, run)
        cases.append(["plot", str(run)])
        cases.append(["run", str(spec), "--resume", str(run), "--quiet"])
    check_all(cases)
