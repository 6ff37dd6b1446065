"""`Group`: the base of layers that hold a block of layers applied in order (`residual { }`,
`encoder { }`, `decoder { }`).

The inner layers' parameters and state nest under the group's key by their own keys
(`03_residual` -> `00_conv2d` -> `kernel`); a shape error inside names the inner layer
(`inner` = `layers.2`), so it points at that layer's line.

Example:
    >>> from dlc.compiler.layers.core import Dense
    >>> from dlc.compiler.layers.relu import Relu
    >>> g = Group(layers=(Dense(units=8), Relu(), Dense(units=2)))
    >>> g.keys(), g.inner_shapes((5,)), g.param_count((5,))
    (['00_dense', '01_relu', '02_dense'], [(5,), (8,), (8,), (2,)], 66)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from pydantic import Field

from dlc.compiler.layers.base import Context, Layer, Shape, ShapeError
from dlc.compiler.layers.params import ParamTree
from dlc.compiler.lazy import jax


def inner_error(err: ShapeError, layer: Layer, shape: Shape, where: str) -> ShapeError:
    """`err` of `layer` (at input `shape`) as an error of its container, located at `where`
    (`layers.2`) below it; an error already located deeper keeps its own message."""
    message = (
        err.message
        if err.inner
        else f"layer `{layer.dl_name}` cannot take input of shape {shape}: {err.message}"
    )
    return ShapeError(message, err.hint, where + (f".{err.inner}" if err.inner else ""))


class Group(Layer):
    """A block of layers applied in order."""

    layers: tuple[Layer, ...] = Field(min_length=1)
    block_field: ClassVar[str | None] = "layers"

    def children(self) -> tuple[Layer, ...]:
        return self.layers

    def with_children(self, children: Iterable[Layer]) -> Layer:
        return self.model_copy(update={"layers": tuple(children)})

    @property
    def has_state(self) -> bool:  # type: ignore[override]
        return any(layer.has_state for layer in self.layers)

    @property
    def uses_rng(self) -> bool:  # type: ignore[override]
        return any(layer.uses_rng for layer in self.layers)

    def keys(self) -> list[str]:
        """Each inner layer's key in the parameter and state trees, e.g. `00_conv2d`."""
        return [f"{i:02d}_{layer.dl_name}" for i, layer in enumerate(self.layers)]

    def inner_shapes(self, in_shape: Shape) -> list[Shape]:
        """The input shape of each inner layer, then the block's output shape."""
        shapes = [tuple(in_shape)]
        for i, layer in enumerate(self.layers):
            try:
                shapes.append(tuple(layer.output_shape(shapes[-1])))
                if not layer.children():  # a block checks its own layers: linear in depth
                    layer.param_count(shapes[-2])
            except ShapeError as err:
                raise inner_error(err, layer, shapes[-1], f"layers.{i}") from None
        return shapes

    def output_shape(self, in_shape: Shape) -> Shape:
        return self.inner_shapes(in_shape)[-1]

    def layer_params(self, shapes: list[Shape]) -> dict[str, ParamTree]:
        """The inner layers' parameter declarations by layer key, given `inner_shapes`."""
        pairs = zip(self.keys(), self.layers, shapes, strict=False)
        return {k: p for k, layer, s in pairs if (p := layer.params(s))}

    def params(self, in_shape: Shape) -> ParamTree:
        return self.layer_params(self.inner_shapes(in_shape))

    def init_layers(self, keys: Any, shapes: list[Shape]) -> dict[str, Any]:
        """The inner layers' parameters, one PRNG key each, given `inner_shapes`."""
        pairs = zip(keys, self.keys(), self.layers, shapes, strict=False)
        return {name: p for k, name, layer, s in pairs if (p := layer.init_params(k, s))}

    def init_params(self, key: Any, in_shape: Shape) -> dict[str, Any]:
        keys = jax.random.split(key, len(self.layers))
        return self.init_layers(keys, self.inner_shapes(in_shape))

    def init_state(self, in_shape: Shape) -> dict[str, Any]:
        pairs = zip(self.keys(), self.layers, self.inner_shapes(in_shape), strict=False)
        return {name: s for name, layer, shape in pairs if (s := layer.init_state(shape))}

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        """The layers in order: the mask as each layer leaves it and the encoder output to
        cross-attend to (if any) reach the next; layer i's randomness is `fold_in(rng, i)`."""
        new_state = dict(ctx.state)
        for i, (name, layer) in enumerate(zip(self.keys(), self.layers, strict=True)):
            inner = Context(
                train=ctx.train, state=ctx.state.get(name, {}), mask=ctx.mask, memory=ctx.memory
            )
            if layer.uses_rng and ctx.train:
                inner.rng = jax.random.fold_in(ctx.rng, i)
            x = layer.apply(params.get(name, {}), x, inner)
            ctx.mask = inner.mask
            if inner.new_state is not None:
                new_state[name] = inner.new_state
        if self.has_state:
            ctx.new_state = new_state
        return x
