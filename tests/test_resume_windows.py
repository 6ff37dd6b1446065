"""Issue 18: resume is exact in every window, in process. A run is interrupted (an exception
from its epoch callback, which runs after that epoch's checkpoint) at each epoch of a short
early-stopping run, with and without `restore_best`, and resumed: parameters are byte-identical
and `metrics.jsonl` has the same rows as the uninterrupted run (its `time` column aside).
Damaged checkpoint metadata is a located error."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from dlc.compiler.errors import DlcError
from dlc.runtime.runs.folder import RunDir
from dlc.runtime.runs.session import run_spec

WEATHER = Path(__file__).resolve().parents[1] / "specs" / "data" / "seattle-weather.csv"


def spec(restore_best: str) -> str:
    # lr is high and patience short: early stopping ends the run at epoch 4..8 of 30
    return f"""\
data {{
  csv "{WEATHER}" target=temp_max features=[temp_max, temp_min]
  split valid=0.15 test=0.15
  normalize standard
}}
model {{ dense 8; relu; dropout 0.2; dense 1 }}
loss mse
optimizer adam lr=0.05
train {{ batch 256; epochs 30; seed 1; checkpoint_every 1
  early_stop patience=2 min_delta=0.5 restore_best={restore_best} }}
"""


class Kill(Exception):
    pass


def rows(run: Path) -> list[dict[str, Any]]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k != "time"} for x in lines]


def run(source: str, root: Path, kill_at: int | None = None, resume: Any = None) -> Path:
    seen: list[Path] = []

    def on_start(r: Any, model: Any, start: int) -> None:
        seen.append(r.path)

    def on_epoch(record: dict[str, Any]) -> None:
        if record["epoch"] == kill_at:
            raise Kill

    with contextlib.suppress(Kill):
        run_spec(
            source,
            runs_root=root,
            resume=resume,
            on_start=on_start,
            on_epoch=on_epoch,
            warn=lambda m: None,
        )
    return seen[0]


@pytest.mark.slow
@pytest.mark.parametrize("restore_best", ["false", "true"])
def test_a_run_killed_at_any_epoch_resumes_to_the_identical_end(
    tmp_path: Path, restore_best: str
) -> None:
    source = spec(restore_best)
    ref = run(source, tmp_path / "ref")
    want, params = rows(ref), (ref / "params.safetensors").read_bytes()
    assert len(want) < 30, "the spec must stop early"
    # the first epoch, the one before the stop, and after the stopping epoch's checkpoint
    for kill in sorted({1, len(want) - 1, len(want)}):
        folder = run(source, tmp_path / f"k{kill}", kill_at=kill)
        assert not (folder / "params.safetensors").exists()
        run(source, tmp_path / f"k{kill}", resume=folder)
        assert rows(folder) == want, f"killed after epoch {kill}"
        assert (folder / "params.safetensors").read_bytes() == params, f"killed after {kill}"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.pop("loop"), "no `loop` record"),
        (lambda m: m.update(epoch=-3), "epoch -3 is outside"),
        (lambda m: m.update(epoch=10**9), "is outside this run's 0..30"),
        (lambda m: m["loop"].update(bad_epochs="x"), "`loop.bad_epochs` is 'x'"),
        (lambda m: m["loop"].update(best=float("nan")), "`loop.best` is nan"),
    ],
)
def test_edited_checkpoint_metadata_is_a_located_error(
    tmp_path: Path, edit: Any, message: str
) -> None:
    from safetensors.numpy import load, save

    source = spec("false")
    folder = run(source, tmp_path, kill_at=2)
    ckpt = sorted((folder / "checkpoints").glob("ckpt-*.safetensors"))[-1]
    data = ckpt.read_bytes()
    n = int.from_bytes(data[:8], "little")
    meta = json.loads(data[8 : 8 + n])["__metadata__"]
    flat = {"epoch": int(meta["epoch"]), "loop": json.loads(meta["extra"])["loop"]}
    edit(flat)
    meta["epoch"] = str(flat["epoch"])
    meta["extra"] = json.dumps({"loop": flat["loop"]} if "loop" in flat else {})
    ckpt.write_bytes(save(load(data), metadata=meta))
    with pytest.raises(DlcError, match="checkpoint metadata") as e:
        run_spec(source, runs_root=tmp_path, resume=folder, warn=lambda m: None)
    assert message in str(e.value) and ckpt.name in str(e.value)


# -- run folders --------------------------------------------------------------------------------
def test_a_locked_run_folder_is_refused(tmp_path: Path) -> None:
    first = RunDir.create(tmp_path, "a")
    first.lock()
    with pytest.raises(DlcError, match=r"in use by another dlc process \(pid \d+\)"):
        RunDir(first.path).lock()
    first.unlock()
    RunDir(first.path).lock()  # free again


def test_a_second_resume_while_one_trains_is_refused(tmp_path: Path) -> None:
    source = spec("false")
    folder = run(source, tmp_path, kill_at=1)
    holder = RunDir(folder)
    holder.lock()
    with pytest.raises(DlcError, match="in use by another dlc process"):
        run_spec(source, runs_root=tmp_path, resume=folder, warn=lambda m: None)
    holder.unlock()


def test_run_folder_creation_is_atomic_and_never_reuses_a_folder(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: RunDir.create(tmp_path, "a").path, range(40)))
    assert len(set(made)) == 40


def test_resume_picks_the_newest_run_of_exactly_this_spec(tmp_path: Path) -> None:
    import os

    def make(name: str, spec_hash: str, mtime: float) -> Path:
        p = tmp_path / name
        p.mkdir()
        (p / "spec.json").write_text(json.dumps({"hash": spec_hash}))
        os.utime(p, (mtime, mtime))
        return p

    mine = make("lin-20260101-000000", "h1", 100)
    make("lin-20260102-000000", "h2", 200)  # newer, another spec
    make("linear-20260103-000000", "h1", 300)  # another name that starts with `lin`
    broken = tmp_path / "lin-20260104-000000"
    broken.mkdir()
    (broken / "spec.json").write_text("{not json")
    assert RunDir.latest(tmp_path, "lin", "h1") == RunDir(mine)
    assert RunDir.latest(tmp_path, "lin", "h3") is None
    with pytest.raises(DlcError, match=r"spec\.json is not valid JSON"):
        RunDir(broken).spec_hash()
    (broken / "spec.json").write_text("[1, 2]")
    with pytest.raises(DlcError, match=r"spec\.json has no spec `hash`"):
        RunDir(broken).spec_hash()
