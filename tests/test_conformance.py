"""One parametrized test over every registered layer: it builds, jits in train and eval mode,
and its declared output shape and parameter count equal reality."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import pytest

from dlc.compiler.layers.base import Context
from dlc.compiler.layers.params import INITIALIZERS, ROLES, leaves
from dlc.compiler.registry import (
    DISTRIBUTIONS,
    LAYERS,
    LOSSES,
    OPTIMIZERS,
    SCHEDULES,
    SOURCES,
)


@pytest.mark.parametrize("name", LAYERS.names())
def test_layer_conformance(name: str) -> None:
    cls = LAYERS.get(name)
    settings, in_shape = cls.example
    layer = cls.model_validate(settings)
    params = layer.init_params(jax.random.PRNGKey(0), in_shape)
    state = layer.init_state(in_shape)
    # layers with a block (`residual`) nest their inner layers' parameters by key
    declared = jax.tree.map(
        tuple, layer.param_shapes(in_shape), is_leaf=lambda v: isinstance(v, tuple)
    )
    assert jax.tree.map(lambda v: tuple(v.shape), params) == declared
    assert sum(math.prod(v.shape) for v in jax.tree.leaves(params)) == layer.param_count(in_shape)
    # every parameter declares its role (what L1/L2 penalize) and a known initializer
    for path, p in leaves(layer.params(in_shape)):
        assert p.role in ROLES, (name, path, p.role)
        assert p.init_name in INITIALIZERS, (name, path, p.init_name)
    # a layer with a block declares it: children() are the block, with_children rebuilds it
    if layer.block_field is not None:
        assert layer.children() == getattr(layer, layer.block_field)
        assert layer.with_children(layer.children()) == layer
    else:
        assert layer.children() == ()
    x = jax.random.normal(jax.random.PRNGKey(1), (4, *in_shape))

    for train in (True, False):

        def run(p, x, train=train):
            ctx = Context(train=train, rng=jax.random.PRNGKey(2), state=state)
            return layer.apply(p, x, ctx), ctx.new_state

        y, new_state = jax.jit(run)(params, x)
        assert y.shape == (4, *layer.output_shape(in_shape)), (name, train)
        assert bool(jnp.all(jnp.isfinite(y)))
        if layer.has_state and train:
            assert jax.tree.structure(new_state) == jax.tree.structure(state)


@pytest.mark.parametrize("name", SOURCES.names())
def test_every_data_source_has_a_runtime_loader(name: str) -> None:
    from dlc.runtime.data.loaders import LOADERS

    cls = SOURCES.get(name)
    assert name in LOADERS, f"data source `{name}` has no loader in runtime/data/loaders.py"
    assert not hasattr(cls, "load"), "spec nodes describe data; loaders live in the runtime"


@pytest.mark.parametrize(
    "registry", [LAYERS, LOSSES, OPTIMIZERS, SCHEDULES, SOURCES, DISTRIBUTIONS]
)
def test_registry_entries_are_strict(registry) -> None:
    for name, cls in registry.items():
        assert cls.dl_name == name
        assert cls.model_config.get("extra") == "forbid" and cls.model_config.get("frozen")
        for field in cls.positional:
            assert field in cls.model_fields, (name, field)


@pytest.mark.parametrize(
    "registry", [LAYERS, LOSSES, OPTIMIZERS, SCHEDULES, SOURCES, DISTRIBUTIONS]
)
def test_registry_index_names_the_module_of_each_class(registry) -> None:
    """A spec imports only the modules its names need: `Registry.index` reads the names from
    the source files. Importing every module registers those names, each by a class of the
    module the index gives (plugins loaded by other tests may add more)."""
    index = dict(registry.index())
    registry.items()  # imports every module
    assert set(index) <= set(registry.entries)
    for name, module in index.items():
        assert registry.entries[name].__module__ == module, name


@pytest.mark.parametrize(
    ("package", "name"), [("dlc.compiler.sources", "Csv"), ("dlc.compiler.losses", "Focal")]
)
def test_a_package_of_registry_classes_gives_each_by_name(package: str, name: str) -> None:
    """`from dlc.compiler.sources import Csv` imports the one module that defines it."""
    import importlib

    mod = importlib.import_module(package)
    cls = getattr(mod, name)
    assert cls.__name__ == name and cls.__module__.startswith(package + ".")
    with pytest.raises(AttributeError):
        mod.NoSuchClass  # noqa: B018


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_optimizers_build_and_step(name: str) -> None:
    opt = OPTIMIZERS.get(name)()
    tx = opt.transform(lambda t: 1.0)
    params = {"w": jnp.ones((3,))}
    state = tx.init(params)
    updates, _ = jax.jit(tx.update)({"w": jnp.ones((3,))}, state, params)
    assert bool(jnp.all(updates["w"] < 0))  # a step against the gradient
