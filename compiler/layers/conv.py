"""Convolutions over sequences (`conv1d`, NWC) and images (`conv2d`, NHWC).

Shapes leave out the batch axis: a 28×28 grey image is `(28, 28, 1)`, a sequence of 50 steps
with 8 features `(50, 8)`. Kernels are stored HWIO (`(kh, kw, in, filters)`). On CPU a
convolution lowers to explicit patches and one matmul, elsewhere to `lax.conv_general_dilated`
(see `conv_lowering`).

Example:
    >>> Conv2D(filters=8, kernel=3).output_shape((28, 28, 1))
    (28, 28, 8)
    >>> Conv2D(filters=8, kernel=3, stride=2, padding="valid").output_shape((28, 28, 1))
    (13, 13, 8)
    >>> Conv1D(filters=4, kernel=5, dilation=2).param_shapes((50, 3))
    {'kernel': (5, 3, 4), 'b': (4,)}
"""

from __future__ import annotations

import itertools
import math
from typing import Any, ClassVar, Literal

from pydantic import PositiveInt, model_validator

from dlc.compiler.layers.base import Context, Layer, Param, Shape, ShapeError, walk_layers
from dlc.compiler.layers.core import InitName
from dlc.compiler.lazy import jax, jnp
from dlc.compiler.options import CompileOptions
from dlc.compiler.registry import LAYERS, register

Sizes = PositiveInt | list[PositiveInt]
AXES = {1: ("length",), 2: ("height", "width")}


def sizes(value: int | list[int], n: int) -> tuple[int, ...]:
    """A size setting as one entry per spatial axis: `3` -> (3, 3) for images."""
    return (value,) * n if isinstance(value, int) else tuple(value)


def spatial_input(layer: str, in_shape: Shape, n: int) -> None:
    """Raise a ShapeError unless `in_shape` is `n` spatial axes and a channel axis."""
    if len(in_shape) == n + 1:
        return
    want = "(length, channels)" if n == 1 else "(height, width, channels)"
    size = math.prod(in_shape)
    if n == 2:
        side = math.isqrt(size)
        shape = (
            [*in_shape, 1]
            if len(in_shape) == 2
            else ([side, side, 1] if side * side == size else ["H", "W", "C"])
        )
    else:
        shape = [*in_shape, 1] if len(in_shape) == 1 else ["L", "C"]
    what = "a flat vector" if len(in_shape) == 1 else f"{len(in_shape)} axes"
    raise ShapeError(
        f"{layer} needs input {want}, got {what}",
        f"add `reshape [{', '.join(map(str, shape))}]` before it",
    )


def pooled_length(n: int, k: int, stride: int, padding: str, axis: str, what: str) -> int:
    """Output length of a window of `k` (dilation included) sliding by `stride` over `n`."""
    if padding == "same":
        return -(-n // stride)
    if k > n:
        raise ShapeError(
            f"the {what} is larger than the input's {n} along {axis}",
            "use padding=same, a smaller window, or less pooling before it",
        )
    return (n - k) // stride + 1


def conv_lowering() -> str:
    """`xla` (`lax.conv_general_dilated`) or `patches` (explicit patches and one matmul).
    `CONV_LOWERING=auto` (the default) picks patches on CPU, where XLA's convolution is slow
    inside a `lax.scan` (bench/cnn_lowering.py), and xla on GPUs."""
    choice = CompileOptions.from_env().conv_lowering  # hashed with the spec by `load_spec`
    if choice == "auto":
        return "patches" if jax.default_backend() == "cpu" else "xla"
    return choice


def conv_patches(
    x: Any, kernel: Any, stride: tuple[int, ...], dilation: tuple[int, ...], padding: str
) -> Any:
    """The convolution as one matmul: every kernel tap's strided view of the (padded) input,
    concatenated over channels, times the kernel reshaped to (taps·in, filters)."""
    nd = x.ndim - 2
    taps = kernel.shape[:nd]
    eff = [(k - 1) * d + 1 for k, d in zip(taps, dilation, strict=True)]
    n = x.shape[1:-1]
    if padding == "same":
        out = [-(-m // s) for m, s in zip(n, stride, strict=True)]
        total = [
            max((o - 1) * s + e - m, 0) for o, s, e, m in zip(out, stride, eff, n, strict=True)
        ]
        x = jnp.pad(x, [(0, 0), *((t // 2, t - t // 2) for t in total), (0, 0)])
    else:
        out = [(m - e) // s + 1 for m, e, s in zip(n, eff, stride, strict=True)]
    views = [
        x[
            (
                slice(None),
                *(
                    slice(t * d, t * d + (o - 1) * s + 1, s)
                    for t, d, o, s in zip(tap, dilation, out, stride, strict=True)
                ),
            )
        ]
        for tap in itertools.product(*map(range, taps))
    ]
    patches = views[0] if len(views) == 1 else jnp.concatenate(views, axis=-1)
    return jnp.dot(patches, kernel.reshape(-1, kernel.shape[-1]))


class _Conv(Layer):
    filters: PositiveInt
    kernel: Sizes
    stride: Sizes = 1
    padding: Literal["same", "valid"] = "same"
    dilation: Sizes = 1
    bias: bool = True
    init: InitName = "glorot_uniform"
    positional = ("filters", "kernel")
    ndim: ClassVar[int] = 2

    @model_validator(mode="after")
    def _lengths(self) -> _Conv:
        for name in ("kernel", "stride", "dilation"):
            v = getattr(self, name)
            if isinstance(v, list) and len(v) != self.ndim:
                raise ValueError(
                    f"`{name}` needs {self.ndim} size(s), one per axis "
                    f"{'/'.join(AXES[self.ndim])}, got {len(v)}"
                )
        return self

    def output_shape(self, in_shape: Shape) -> Shape:
        spatial_input(self.dl_name, in_shape, self.ndim)
        k, s, d = (sizes(v, self.ndim) for v in (self.kernel, self.stride, self.dilation))
        out = []
        for n, ki, si, di, axis in zip(in_shape[:-1], k, s, d, AXES[self.ndim], strict=True):
            eff = (ki - 1) * di + 1
            what = f"kernel {ki}" + (f" (dilated to {eff})" if di > 1 else "")
            out.append(pooled_length(n, eff, si, self.padding, axis, what))
        return (*out, self.filters)

    def params(self, in_shape: Shape) -> dict[str, Param]:
        kernel = (*sizes(self.kernel, self.ndim), in_shape[-1], self.filters)
        declared = {"kernel": Param(kernel, "weight", self.init)}
        if self.bias:
            declared["b"] = Param((self.filters,), "bias")
        return declared

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        stride, dilation = sizes(self.stride, self.ndim), sizes(self.dilation, self.ndim)
        if conv_lowering() == "patches":
            y = conv_patches(x, params["kernel"], stride, dilation, self.padding)
        else:
            spec = ("NWC", "WIO", "NWC") if self.ndim == 1 else ("NHWC", "HWIO", "NHWC")
            y = jax.lax.conv_general_dilated(
                x,
                params["kernel"],
                window_strides=stride,
                padding=self.padding.upper(),
                rhs_dilation=dilation,
                dimension_numbers=spec,
            )
        return y + params["b"] if self.bias else y


@register(LAYERS, "conv1d")
class Conv1D(_Conv):
    """A 1-D convolution over (length, channels) input: `filters` kernels of `kernel` steps,
    `stride`, `dilation`, `padding` same (output length ⌈n/stride⌉) or valid (no padding)."""

    ndim = 1
    example = ({"filters": 4, "kernel": 3, "stride": 2}, (9, 3))


@register(LAYERS, "conv2d")
class Conv2D(_Conv):
    """A 2-D convolution over (height, width, channels) images: `filters` kernels of
    `kernel` (one size or [kh, kw]), `stride`, `dilation`, `padding` same or valid."""

    ndim = 2
    example = ({"filters": 4, "kernel": [3, 2], "padding": "valid"}, (6, 5, 2))


def has_conv(layers: Any) -> bool:
    """Whether any layer, inside blocks too (`residual { ... }`), is a convolution."""
    return any(isinstance(layer, _Conv) for layer in walk_layers(layers))
