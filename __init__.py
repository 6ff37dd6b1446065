"""dlc: a declarative model-spec compiler for deep learning.

Example:
    >>> import dlc
    >>> model = dlc.compile("specs/linear.dl")      # doctest: +SKIP
    >>> history = model.fit()                          # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
# the plugin API (`dlc.layer`, `dlc.loss`, `dlc.metric` and what they build on)
PLUGIN_API = (
    "Context",
    "Layer",
    "Loss",
    "Param",
    "ShapeError",
    "layer",
    "load_plugin",
    "loss",
    "metric",
)
__all__ = ["DlcError", "__version__", "compile", "load", "load_spec", *PLUGIN_API]

if TYPE_CHECKING:
    from dlc.compiler.errors import DlcError
    from dlc.compiler.frontend import load_spec
    from dlc.runtime.predict.loaded import TrainedModel
    from dlc.runtime.train.model import CompiledModel


def compile(source: str | Path, *, overrides: list[str] | None = None) -> CompiledModel:
    """Compile a spec (a path to a .dl file, or the spec's text) into a trainable model."""
    from dlc.runtime.api import compile as compile_spec

    return compile_spec(source, overrides=overrides)


def load(
    run_dir: str | Path, *, spec: str | Path | None = None, overrides: list[str] | None = None
) -> TrainedModel:
    """The trained model in a run folder, with `predict` and `evaluate` (see `dlc.runtime.api`)."""
    from dlc.runtime.api import load as load_run

    return load_run(run_dir, spec=spec, overrides=overrides)


def __getattr__(name: str) -> Any:  # lazy: `import dlc` must not import JAX
    if name == "DlcError":
        from dlc.compiler.errors import DlcError

        return DlcError
    if name == "TrainedModel":
        from dlc.runtime.predict.loaded import TrainedModel

        return TrainedModel
    if name == "load_spec":
        from dlc.compiler.frontend import load_spec

        return load_spec
    if name in PLUGIN_API:  # your own layers, losses, metrics: see dlc.compiler.plugins
        from dlc.compiler import plugins
        from dlc.compiler.layers.base import Context, Layer, Param, ShapeError
        from dlc.compiler.losses import Loss

        api: dict[str, Any] = {"Context": Context, "Layer": Layer, "Param": Param}
        api["ShapeError"] = ShapeError
        api |= {"Loss": Loss, "layer": plugins.layer, "loss": plugins.loss}
        return {**api, "metric": plugins.metric, "load_plugin": plugins.load_plugin}[name]
    raise AttributeError(name)
