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
    >>> from dlc.compiler.layers.relu import Relu
    >>> r = Residual(layers=(Dense(units=8), Relu(), Dense(units=8)))
    >>> r.output_shape((8,)), r.param_count((8,))
    ((8,), 144)
    >>> Residual(layers=(Dense(units=4),), projection="linear").param_shapes((8,))
    {'00_dense': {'w': (8, 4), 'b': (4,)}, 'projection': {'w': (8, 4)}}
"""

from __future__ import annotations

from typing import Any, Literal

from dlc.compiler.layers.base import Context, Param, Shape, ShapeError
from dlc.compiler.layers.core import Dense
from dlc.compiler.layers.group import Group
from dlc.compiler.layers.params import ParamTree
from dlc.compiler.layers.relu import Relu
from dlc.compiler.lazy import jax, jnp
from dlc.compiler.registry import LAYERS, register


@register(LAYERS, "residual")
class Residual(Group):
    """y = x + f(x), where f is the layers in its block: `residual { conv2d 32 3; relu;
    conv2d 32 3 }`. `projection=linear` maps x by a learned (strided 1×1) linear map when f
    changes the shape; `none` makes differing shapes an error."""

    projection: Literal["none", "linear"] = "none"
    example = ({"layers": (Dense(units=6), Relu()), "projection": "linear"}, (5,))

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

    def _projection(self, in_shape: Shape, shapes: list[Shape]) -> dict[str, Param]:
        """The skip path's linear map (a weight), when the block changes the shape."""
        if shapes[-1] == tuple(in_shape):
            return {}
        return {"w": Param((in_shape[-1], shapes[-1][-1]), "weight")}

    def params(self, in_shape: Shape) -> ParamTree:
        shapes = self.inner_shapes(in_shape)
        out: dict[str, Param | ParamTree] = dict(self.layer_params(shapes))
        if projection := self._projection(in_shape, shapes):
            out["projection"] = projection
        return out

    def init_params(self, key: Any, in_shape: Shape) -> dict[str, Any]:
        shapes = self.inner_shapes(in_shape)
        keys = jax.random.split(key, len(self.layers) + 1)  # the last for the projection
        out = self.init_layers(keys[:-1], shapes)
        if projection := self._projection(in_shape, shapes):
            out["projection"] = {"w": projection["w"].initialize(keys[-1])}
        return out

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        h = super().apply(params, x, ctx)
        if "projection" in params:
            strides = self.stride(tuple(x.shape[1:]), tuple(h.shape[1:]))
            assert strides is not None
            x = x[(slice(None), *(slice(None, None, s) for s in strides))]
            x = jnp.dot(x, params["projection"]["w"])
        return x + h
