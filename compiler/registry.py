"""Registries: every layer, loss, optimizer, schedule and data source is a frozen Pydantic model
registered under its .dl name by a decorator. The grammar knows none of these names.

Example:
    >>> from dlc.compiler.registry import LAYERS, SpecModel, register
    >>> @register(LAYERS, "my_identity")
    ... class MyIdentity(SpecModel):
    ...     pass
    >>> LAYERS.get("my_identity") is MyIdentity
    True
    >>> del LAYERS.entries["my_identity"]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T", bound=type)


class SpecModel(BaseModel):
    """Base of every spec node: frozen, unknown keys are errors, positional args map to fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    positional: ClassVar[tuple[str, ...]] = ()
    dl_name: ClassVar[str] = ""
    slots: ClassVar[dict[str, str]] = {}  # field -> registry kind, filled by statement name

    def settings(self) -> dict[str, Any]:
        """The fields as plain data (what `dlc explain` prints)."""
        return self.model_dump(mode="json")


class Registry:
    """A name -> class table for one kind of entry ("layer", "loss", ...)."""

    def __init__(self, kind: str, modules: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.entries: dict[str, type[SpecModel]] = {}
        self._modules = modules
        self._loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            import importlib

            for m in self._modules:
                importlib.import_module(m)

    def get(self, name: str) -> type[SpecModel] | None:
        self._load()
        return self.entries.get(name)

    def names(self) -> list[str]:
        self._load()
        return sorted(self.entries)

    def items(self) -> list[tuple[str, type[SpecModel]]]:
        self._load()
        return sorted(self.entries.items())


def register(registry: Registry, name: str) -> Callable[[T], T]:
    """Class decorator: `@register(LAYERS, "dense")`."""

    def deco(cls: T) -> T:
        if name in registry.entries:
            raise ValueError(f"{registry.kind} `{name}` is registered twice")
        cls.dl_name = name
        registry.entries[name] = cls
        return cls

    return deco


LAYERS = Registry("layer", ("dlc.compiler.layers",))
LOSSES = Registry("loss", ("dlc.compiler.losses",))
OPTIMIZERS = Registry("optimizer", ("dlc.compiler.optimizers",))
SCHEDULES = Registry("schedule", ("dlc.compiler.schedules",))
SOURCES = Registry("data source", ("dlc.compiler.sources",))
