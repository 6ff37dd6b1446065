"""TensorBoard scalars for a run, via tensorboardX (imported lazily).

Per-epoch metric keys become TensorBoard tags: `train_loss` -> `loss/train`, `valid_accuracy`
-> `accuracy/valid`; other keys (`lr`, `time`, `epoch`) keep their name. `step` is the x axis.

Example:
    >>> with TensorBoardLogger("runs/a/tb") as tb:                       # doctest: +SKIP
    ...     tb.log({"epoch": 1, "train_loss": 0.7, "lr": 1e-3}, step=100)
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import TracebackType
from typing import Any

from dlc.compiler.errors import DlcError

_SPLIT_RE = re.compile(r"^(train|valid|val|test)_(.+)$")


def scalar_tag(key: str) -> str:
    """TensorBoard tag for a metric key. Example: `scalar_tag("valid_loss") == "loss/valid"`."""
    m = _SPLIT_RE.match(key)
    return f"{m.group(2)}/{m.group(1)}" if m else key


class TensorBoardLogger:
    """Write each epoch's numeric metrics as TensorBoard scalars under `logdir`.

    Example: `TensorBoardLogger("runs/a/tb").log({"train_loss": 0.5}, step=10)`.
    """

    def __init__(self, logdir: str | os.PathLike[str], purge_step: int | None = None) -> None:
        """`purge_step`: a resumed run's first epoch; TensorBoard hides the events of that
        epoch and later ones written before the kill, so no epoch shows twice."""
        try:
            from tensorboardX import SummaryWriter
        except ImportError as e:
            raise DlcError.single(
                f"TensorBoard logging needs tensorboardX ({e})",
                hint="pip install tensorboardX, or turn TensorBoard logging off",
            ) from None
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self._writer: Any = SummaryWriter(logdir=str(self.logdir), purge_step=purge_step)

    def log(self, epoch_metrics: dict[str, Any], step: int) -> list[str]:
        """Write every numeric value (bools, strings are skipped); return the tags written."""
        if self._writer is None:
            raise DlcError.single("TensorBoardLogger.log called after close()")
        tags = []
        for key, value in epoch_metrics.items():
            if key == "step" or isinstance(value, bool | str | bytes):
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            tag = scalar_tag(key)
            self._writer.add_scalar(tag, number, global_step=int(step))
            tags.append(tag)
        self._writer.flush()  # a killed run keeps every epoch it finished
        return tags

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
