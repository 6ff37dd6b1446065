"""Your own layers, losses and metrics, written in Python and loaded with `--plugin FILE.py`.

A plugin is a Python file that decorates classes and functions with `dlc.layer`, `dlc.loss`
and `dlc.metric`. dlc runs it only when a command names it (`dlc check spec.dl --plugin
my_layers.py`, `dlc run ... --plugin ...`, several flags for several files); a spec's text
never makes dlc import anything. After that its names are used like built-in ones:

    # my_layers.py
    import jax
    import dlc

    @dlc.layer("swish")
    class Swish(dlc.Layer):
        '''x · sigmoid(beta · x), with a learned beta per feature.'''

        example = ({}, (5,))                      # for the conformance test

        def params(self, in_shape):               # shape, role (what L1/L2 see), init
            return {"beta": dlc.Param((in_shape[-1],), "scale")}

        def apply(self, params, x, ctx):          # pure JAX on a batch
            return x * jax.nn.sigmoid(params["beta"] * x)

A layer is a `dlc.Layer` (a frozen Pydantic model: its settings are typed fields, `positional`
names the ones written without `name=`); it overrides `output_shape(in_shape)` when it changes
the shape (shapes leave out the batch axis; raise `dlc.ShapeError` for an input it cannot take),
`params(in_shape)` when it has parameters, and `apply(params, x, ctx)`; `ctx` is a
`dlc.Context` (training or not, its random key, the padding mask). A loss is a `dlc.Loss` with
`per_example(out, y)` (one value per example); a metric is a function `(out, y)` -> one value
per example, reported as its weighted mean over the whole evaluation set when a loss lists it:
`loss mse report=[within_2]`. A name that is taken is an error.

Example:
    >>> import dlc
    >>> @dlc.metric("doc_example_metric")
    ... def doc_example_metric(out, y):
    ...     return (out == y).all(axis=-1)
    >>> "doc_example_metric" in METRICS
    True
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from dlc.compiler.errors import DlcError, Span
from dlc.compiler.layers.base import Layer
from dlc.compiler.losses import Loss
from dlc.compiler.metrics import METRICS, REPORTABLE
from dlc.compiler.registry import LAYERS, LOSSES, Registry, register

C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])


def _taken(registry: Registry, name: str) -> bool:
    return name in registry.index() or name in registry.entries


def _entry(registry: Registry, base: type, name: str) -> Callable[[C], C]:
    def deco(cls: C) -> C:
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise TypeError(f"@dlc.{registry.kind}({name!r}) needs a subclass of {base.__name__}")
        if _taken(registry, name):
            raise ValueError(f"{registry.kind} `{name}` exists already: choose another name")
        return register(registry, name)(cls)  # type: ignore[type-var]

    return deco


def layer(name: str) -> Callable[[C], C]:
    """Class decorator: a `dlc.Layer` subclass becomes the layer `name` (see the module)."""
    return _entry(LAYERS, Layer, name)


def loss(name: str) -> Callable[[C], C]:
    """Class decorator: a `dlc.Loss` subclass becomes the loss `name`; set `task =
    "classification"` (or `"binary"`) for labels, the default is regression."""
    return _entry(LOSSES, Loss, name)


def metric(name: str) -> Callable[[F], F]:
    """Function decorator: `fn(out, y)` -> one value per example (or per position, with
    padding left out) becomes a metric that a loss reports with `report=[name]`, as its
    weighted mean over the whole evaluation set."""

    def deco(fn: F) -> F:
        builtin = {m for names in REPORTABLE.values() for m in names}
        if name in METRICS or name in builtin or name in ("loss", "accuracy"):
            raise ValueError(f"metric `{name}` exists already: choose another name")
        METRICS[name] = fn
        return fn

    return deco


def load_plugin(path: str | Path) -> list[str]:
    """Runs the plugin file at `path` (its decorators register its entries); returns the names
    it added. Errors, in the file or from a decorator, are a DlcError at the file's line."""
    path = Path(path)
    if not path.is_file():
        raise DlcError.single(
            f"plugin file `{path}` not found", where="--plugin", hint="give a .py file's path"
        )
    before = set(LAYERS.entries) | set(LOSSES.entries) | set(METRICS)
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    module_name = f"dlc_plugin_{path.stem}_{digest}"
    if module_name in sys.modules:  # loaded already in this process
        return []
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        line = frames[-1].lineno if frames and frames[-1].lineno else 1
        if isinstance(exc, SyntaxError) and exc.lineno:
            line = exc.lineno
        raise DlcError.single(
            f"plugin failed: {type(exc).__name__}: {exc}",
            span=Span(str(path), line, 1),
            source=path.read_text(encoding="utf-8", errors="replace"),
            hint="fix the plugin file (it runs as plain Python)",
        ) from None
    sys.modules[module_name] = module
    return sorted((set(LAYERS.entries) | set(LOSSES.entries) | set(METRICS)) - before)
