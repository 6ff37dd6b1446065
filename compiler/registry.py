"""Registries: every layer, loss, optimizer, schedule and data source is a frozen Pydantic model
registered under its .dl name by a decorator. The grammar knows none of these names.

Example:
    >>> from dlc.compiler.registry import LAYERS, SpecModel, register
    >>> LAYERS.get("dense").dl_name, "relu" in LAYERS.names()
    ('dense', True)
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T", bound="type[SpecModel]")


class SpecModel(BaseModel):
    """Base of every spec node: frozen, unknown keys are errors, positional args map to fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)
    positional: ClassVar[tuple[str, ...]] = ()
    dl_name: ClassVar[str] = ""
    slots: ClassVar[dict[str, str]] = {}  # field -> registry kind, filled by statement name
    # fields added after specs were first hashed: left out of the canonical JSON (and so of the
    # spec hash) while they hold their default, so existing specs keep their hashes
    hash_omit: ClassVar[frozenset[str]] = frozenset()

    def settings(self) -> dict[str, Any]:
        """The fields as plain data (what `dlc explain` prints)."""
        return self.model_dump(mode="json")


class Registry:
    """A name -> class table for one kind of entry ("layer", "loss", ...).

    Modules are imported lazily: the source files of `modules` (a module, or every file of a
    package) are scanned for `@register(VAR, "name")` lines, and a lookup imports only the module
    that defines the name, so `dlc check` on a small spec does not build every layer class.
    """

    def __init__(self, kind: str, var: str, modules: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.var = var
        self.entries: dict[str, type[SpecModel]] = {}
        self._modules = modules
        self._index: dict[str, str] | None = None

    def _files(self) -> list[tuple[str, Path]]:
        out = []
        for mod in self._modules:
            spec = importlib.util.find_spec(mod)
            if spec is None or spec.origin is None:
                continue
            if spec.submodule_search_locations:  # a package: every module file in it
                folder = Path(spec.origin).parent
                out += [
                    (mod if f.stem == "__init__" else f"{mod}.{f.stem}", f)
                    for f in sorted(folder.glob("*.py"))
                ]
            else:
                out.append((mod, Path(spec.origin)))
        return out

    def index(self) -> dict[str, str]:
        """name -> defining module, read from the source files without importing them."""
        if self._index is None:
            pattern = re.compile(r"@register\(\s*" + self.var + r'\s*,\s*"([A-Za-z_]\w*)"\s*\)')
            self._index = {}
            for mod, path in self._files():
                for name in pattern.findall(path.read_text(encoding="utf-8")):
                    self._index[name] = mod
        return self._index

    def get(self, name: str) -> type[SpecModel] | None:
        if name not in self.entries and name in self.index():
            importlib.import_module(self.index()[name])
        return self.entries.get(name)

    def names(self) -> list[str]:
        return sorted(set(self.index()) | set(self.entries))

    def items(self) -> list[tuple[str, type[SpecModel]]]:
        for mod in sorted(set(self.index().values())):
            importlib.import_module(mod)
        return sorted(self.entries.items())


def lazy_classes(package: str) -> Callable[[str], Any]:
    """A module `__getattr__` for a registry package whose classes live one per submodule:
    `from dlc.compiler.losses import MSE` imports only the submodule that holds `class MSE`
    (found by reading the files, as `Registry.index` does), so the package itself is cheap."""
    table: dict[str, str] = {}

    def getattr_(name: str) -> Any:
        if not table:
            folder = Path(sys.modules[package].__file__ or ".").parent
            for f in sorted(folder.glob("*.py")):
                for cls in _CLASS.findall(f.read_text(encoding="utf-8")):
                    table.setdefault(cls, f"{package}.{f.stem}")
        if name in table and not table[name].endswith(".__init__"):
            return getattr(importlib.import_module(table[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return getattr_


_CLASS = re.compile(r"^class (\w+)\b", re.MULTILINE)


def register(registry: Registry, name: str) -> Callable[[T], T]:
    """Class decorator: `@register(LAYERS, "dense")`."""

    def deco(cls: T) -> T:
        if name in registry.entries:
            raise ValueError(f"{registry.kind} `{name}` is registered twice")
        cls.dl_name = name
        registry.entries[name] = cls
        return cls

    return deco


LAYERS = Registry("layer", "LAYERS", ("dlc.compiler.layers",))
LOSSES = Registry("loss", "LOSSES", ("dlc.compiler.losses",))
OPTIMIZERS = Registry("optimizer", "OPTIMIZERS", ("dlc.compiler.optimizers",))
SCHEDULES = Registry("schedule", "SCHEDULES", ("dlc.compiler.schedules",))
DISTRIBUTIONS = Registry("distribution", "DISTRIBUTIONS", ("dlc.compiler.distributions",))
SOURCES = Registry("data source", "SOURCES", ("dlc.compiler.sources", "dlc.compiler.text_sources"))
