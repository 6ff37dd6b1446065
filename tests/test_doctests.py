"""Every module's docstring example runs (imported as `dlc.*`, the installed names)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import dlc

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(dlc.__path__, prefix="dlc.")
    if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, monkeypatch) -> None:
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
