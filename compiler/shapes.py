"""Shape inference: every layer's output shape and parameter count, without JAX.

Errors point at the layer's line (and, for layers from a named block, at the use site).

Example:
    >>> from dlc.compiler.layers.core import Dense
    >>> from dlc.compiler.layers.activations import Relu
    >>> [i.out_shape for i in infer_layers((Dense(units=8), Relu(), Dense(units=1)), (7,))]
    [(8,), (8,), (1,)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dlc.compiler.errors import DlcError
from dlc.compiler.layers.base import Layer, Shape, ShapeError


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


def infer_layers(layers: Sequence[Layer], input_shape: Shape,
                 on_error: Callable[[int, ShapeError], DlcError] | None = None) -> list[LayerInfo]:
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
            raise on_error(i, ShapeError(f"layer `{layer.dl_name}` cannot take input of shape "
                                         f"{shape}: {err.message}", err.hint)) from None
        infos.append(LayerInfo(i, layer.dl_name, shape, out, n))
        shape = out
    return infos


def inner_rows(layer: Layer, in_shape: Shape, prefix: str) -> list[tuple[str, LayerInfo]]:
    """The layers inside a layer's block (`residual { ... }`), depth first, numbered below it:
    [("2.0", conv2d's info), ("2.1", ...)]; [] for a layer without a block."""
    field = getattr(layer, "body_field", None)
    if field is None:
        return []
    rows: list[tuple[str, LayerInfo]] = []
    for sub, info in zip(getattr(layer, field), infer_layers(getattr(layer, field), in_shape),
                         strict=True):
        rows.append((f"{prefix}{info.index}", info))
        rows += inner_rows(sub, info.in_shape, f"{prefix}{info.index}.")
    return rows


def infer(resolved: object, input_shape: Shape, target_shape: Shape,
          num_classes: int | None) -> list[LayerInfo]:
    """Shapes of a resolved spec's model, checked against the data's targets."""
    from dlc.compiler.frontend import ResolvedSpec

    assert isinstance(resolved, ResolvedSpec)
    spec = resolved.spec

    def error(i: int, err: ShapeError) -> DlcError:
        inner = f".{err.inner}" if err.inner else ""  # e.g. model.layers.3.layers.1
        return resolved.error(err.message, f"model.layers.{i}{inner}", err.hint)

    infos = infer_layers(spec.model.layers, input_shape, error)
    try:
        spec.loss.check_output(infos[-1].out_shape, target_shape, num_classes)
    except ShapeError as err:
        raise error(len(infos) - 1, err) from None
    return infos
