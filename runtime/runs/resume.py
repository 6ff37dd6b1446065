"""What a resumed run takes from its checkpoint, validated as untrusted input: the epoch and the
early-stopping state in the checkpoint's metadata (a file edited by hand, with a valid tensor
checksum, is a located error, not a KeyError or a silently wrong run).

Example:
    >>> from pathlib import Path
    >>> ck = LoadedCheckpoint(state={"best": None}, epoch=3, step=30, path=Path("c"),
    ...     extra={"loop": {"best": 0.5, "best_epoch": 2, "bad_epochs": 1, "stopped": False}})
    >>> restored_loop(ck, epochs=10).best_epoch
    2
"""

from __future__ import annotations

import math
from typing import Any

from dlc.compiler.errors import DlcError
from dlc.runtime.runs.checkpoint import LoadedCheckpoint
from dlc.runtime.train.loop import LoopState


def _bad(ck: LoadedCheckpoint, what: str) -> DlcError:
    return DlcError.single(
        f"checkpoint metadata: {what}",
        where=str(ck.path),
        hint="the checkpoint was edited or written by another program; delete it to resume "
        "from an older one, or start a new run",
    )


def _int(ck: LoadedCheckpoint, loop: dict[str, Any], key: str, lo: int, hi: int) -> int:
    v = loop.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _bad(ck, f"`loop.{key}` is {v!r}, not a whole number from {lo} to {hi}")
    return v


def restored_loop(ck: LoadedCheckpoint, epochs: int) -> LoopState:
    """The early-stopping state of checkpoint `ck` of a run of `epochs` epochs (its best
    parameters from the checkpoint's `best` tree); a DlcError naming the file when the
    metadata does not fit."""
    if not 0 <= ck.epoch <= epochs:
        raise _bad(ck, f"epoch {ck.epoch} is outside this run's 0..{epochs}")
    if ck.step < 0:
        raise _bad(ck, f"step {ck.step} is negative")
    loop = ck.extra.get("loop") if isinstance(ck.extra, dict) else None
    if not isinstance(loop, dict):
        raise _bad(ck, "no `loop` record (the early-stopping state)")
    unknown = set(loop) - {"best", "best_epoch", "bad_epochs", "stopped"}
    if unknown:
        raise _bad(ck, f"unknown `loop` fields {sorted(unknown)}")
    best = loop.get("best")
    if best is not None and (
        isinstance(best, bool) or not isinstance(best, int | float) or not math.isfinite(best)
    ):
        raise _bad(ck, f"`loop.best` is {best!r}, not a finite number or null")
    stopped = loop.get("stopped", False)
    if not isinstance(stopped, bool):
        raise _bad(ck, f"`loop.stopped` is {stopped!r}, not true or false")
    return LoopState(
        best=None if best is None else float(best),
        best_epoch=_int(ck, loop, "best_epoch", -1, ck.epoch),
        bad_epochs=_int(ck, loop, "bad_epochs", 0, ck.epoch),
        best_weights=ck.state["best"],
        stopped=stopped,
    )
