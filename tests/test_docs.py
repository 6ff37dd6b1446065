"""The language reference stays true: its registry tables are regenerated from the code."""

from __future__ import annotations

from pathlib import Path

from dlc.compiler.docs import splice
from dlc.compiler.registry import (
    DISTRIBUTIONS,
    LAYERS,
    LOSSES,
    OPTIMIZERS,
    SCHEDULES,
    SOURCES,
)

REFERENCE = Path(__file__).resolve().parents[1] / "grammar" / "README.md"


def test_reference_tables_are_up_to_date() -> None:
    text = REFERENCE.read_text()
    assert splice(text) == text, (
        "run: python -m dlc.runtime.cli.registry_docs --write grammar/README.md"
    )


def test_every_registered_name_is_documented() -> None:
    text = REFERENCE.read_text()
    for reg in (LAYERS, LOSSES, OPTIMIZERS, SCHEDULES, SOURCES, DISTRIBUTIONS):
        for name, cls in reg.items():
            assert f"| `{name}` |" in text, name
            for field in cls.model_fields:
                assert f"`{field}`=" in text, (name, field)
