"""The Layer protocol: a frozen spec model that knows its output shape, declares its
parameters (`params`: shape, role and init of each, see `params.py`) and its child layers
(`children`, for layers holding a block), and applies itself (a pure JAX function).

Shapes exclude the batch axis: a batch of 32 vectors of 7 features has shape (7,).

Example:
    >>> from dlc.compiler.layers.core import Dense
    >>> Dense(units=4).output_shape((7,)), Dense(units=4).param_count((7,))
    ((4,), 32)
    >>> {k: p.role for k, p in Dense(units=4).params((7,)).items()}
    {'w': 'weight', 'b': 'bias'}
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from dlc.compiler.layers.params import INITIALIZERS, Param, ParamTree, Shape, count_of, shapes_of
from dlc.compiler.lazy import jax
from dlc.compiler.registry import SpecModel

__all__ = ["INITIALIZERS", "Context", "Layer", "Param", "Shape", "ShapeError", "walk_layers"]


class ShapeError(ValueError):
    """Raised by `output_shape` when a layer cannot take its input; reported at the layer's line.
    `inner` names the layer at fault inside a layer with a body (`layers.2`), if any."""

    def __init__(self, message: str, hint: str | None = None, inner: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.inner = inner


@dataclass
class Context:
    """What a layer sees besides params and input: mode, its RNG key and its state."""

    train: bool = False
    rng: Any = None
    state: dict[str, Any] = field(default_factory=dict)
    new_state: dict[str, Any] | None = None
    mask: Any = None  # per-position mask for sequence layers, when a data source provides one
    memory: Any = None  # (vectors, mask) of an encoder, for cross-attention (`decoder { }`)
    # settings of this layer given as traced values (named in the layer's `traced`), e.g. a
    # per-lane dropout rate in an experiment: {"rate": Array}; they replace the layer's own
    overrides: dict[str, Any] = field(default_factory=dict)


class Layer(SpecModel):
    """Base class of every layer. Subclasses override what they need."""

    has_state: ClassVar[bool] = False
    uses_rng: ClassVar[bool] = False
    reads_tokens: ClassVar[bool] = False  # input = token ids: Program.apply masks ids == 0
    # the layer cross-attends to an encoder's output (`decoder_block cross=true`): only valid
    # where a container hands one down (see `memory_parts`)
    needs_memory: ClassVar[bool] = False
    # per part of a container's body, whether that part gets the encoder's output
    memory_parts: ClassVar[tuple[bool, ...] | None] = None
    # settings that may arrive as traced values (`Context.overrides`): experiment lanes that
    # differ only in them share one compiled program (e.g. dropout's ("rate",))
    traced: ClassVar[tuple[str, ...]] = ()
    # settings and an input shape for the registry conformance test (tests/test_conformance.py)
    example: ClassVar[tuple[dict[str, Any], Shape]] = ({}, (5,))

    def output_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    # the field holding the layer's block (`residual { ... }`: "layers"); None: no block
    block_field: ClassVar[str | None] = None

    def children(self) -> tuple[Layer, ...]:
        """The layers of this layer's block, in order (none for a plain layer)."""
        return ()

    def child_input_shapes(self, in_shape: Shape) -> list[Shape] | None:
        """The input shape of each child when each reads an input of its own (the parts of
        `encoder_decoder`); None: the children run in order, each on the one before's output."""
        return None

    def with_children(self, children: Iterable[Layer]) -> Layer:
        """This layer with its block replaced by `children` (a rewrite pass's tool)."""
        children = tuple(children)
        if children != self.children():
            raise ValueError(f"layer `{self.dl_name}` holds no block of layers")
        return self

    def params(self, in_shape: Shape) -> ParamTree:
        """Each parameter's shape, role and init: {name: Param} (blocks nest by layer key)."""
        return {}

    def param_shapes(self, in_shape: Shape) -> dict[str, Any]:
        return shapes_of(self.params(in_shape))

    def param_count(self, in_shape: Shape) -> int:
        return count_of(self.params(in_shape))

    def init_params(self, key: Any, in_shape: Shape) -> dict[str, Any]:
        declared = self.params(in_shape)
        keys = jax.random.split(key, max(1, len(declared)))
        out = {}
        for k, (name, p) in zip(keys, sorted(declared.items()), strict=False):
            assert isinstance(p, Param), f"{self.dl_name}: a nested `{name}` needs init_params"
            out[name] = p.initialize(k)
        return out

    def init_state(self, in_shape: Shape) -> dict[str, Any]:
        return {}

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        raise NotImplementedError(f"layer `{self.dl_name}` has no apply")


def walk_layers(layers: Iterable[Layer]) -> Iterator[Layer]:
    """Every layer, depth first: each layer, then the layers of its block.

    Example:
        >>> from dlc.compiler.layers.core import Dense
        >>> from dlc.compiler.layers.residual import Residual
        >>> [x.dl_name for x in walk_layers([Residual(layers=(Dense(units=2),)), Dense(units=1)])]
        ['residual', 'dense', 'dense']
    """
    for layer in layers:
        yield layer
        yield from walk_layers(layer.children())


class Activation(Layer):
    """A parameter-free elementwise function; subclasses define `fn`."""

    def fn(self, x: Any) -> Any:
        raise NotImplementedError

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        return self.fn(x)
