"""TensorBoard scalars (and hyperparameters) for a run, via tensorboardX (imported lazily).

Per-epoch metric keys become TensorBoard tags: `train_loss` -> `loss/train`, `valid_accuracy`
-> `accuracy/valid`; other keys (`lr`, `time`, `epoch`) keep their name. The caller picks the
x axis (`dlc run`: the epoch).

A resumed run rewrites its event files from `metrics.jsonl` (`TensorBoardLogger.resumed`): the
epochs written before a kill but after the last checkpoint are retrained, and an epoch that was
checkpointed but killed before it reached TensorBoard is written from the log, so every epoch
shows exactly once, for TensorBoard and for any reader of the files. During a run the file is
flushed at most once a second (`FLUSH_S`): metrics.jsonl, written per epoch, is the record.

Example:
    >>> with TensorBoardLogger("runs/a/tb") as tb:                       # doctest: +SKIP
    ...     tb.log({"epoch": 1, "train_loss": 0.7, "lr": 1e-3}, step=1)
"""

from __future__ import annotations

import os
import re
import struct
import time

from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from dlc.compiler.errors import DlcError

_SPLIT_RE = re.compile(r"^(train|valid|val|test)_(.+)$")
EVENTS = "events.out.tfevents.*"
FLUSH_S = 1.0  # `log` flushes the event file at most once per this many seconds


def scalar_tag(key: str) -> str:
    """TensorBoard tag for a metric key. Example: `scalar_tag("valid_loss") == "loss/valid"`."""
    m = _SPLIT_RE.match(key)
    return f"{m.group(2)}/{m.group(1)}" if m else key


def _number(value: Any) -> float | None:
    if isinstance(value, bool | str | bytes):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class TensorBoardLogger:
    """Write each epoch's numeric metrics as TensorBoard scalars under `logdir`.

    Example: `TensorBoardLogger("runs/a/tb").log({"train_loss": 0.5}, step=10)`.
    """

    def __init__(
        self, logdir: str | os.PathLike[str], purge_step: int | None = None, suffix: str = ""
    ) -> None:
        """`purge_step`: TensorBoard hides the events at that step and later ones that older
        event files in `logdir` hold; `suffix` ends the new event file's name."""
        try:
            from tensorboardX import SummaryWriter
        except ImportError as e:
            raise DlcError.single(
                f"TensorBoard logging needs tensorboardX ({e})",
                hint="pip install tensorboardX, or turn TensorBoard logging off",
            ) from None
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self._flushed = 0.0  # time.monotonic() of the last flush
        self._writer: Any = SummaryWriter(
            logdir=str(self.logdir), purge_step=purge_step, filename_suffix=suffix
        )

    @classmethod
    def resumed(
        cls, logdir: str | os.PathLike[str], history: Iterable[dict[str, Any]]
    ) -> TensorBoardLogger:
        """A logger for a resumed run whose kept epochs are `history` (metrics.jsonl after
        truncation to the checkpoint): a new event file holding exactly those epochs (x axis:
        `epoch`) replaces the older files. Their histograms (`log_histograms`) of the kept
        epochs are carried over, the last one of each tag and epoch."""
        from tensorboardX.proto.summary_pb2 import Summary

        folder = Path(logdir)
        older = sorted(folder.glob(EVENTS)) if folder.is_dir() else []
        kept = [r for r in history if isinstance(r.get("epoch"), int)]
        last = max((r["epoch"] for r in kept), default=0)
        histograms = {
            (v.tag, e.step): v
            for e in read_events(folder)
            for v in e.summary.value
            if v.HasField("histo") and e.step <= last
        }
        # a name no older file has (tensorboardX names files by the second); TensorBoard
        # ignores the older files' events even while they are still there
        tb = cls(folder, purge_step=1, suffix=f".resumed-{time.time_ns()}")
        for record in kept:
            tb.log(record, record["epoch"], flush=False)
        for (_, step), value in sorted(histograms.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            tb._writer._get_file_writer().add_summary(Summary(value=[value]), step)
        tb._writer.flush()
        for path in older:  # the new file holds all they should; readers now see it alone
            path.unlink(missing_ok=True)
        return tb

    def log(self, epoch_metrics: dict[str, Any], step: int, flush: bool | None = None) -> list[str]:
        """Write every numeric value (bools, strings are skipped); return the tags written.
        The file is flushed when `flush` is True; None: when `FLUSH_S` seconds have passed
        since the last flush (a flush per epoch cost ~2 ms; TensorBoard still sees each epoch
        within a second, and `resumed` rebuilds the files from metrics.jsonl after a kill);
        False: at `close`."""
        if self._writer is None:
            raise DlcError.single("TensorBoardLogger.log called after close()")
        from tensorboardX.proto.summary_pb2 import Summary

        values = []
        for key, value in epoch_metrics.items():
            number = _number(value)
            if key != "step" and number is not None:
                values.append(Summary.Value(tag=scalar_tag(key), simple_value=number))
        if values:  # one event for the epoch (add_scalar writes one per value: 4x slower)
            self._writer._get_file_writer().add_summary(Summary(value=values), int(step))
        tags = [v.tag for v in values]
        now = time.monotonic()
        if flush or (flush is None and now - self._flushed >= FLUSH_S):
            self._writer.flush()
            self._flushed = now
        return tags

    def log_histograms(self, params: dict[str, Any], step: int) -> list[str]:
        """A histogram of each layer's parameter values (`weights/<layer key>`, every leaf under
        the key together) at `step`; layers without parameters are skipped. Returns the tags.

        Example: `tb.log_histograms({"00_dense": {"w": w, "b": b}}, 5)` -> `["weights/00_dense"]`.
        """
        if self._writer is None:
            raise DlcError.single("TensorBoardLogger.log_histograms called after close()")
        tags = []
        for key, sub in params.items():
            leaves = [np.asarray(a, np.float64).ravel() for a in _leaves(sub)]
            if leaves:
                tag = f"weights/{key}"
                self._writer.add_histogram(tag, np.concatenate(leaves), int(step))
                tags.append(tag)
        self._writer.flush()  # not in metrics.jsonl: a resumed run can only carry it over
        return tags

    def log_hparams(self, hparams: dict[str, Any], metrics: dict[str, float], step: int) -> None:
        """The HParams dashboard's session for this folder: `hparams` (numbers, bools and
        strings; anything else as its text) and `metrics` as scalars `hparams/NAME` at `step`."""
        from tensorboardX.summary import hparams as hparams_summary

        if self._writer is None:
            raise DlcError.single("TensorBoardLogger.log_hparams called after close()")
        plain = {
            k: v if isinstance(v, bool | int | float | str) else str(v) for k, v in hparams.items()
        }
        values = {f"hparams/{k}": float(v) for k, v in metrics.items()}
        for summary in hparams_summary(plain, values):
            self._writer.file_writer.add_summary(summary)
        for tag, v in values.items():
            self._writer.add_scalar(tag, v, global_step=int(step))
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file; calling it twice is harmless."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_events(logdir: str | os.PathLike[str]) -> list[Any]:
    """Every Event proto in `logdir`'s event files (not its subfolders), file by file in name
    order; a truncated or undecodable record (a killed writer, a damaged file) ends its file."""
    from tensorboardX.proto import event_pb2

    out = []
    for path in sorted(Path(logdir).glob(EVENTS)):
        data, pos = path.read_bytes(), 0
        while pos + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            end = pos + 12 + length
            if end + 4 > len(data):
                break
            try:
                out.append(event_pb2.Event.FromString(data[pos + 12 : end]))
            except Exception:  # noqa: BLE001 - protobuf's DecodeError: a damaged file ends here
                break
            pos = end + 4
    return out


def _leaves(tree: Any) -> list[Any]:
    """The arrays of a nested dict/list of arrays, in key order."""
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in _leaves(tree[k])]
    if isinstance(tree, list | tuple):
        return [leaf for t in tree for leaf in _leaves(t)]
    return [tree]


def read_histograms(logdir: str | os.PathLike[str]) -> list[tuple[int, str, float]]:
    """(step, tag, number of values) of every histogram in `logdir`'s event files.

    Example: `read_histograms("runs/vanishing_gradients-.../tensorboard")[0][1] == "weights/00_dense"`.
    """
    return [
        (e.step, v.tag, v.histo.num)
        for e in read_events(logdir)
        for v in e.summary.value
        if v.HasField("histo")
    ]


def read_scalars(logdir: str | os.PathLike[str]) -> list[tuple[int, str, float]]:
    """(step, tag, value) of every scalar in `logdir`'s event files, in file order.

    Example: `read_scalars("runs/linear-.../tensorboard")[:1] == [(1, "epoch", 1.0)]`.
    """
    return [
        (e.step, v.tag, v.simple_value)
        for e in read_events(logdir)
        for v in e.summary.value
        if v.HasField("simple_value")
    ]
