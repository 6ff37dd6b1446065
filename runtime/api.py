"""The Python API: what `import dlc` offers, in one place.

Example:
    >>> import dlc
    >>> model = dlc.compile("specs/linear.dl", overrides=["train.epochs=2"])  # doctest: +SKIP
    >>> result = model.fit()                                                 # doctest: +SKIP
    >>> model.evaluate("test")["test_loss"]                                  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import ResolvedSpec, load_spec
from dlc.runtime.predict.loaded import TrainedModel
from dlc.runtime.predict.loaded import load as load_run
from dlc.runtime.runs.session import RunOutcome, run_spec
from dlc.runtime.train.model import CompiledModel


def compile(source: str | Path, *, overrides: list[str] | None = None) -> CompiledModel:
    """Compile a spec (a path to a .dl file, or the spec's text) into a trainable model."""
    return CompiledModel.from_source(source, overrides=overrides)


def load(
    run_dir: str | Path,
    *,
    spec: str | Path | None = None,
    overrides: list[str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> TrainedModel:
    """The trained model in a run folder (`dlc run` or `dlc experiment`'s retrained model), with
    `predict` and `evaluate` on raw inputs or prepared arrays.

    Example:
        >>> model = load("runs/linear-20261122-193000")        # doctest: +SKIP
        >>> model.predict("specs/data/seattle-weather.csv")    # doctest: +SKIP
    """
    return load_run(run_dir, spec=spec, overrides=overrides, warn=warn)


__all__ = [
    "CompiledModel",
    "DlcError",
    "ResolvedSpec",
    "RunOutcome",
    "TrainedModel",
    "compile",
    "load",
    "load_spec",
    "run_spec",
]
