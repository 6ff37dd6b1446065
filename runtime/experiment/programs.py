"""The grid's settings and which of them share one compiled program: `grid_settings` resolves
every grid point (errors at the `grid` lines), `static_key` is a spec without the values a lane
takes as traced inputs. No JAX here, so that `dlc check` can check grid points and count the
programs.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

from dlc.compiler.checks import literal
from dlc.compiler.errors import Diagnostic, DlcError
from dlc.compiler.explain import canonical_json
from dlc.compiler.frontend import ResolvedSpec, load_spec
from dlc.compiler.spec import Spec
from dlc.runtime.experiment.results import Setting

LANE = "lane"  # placeholder of a per-lane value in `static_key`


def static_key(spec: Spec) -> str:
    """What must be equal for specs to share one program: the spec without its per-lane values.

    Example:
        >>> from dlc.compiler.frontend import load_spec
        >>> a = 'data { digits }\\nmodel { dense 10 }\\nloss cross_entropy\\noptimizer adam lr=X\\n'
        >>> static_key(load_spec(a.replace("X", "0.1")).spec) == static_key(
        ...     load_spec(a.replace("X", "0.2")).spec)
        True
    """
    opt = spec.optimizer
    # sgd builds no momentum trace when momentum is 0: that changes the optimizer state's shape
    hyper = {
        k: (0 if k == "momentum" and getattr(opt, k) == 0 else LANE)
        for k in ("lr", "weight_decay", *opt.hyper)
    }
    # settings a layer takes as traced values (`Layer.traced`, e.g. dropout's rate)
    layers = tuple(
        layer.model_copy(update=dict.fromkeys(layer.traced, LANE)) if layer.traced else layer
        for layer in spec.model.layers
    )
    view = spec.model_copy(
        update={
            "optimizer": opt.model_copy(update=hyper),
            "model": spec.model.model_copy(update={"layers": layers}),
            "schedule": LANE,
            "regularize": LANE,
            "experiment": None,
            "train": spec.train.model_copy(update={"seed": 0}),
        }
    )
    return canonical_json(view)


def grid_settings(source: str | Path, overrides: list[str], base: ResolvedSpec) -> list[Setting]:
    """Every grid point, validated; an invalid value is an error at its `grid` line."""
    assert base.spec.experiment is not None
    grid = base.spec.experiment.grid
    seen: set[str] = set()
    for i, g in enumerate(grid):
        span = base.spans.get(f"grid.{i}")
        bad = (
            "`train.seed` is not a grid axis"
            if g.key == "train.seed"
            else "an experiment cannot vary itself"
            if g.key.split(".")[0] == "experiment"
            else f"`{g.key}` has a grid already"
            if g.key in seen
            else None
        )
        if bad:
            hint = "list seeds with `seeds [0, 1, 2]`" if g.key == "train.seed" else None
            raise DlcError([Diagnostic(bad, span, hint)], base.sources)
        seen.add(g.key)
    settings = []
    for index, point in enumerate(itertools.product(*(g.values for g in grid))):
        extra = [f"{g.key}={literal(v)}" for g, v in zip(grid, point, strict=True)]
        try:
            # the grid's values were checked on `base` (the spec as written, one at a time); a
            # point's values applied together may change what another axis's path names
            resolved = load_spec(
                source,
                overrides=[*overrides, *extra],
                base_dir=base.base_dir,
                check_grid_paths=False,
            )
        except DlcError as err:
            raise at_grid(err, base, len(overrides), extra) from None
        values = {g.key: v for g, v in zip(grid, point, strict=True)}
        settings.append(Setting(index, values, extra, resolved))
    return settings


def at_grid(
    err: DlcError,
    base: ResolvedSpec,
    first: int,
    extra: list[str],
    axis: str = "grid",
    lines: list[int] | None = None,
) -> DlcError:
    """Errors of a grid point's overrides -> errors at the `grid` lines (`first`: how many
    overrides come before the grid point's `extra` ones); `axis="param"`: a search's trial,
    errors at its `param` lines; `lines`: which line (grid or param index) each of `extra`
    comes from (default: the j-th)."""
    what = "grid point" if axis == "grid" else "searched setting"
    diags = []
    for d in err.diagnostics:
        file = d.span.file if d.span else ""
        j = next((j for j in range(len(extra)) if file == f"--set[{first + j}]"), None)
        if j is None:  # elsewhere, but caused by the grid point: say which one
            note = f"with the {what} {', '.join(extra)}"
            span = base.spans.get(f"{axis}.0")
            notes = (*d.notes, (note, span)) if span else d.notes
            diags.append(dataclasses.replace(d, notes=notes))
        else:
            hint = None if d.hint and "--set" in d.hint else d.hint  # it is not from --set
            diags.append(
                Diagnostic(
                    f"{what.split()[0]} value `{extra[j]}`: {d.message}",
                    base.spans.get(f"{axis}.{lines[j] if lines else j}"),
                    hint,
                )
            )
    return DlcError(diags, {**err.sources, **base.sources})
