"""Named inputs: `input NAME` reads the group of feature columns that the data section names
`NAME` (`data { input temps [temp_max, temp_min] }`), so that branches of a `parallel` read
different inputs by name instead of by position.

    data {
      csv "data/seattle-weather.csv" target=temp_max
      input temps [temp_max, temp_min]
      input weather ["precipitation:wind"]
    }
    model {
      parallel {
        branch { input temps; dense 8 }
        branch { input weather; dense 4 }
      }
      dense 1
    }

The data fill in `index` (where the group's values sit in the model's input: with a `window`,
every day's columns, oldest day first) and `width` (the model input's size) through the
`bind_inputs` pass (`compiler/passes.py`); a spec never writes them.

Example:
    >>> layer = Input(name="temps", index=[0, 2], width=3)
    >>> layer.output_shape((3,))
    (2,)
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from dlc.compiler.layers.base import Context, Layer, Shape, ShapeError
from dlc.compiler.lazy import jnp
from dlc.compiler.registry import LAYERS, register


@register(LAYERS, "input")
class Input(Layer):
    """The named input `name` of the data section (`data { input temps [temp_max, temp_min] }`):
    the model input's values of that group of columns, (k,) for k columns (a `window` of N
    days: (N·k,), oldest day first). It reads the model's input: put it first in a `branch`.
    E.g. `branch { input temps; dense 8 }`."""

    name: str = Field(min_length=1)
    # filled in from the data (`bind_inputs`): positions in the model's flat input, its size
    index: list[int] | None = None
    width: int | None = None
    positional = ("name",)
    example = ({"name": "a", "index": [3, 0], "width": 5}, (5,))

    def output_shape(self, in_shape: Shape) -> Shape:
        if self.index is None or self.width is None:
            raise ShapeError(
                f"the input `{self.name}` is not known before the data is read",
                "declare it in the data section: `input NAME [columns]`",
            )
        if tuple(in_shape) != (self.width,):
            raise ShapeError(
                f"`input {self.name}` reads the model's input, of shape ({self.width},), but "
                f"gets {tuple(in_shape)} here",
                "put `input` first: as the first layer of a `branch` inside `parallel`, or of "
                "the model",
            )
        return (len(self.index),)

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        assert self.index is not None
        return jnp.take(x, jnp.asarray(self.index, jnp.int32), axis=-1)
