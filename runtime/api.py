"""The Python API: what `import dlc` offers, in one place.

Example:
    >>> import dlc
    >>> model = dlc.compile("specs/linear.dl", overrides=["train.epochs=2"])  # doctest: +SKIP
    >>> result = model.fit()                                                 # doctest: +SKIP
    >>> model.evaluate("test")["test_loss"]                                  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import ResolvedSpec, load_spec
from dlc.runtime.runs.session import RunOutcome, run_spec
from dlc.runtime.train.model import CompiledModel


def compile(source: str | Path, *, overrides: list[str] | None = None) -> CompiledModel:
    """Compile a spec (a path to a .dl file, or the spec's text) into a trainable model."""
    return CompiledModel.from_source(source, overrides=overrides)


__all__ = [
    "CompiledModel",
    "DlcError",
    "ResolvedSpec",
    "RunOutcome",
    "compile",
    "load_spec",
    "run_spec",
]
