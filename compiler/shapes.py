"""Shape inference: every layer's output shape and parameter count, without JAX.

Errors point at the layer's line (and, for layers from a named block, at the use site).

Example:
    >>> from dlc.compiler.layers.core import Dense
    >>> from dlc.compiler.layers.relu import Relu
    >>> [i.out_shape for i in infer_layers((Dense(units=8), Relu(), Dense(units=1)), (7,))]
    [(8,), (8,), (1,)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from dlc.compiler.errors import DlcError
from dlc.compiler.layers.base import Layer, Shape, ShapeError
from dlc.compiler.limits import size_problem


@dataclass(frozen=True)
class LayerInfo:
    index: int
    name: str
    in_shape: Shape
    out_shape: Shape
    params: int

    @property
    def key(self) -> str:
        """The layer's key in the parameter tree, e.g. `00_dense`."""
        return f"{self.index:02d}_{self.name}"


def infer_layers(
    layers: Sequence[Layer],
    input_shape: Shape,
    on_error: Callable[[int, ShapeError], DlcError] | None = None,
) -> list[LayerInfo]:
    infos: list[LayerInfo] = []
    shape = tuple(input_shape)
    for i, layer in enumerate(layers):
        try:
            out = tuple(layer.output_shape(shape))
            n = layer.param_count(shape)
        except ShapeError as err:
            if on_error is None:
                raise
            if err.inner:  # an error of a layer inside this one's body, already phrased
                raise on_error(i, err) from None
            raise on_error(
                i,
                ShapeError(
                    f"layer `{layer.dl_name}` cannot take input of shape {shape}: {err.message}",
                    err.hint,
                ),
            ) from None
        infos.append(LayerInfo(i, layer.dl_name, shape, out, n))
        shape = out
    return infos


def inner_rows(layer: Layer, in_shape: Shape, prefix: str) -> list[tuple[str, LayerInfo]]:
    """The layers inside a layer's block (`residual { ... }`), depth first, numbered below it:
    [("2.0", conv2d's info), ("2.1", ...)]; [] for a layer without a block."""
    subs = layer.children()
    if not subs:
        return []
    rows: list[tuple[str, LayerInfo]] = []
    own_inputs = layer.child_input_shapes(in_shape)
    if own_inputs is not None:  # parts reading inputs of their own (encoder_decoder)
        infos = [
            replace(infer_layers((s,), shape)[0], index=i)
            for i, (s, shape) in enumerate(zip(subs, own_inputs, strict=True))
        ]
    else:
        infos = infer_layers(subs, in_shape)
    for sub, info in zip(subs, infos, strict=True):
        rows.append((f"{prefix}{info.index}", info))
        rows += inner_rows(sub, info.in_shape, f"{prefix}{info.index}.")
    return rows


def misplaced_memory_users(layers: Sequence[Layer]) -> list[str]:
    """Paths ("3", "0.1.2") of layers that cross-attend to an encoder's output where none is
    handed down: a `decoder_block cross=true` outside `decoder { }` of `encoder_decoder`."""
    found: list[str] = []

    def walk(layer: Layer, path: str, has_memory: bool) -> None:
        if layer.needs_memory and not has_memory:
            found.append(path)
        parts = layer.memory_parts
        for j, sub in enumerate(layer.children()):
            walk(sub, f"{path}.{j}", has_memory if parts is None else parts[j])

    for i, layer in enumerate(layers):
        walk(layer, str(i), False)
    return found


def infer(
    resolved: object, input_shape: Shape, target_shape: Shape, num_classes: int | None
) -> list[LayerInfo]:
    """Shapes of a resolved spec's model, checked against the data's targets."""
    from dlc.compiler.frontend import ResolvedSpec

    assert isinstance(resolved, ResolvedSpec)
    spec = resolved.spec

    def error(i: int, err: ShapeError) -> DlcError:
        inner = f".{err.inner}" if err.inner else ""  # e.g. model.layers.3.layers.1
        return resolved.error(err.message, f"model.layers.{i}{inner}", err.hint)

    infos = infer_layers(spec.model.layers, input_shape, error)
    for path in misplaced_memory_users(spec.model.layers):
        top, _, rest = path.partition(".")
        inner = ".".join(f"layers.{p}" for p in rest.split(".")) if rest else ""
        raise error(
            int(top),
            ShapeError(
                "`decoder_block cross=true` has no encoder output to attend to: cross-attention "
                "works only inside `decoder { ... }` of `encoder_decoder`",
                "move it into `encoder_decoder { encoder { ... } decoder { ... } }`, or drop "
                "`cross=true`",
                inner,
            ),
        )
    try:
        spec.loss.check_output(infos[-1].out_shape, target_shape, num_classes)
    except ShapeError as err:
        raise error(len(infos) - 1, err) from None
    check_weights = getattr(spec.loss, "check_weights", None)  # `class_weights=[...]`
    if check_weights is not None:
        try:
            check_weights(infos[-1].out_shape)
        except ShapeError as err:
            raise resolved.error(err.message, "loss", err.hint) from None
    params = sum(i.params for i in infos)
    outputs = sum(math.prod(i.out_shape) for i in [*infos, *_inner_infos(spec.model.layers, infos)])
    problem = size_problem(params, 4 * spec.train.batch * outputs, spec.train.batch)
    if problem is not None:
        raise resolved.error(problem[0], "model", problem[1])
    return infos


def _inner_infos(layers: Sequence[Layer], infos: list[LayerInfo]) -> list[LayerInfo]:
    """The infos of the layers inside blocks (`residual { ... }`), for the memory estimate."""
    return [
        sub
        for layer, i in zip(layers, infos, strict=True)
        for _, sub in inner_rows(layer, i.in_shape, "")
    ]
