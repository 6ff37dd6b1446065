"""Branching models: `parallel merge=concat { branch { ... } branch { ... } }` runs every branch
on the same input and merges their outputs; `select [i, j]` picks features of the last axis, so
that branches can read different groups of columns.

    model {
      reshape [7, 4]                              # 7 days x (temp_max, temp_min, rain, wind)
      parallel merge=concat {
        branch { select [0, 1]; gru 16 }          # the temperatures, day by day
        branch { select [2, 3]; flatten; dense 8; relu }   # rain and wind of the week
      }
      dense 1
    }

`merge=concat` joins the outputs along the last axis (the other axes must agree), `add` and
`multiply` combine outputs of equal shapes elementwise. Parameters nest by branch:
`01_parallel` -> `00_branch` -> `01_gru` -> `w`. A branch that cannot take the input, or whose
output does not fit the merge, is an error at that branch's line.

Example:
    >>> from dlc.compiler.layers.core import Dense
    >>> p = Parallel(layers=(Branch(layers=(Select(index=[0]), Dense(units=3))), Dense(units=2)))
    >>> p.output_shape((4,)), Parallel(layers=p.layers[1:] * 2, merge="add").output_shape((4,))
    ((5,), (2,))
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from dlc.compiler.layers.base import Context, Layer, Shape, ShapeError
from dlc.compiler.layers.core import Dense
from dlc.compiler.layers.group import Group, inner_error
from dlc.compiler.layers.params import ParamTree
from dlc.compiler.lazy import jax, jnp
from dlc.compiler.registry import LAYERS, register


@register(LAYERS, "select")
class Select(Layer):
    """The features at positions `index` of the last axis, in that order: (..., n) ->
    (..., len(index)). E.g. `select [0, 1]`."""

    index: list[int] = Field(min_length=1)
    positional = ("index",)
    example = ({"index": [2, 0]}, (3, 4))

    def output_shape(self, in_shape: Shape) -> Shape:
        if not in_shape:
            raise ShapeError("select needs an input with a feature axis, got a scalar")
        bad = [i for i in self.index if not 0 <= i < in_shape[-1]]
        if bad:
            raise ShapeError(
                f"select {bad}: the input has {in_shape[-1]} features (0..{in_shape[-1] - 1})",
                "pick positions of the last axis; `reshape` first to pick from a window's days",
            )
        return (*in_shape[:-1], len(self.index))

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        return jnp.take(x, jnp.asarray(self.index), axis=-1)


@register(LAYERS, "branch")
class Branch(Group):
    """One branch of `parallel`: its layers in order, on the input of the `parallel`. (Alone, a
    plain block of layers.)"""

    example = ({"layers": (Select(index=[0, 1]), Dense(units=3))}, (4,))


@register(LAYERS, "parallel")
class Parallel(Group):
    """Runs each layer of its block (usually `branch { ... }`) on the same input and merges the
    outputs: `concat` along the last axis, or `add` / `multiply` elementwise.
    E.g. `parallel merge=concat { branch { dense 8 } branch { select [0]; dense 4 } }`."""

    merge: Literal["concat", "add", "multiply"] = "concat"
    example = ({"layers": (Dense(units=3), Branch.model_validate(Branch.example[0]))}, (4,))
    block_field: ClassVar[str | None] = "layers"

    def child_input_shapes(self, in_shape: Shape) -> list[Shape]:
        return [tuple(in_shape)] * len(self.layers)

    def branch_shapes(self, in_shape: Shape) -> list[Shape]:
        """Each branch's output shape, checked to fit the merge."""
        outs: list[Shape] = []
        for i, layer in enumerate(self.layers):
            try:
                outs.append(tuple(layer.output_shape(tuple(in_shape))))
                layer.param_count(tuple(in_shape))
            except ShapeError as err:
                raise inner_error(err, layer, tuple(in_shape), f"layers.{i}") from None
        for i, out in enumerate(outs[1:], start=1):
            fits = out[:-1] == outs[0][:-1] if self.merge == "concat" else out == outs[0]
            if not fits or not out:
                need = "all axes but the last" if self.merge == "concat" else "the same shape"
                raise ShapeError(
                    f"merge={self.merge}: branch {i + 1} outputs {out}, branch 1 {outs[0]}; "
                    f"they need {need}",
                    "end the branches with `flatten` or `seqpool`, or a `dense` of one width",
                    f"layers.{i}",
                )
        return outs

    def output_shape(self, in_shape: Shape) -> Shape:
        outs = self.branch_shapes(in_shape)
        if self.merge == "concat":
            return (*outs[0][:-1], sum(o[-1] for o in outs))
        return outs[0]

    def params(self, in_shape: Shape) -> ParamTree:
        pairs = zip(self.keys(), self.layers, strict=True)
        return {k: p for k, layer in pairs if (p := layer.params(tuple(in_shape)))}

    def init_params(self, key: Any, in_shape: Shape) -> dict[str, Any]:
        keys = jax.random.split(key, len(self.layers))
        pairs = zip(keys, self.keys(), self.layers, strict=True)
        return {n: p for k, n, layer in pairs if (p := layer.init_params(k, tuple(in_shape)))}

    def init_state(self, in_shape: Shape) -> dict[str, Any]:
        pairs = zip(self.keys(), self.layers, strict=True)
        return {n: s for n, layer in pairs if (s := layer.init_state(tuple(in_shape)))}

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        """Each branch on `x` with the incoming mask (branch i's randomness: fold_in(rng, i));
        the mask after it is the first branch's."""
        new_state = dict(ctx.state)
        outs, masks = [], []
        for i, (name, layer) in enumerate(zip(self.keys(), self.layers, strict=True)):
            inner = Context(train=ctx.train, state=ctx.state.get(name, {}), mask=ctx.mask)
            if layer.uses_rng and ctx.train:
                inner.rng = jax.random.fold_in(ctx.rng, i)
            outs.append(layer.apply(params.get(name, {}), x, inner))
            masks.append(inner.mask)
            if inner.new_state is not None:
                new_state[name] = inner.new_state
        ctx.mask = masks[0]
        if self.has_state:
            ctx.new_state = new_state
        if self.merge == "concat":
            return jnp.concatenate(outs, axis=-1)
        y = outs[0]
        for o in outs[1:]:
            y = y + o if self.merge == "add" else y * o
        return y
