"""Reference tables generated from the registries, kept inside grammar/README.md between
markers; `tests/test_docs.py` fails when they are stale.

    python -m dlc.runtime.cli.registry_docs --write grammar/README.md

Example:
    >>> "| `dense` |" in registry_tables()
    True
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from pydantic_core import PydanticUndefined

from dlc.compiler.registry import (
    DISTRIBUTIONS,
    LAYERS,
    LOSSES,
    OPTIMIZERS,
    SCHEDULES,
    SOURCES,
    Registry,
)

BEGIN, END = "<!-- registry:begin -->", "<!-- registry:end -->"
SECTIONS = [
    ("Data sources", SOURCES),
    ("Layers", LAYERS),
    ("Losses", LOSSES),
    ("Optimizers", OPTIMIZERS),
    ("Schedules", SCHEDULES),
    ("Search distributions", DISTRIBUTIONS),
]


def _default(info: Any) -> str:
    if info.default is PydanticUndefined and info.default_factory is None:
        return "required"
    v = info.default if info.default_factory is None else info.default_factory()
    if isinstance(v, bool):
        return "true" if v else "false"
    return "none" if v is None else f"{v!r}".replace("'", '"')


def _settings(cls: type) -> str:
    parts = []
    for name, info in cls.model_fields.items():  # type: ignore[attr-defined]
        pos = " (positional)" if name in cls.positional else ""  # type: ignore[attr-defined]
        parts.append(f"`{name}`={_default(info)}{pos}")
    return ", ".join(parts) or "—"


def _doc(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    if doc.startswith(("Base class", "A frozen")) or cls.__doc__ is None:
        doc = ""
    first = doc.split("\n\n")[0].replace("\n", " ").replace("|", "\\|")
    return re.sub(r"\s+", " ", first)


def _table(reg: Registry) -> list[str]:
    rows = ["| name | settings (default) | what it is |", "| --- | --- | --- |"]
    for name, cls in reg.items():
        rows.append(f"| `{name}` | {_settings(cls)} | {_doc(cls)} |")
    return rows


def registry_tables() -> str:
    out = []
    for title, reg in SECTIONS:
        out += [f"### {title}", "", *_table(reg), ""]
    return "\n".join(out).rstrip() + "\n"


def splice(text: str) -> str:
    """`text` with the generated tables between the markers."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{registry_tables()}{END}{tail}"


def entry_reference(cls: type) -> tuple[str, str]:
    """A registry entry's (settings, description) as its row in the tables reads them; the
    language server (`dlc lsp`) shows them on hover.

    Example:
        >>> from dlc.compiler.registry import LOSSES
        >>> entry_reference(LOSSES.get("mse"))[1]
        'Mean squared error: mean((out - y)^2).'
    """
    return _settings(cls), _doc(cls)
