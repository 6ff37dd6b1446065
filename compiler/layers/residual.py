"""`residual { ... }`: a skip connection around a block of layers, y = x + f(x).

    model {
      conv2d 32 3; relu
      residual { conv2d 32 3; relu; conv2d 32 3 }
      relu
    }

The inner layers' parameters and state nest under the residual's key by their own keys
(`03_residual` -> `00_conv2d` -> `kernel`). When f changes the shape, `projection=linear` puts a
learned linear map on the skip path (a strided 1×1 convolution for images, a dense map for
vectors); without it differing shapes are an error at the residual's line.

Example:
    >>> from dlc.compiler.layers.core import Dense
    >>> from dlc.compiler.layers.activations import Relu
    >>> r = Residual(layers=(Dense(units=8), Relu(), Dense(units=8)))
    >>> r.output_shape((8,)), r.param_count((8,))
    ((8,), 144)
    >>> Residual(layers=(Dense(units=4),), projection="linear").param_shapes((8,))
    {'00_dense': {'w': (8, 4), 'b': (4,)}, 'projection': {'w': (8, 4)}}
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from dlc.compiler.layers.activations import Relu
from dlc.compiler.layers.base import Context, Layer, Shape, ShapeError
from dlc.compiler.layers.core import Dense
from dlc.compiler.lazy import jax, jnp
from dlc.compiler.registry import LAYERS, register
from pydantic import Field


def _count(tree: dict[str, Any]) -> int:
    return sum(_count(v) if isinstance(v, dict) else math.prod(v) for v in tree.values())


@register(LAYERS, "residual")
class Residual(Layer):
    """y = x + f(x), where f is the layers in its block: `residual { conv2d 32 3; relu;
    conv2d 32 3 }`. `projection=linear` maps x by a learned (strided 1×1) linear map when f
    changes the shape; `none` makes differing shapes an error."""

    layers: tuple[Layer, ...] = Field(min_length=1)
    projection: Literal["none", "linear"] = "none"
    body_field: ClassVar[str] = "layers"
    example = ({"layers": (Dense(units=6), Relu()), "projection": "linear"}, (5,))

    @property  # type: ignore[override]
    def has_state(self) -> bool:
        return any(layer.has_state for layer in self.layers)

    @property  # type: ignore[override]
    def uses_rng(self) -> bool:
        return any(layer.uses_rng for layer in self.layers)

    def keys(self) -> list[str]:
        """Each inner layer's key in the parameter and state trees, e.g. `00_conv2d`."""
        return [f"{i:02d}_{layer.dl_name}" for i, layer in enumerate(self.layers)]

    def inner_shapes(self, in_shape: Shape) -> list[Shape]:
        """The input shape of each inner layer, then the block's output shape. An inner
        layer's error names it, with `inner` = its key below this layer (`layers.2`)."""
        shapes = [tuple(in_shape)]
        for i, layer in enumerate(self.layers):
            try:
                shapes.append(tuple(layer.output_shape(shapes[-1])))
                layer.param_count(shapes[-2])
            except ShapeError as err:
                inner = err.inner
                message = (
                    err.message
                    if inner
                    else (
                        f"layer `{layer.dl_name}` cannot take input of shape {shapes[-1]}: "
                        f"{err.message}"
                    )
                )
                raise ShapeError(
                    message, err.hint, f"layers.{i}" + (f".{inner}" if inner else "")
                ) from None
        return shapes

    def stride(self, in_shape: Shape, out_shape: Shape) -> tuple[int, ...] | None:
        """Per spatial axis, the stride of a 1×1 projection from in_shape to out_shape."""
        if len(in_shape) != len(out_shape):
            return None
        strides = []
        for n, m in zip(in_shape[:-1], out_shape[:-1], strict=True):
            s = next((s for s in range(1, n + 1) if -(-n // s) == m), None)
            if s is None:
                return None
            strides.append(s)
        return tuple(strides)

    def output_shape(self, in_shape: Shape) -> Shape:
        out = self.inner_shapes(in_shape)[-1]
        if out == tuple(in_shape):
            return out
        if self.projection == "none":
            raise ShapeError(
                f"the block's output shape {out} differs from its input shape "
                f"{tuple(in_shape)}, so they cannot be added",
                "add `projection=linear` (a learned map on the skip path) or "
                "keep the shape inside the block (padding=same, equal filters)",
            )
        if self.stride(tuple(in_shape), out) is None:
            raise ShapeError(
                f"no strided 1×1 projection maps {tuple(in_shape)} to {out}",
                "keep the number of axes and shrink each spatial axis by a stride",
            )
        return out

    def param_shapes(self, in_shape: Shape) -> dict[str, Any]:
        shapes = self.inner_shapes(in_shape)
        out: dict[str, Any] = {}
        for key, layer, shape in zip(self.keys(), self.layers, shapes, strict=False):
            p = layer.param_shapes(shape)
            if p:
                out[key] = p
        if shapes[-1] != tuple(in_shape):
            out["projection"] = {"w": (in_shape[-1], shapes[-1][-1])}
        return out

    def param_count(self, in_shape: Shape) -> int:
        return _count(self.param_shapes(in_shape))

    def init_params(self, key: Any, in_shape: Shape) -> dict[str, Any]:
        shapes = self.inner_shapes(in_shape)
        keys = jax.random.split(key, len(self.layers) + 1)
        out: dict[str, Any] = {}
        for k, name, layer, shape in zip(keys, self.keys(), self.layers, shapes, strict=False):
            p = layer.init_params(k, shape)
            if p:
                out[name] = p
        if shapes[-1] != tuple(in_shape):
            w = jax.nn.initializers.glorot_uniform()(
                keys[-1], (in_shape[-1], shapes[-1][-1]), jnp.float32
            )
            out["projection"] = {"w": w}
        return out

    def init_state(self, in_shape: Shape) -> dict[str, Any]:
        shapes = self.inner_shapes(in_shape)
        out = {}
        for name, layer, shape in zip(self.keys(), self.layers, shapes, strict=False):
            s = layer.init_state(shape)
            if s:
                out[name] = s
        return out

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        h = x
        new_state = dict(ctx.state)
        for i, (name, layer) in enumerate(zip(self.keys(), self.layers, strict=True)):
            inner = Context(train=ctx.train, state=ctx.state.get(name, {}), mask=ctx.mask)
            if layer.uses_rng and ctx.train:
                inner.rng = jax.random.fold_in(ctx.rng, i)
            h = layer.apply(params.get(name, {}), h, inner)
            if inner.new_state is not None:
                new_state[name] = inner.new_state
        if self.has_state:
            ctx.new_state = new_state
        if "projection" in params:
            strides = self.stride(tuple(x.shape[1:]), tuple(h.shape[1:]))
            assert strides is not None
            x = x[(slice(None), *(slice(None, None, s) for s in strides))]
            x = jnp.dot(x, params["projection"]["w"])
        return x + h
