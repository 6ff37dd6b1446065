"""`dlc analyze`: classify a run's parameters (or the initial / all-zero ones) as a critical
point of the training loss and draw the error surface around them.

The loss is the spec's loss in evaluation mode over the whole training part (full batch) plus
its L1/L2 penalty. Its gradient and Hessian go to `runtime/analysis/hessian.py` (full spectrum up to
`--exact-limit` parameters, Lanczos above, memory ~ 80 x P). The line (initial -> trained
parameters) and the 2-D surface use at most ``SURFACE_ROWS`` training rows (a fixed random
subset) and evaluate the grid in chunks of points, so no P x P or n^2 x rows x width array is
ever built. Results go to ``RUN/analysis/``: report.json, report.md, line.png, surface.png.

Example:
    $ dlc analyze specs/saddle.dl --at origin --surface coords 0 1
    >>> result = analyze_spec("specs/saddle.dl", at="origin", out_dir="/tmp/a")  # doctest: +SKIP
    >>> result["hessian"]["verdict"]                                             # doctest: +SKIP
    'saddle point'
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from dlc.compiler.errors import DlcError
from dlc.compiler.lower import Program
from dlc.runtime.analysis import hessian, surface

SURFACE_ROWS = 2048  # training rows (a seeded random subset) behind the line and surface plots
LINE_POINTS = 61  # alpha steps of 0.025 over [-0.25, 1.25]: A and B are grid points
CHUNK_FLOATS = 1 << 24  # floats alive per chunk of surface points (~64 MB of float32)


def make_loss(program: Program, model_state: Any, x: np.ndarray, y: np.ndarray) -> Any:
    """params -> mean eval-mode loss over (x, y) + the spec's L1/L2 penalty.

    Example:
        >>> loss = make_loss(program, state, *data.parts["train"])   # doctest: +SKIP
    """
    xs, ys, per_example = jnp.asarray(x), jnp.asarray(y), program.spec.loss.per_example

    def loss(params: Any) -> jax.Array:
        out, _ = program.apply(params, model_state, xs, train=False)
        return jnp.mean(per_example(out, ys)) + program.penalty(params)

    return loss


def param_names(params: Any) -> list[str]:
    """Names of the flat parameter vector's entries, e.g. ["00_dense.w[0,0]", "01_dense.w[0,0]"]."""
    names = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        base = ".".join(str(getattr(k, "key", k)) for k in path)
        names += [f"{base}[{','.join(map(str, i))}]" for i in np.ndindex(np.shape(leaf))]
    return names


def _load_run(run_dir: str, resolved: Any, like: Any, program: Program) -> tuple[Any, Any, str]:
    """The run's parameters, its model state and a note on where that state came from."""
    from dlc.runtime.runs.folder import RunDir, unflatten_params
    from dlc.runtime.train.step import init_state

    run = RunDir.open(run_dir)
    if run.spec_hash() != resolved.hash():
        raise DlcError.single(
            f"run {run.path} was trained with a different spec",
            where=str(run.path),
            hint="pass the same spec and --set values",
        )
    params = jax.tree.map(jnp.asarray, unflatten_params(run.load_arrays("params.safetensors")))
    same = jax.tree.structure(params) == jax.tree.structure(like.params) and all(
        a.shape == b.shape
        for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(like.params), strict=True)
    )
    if not same:
        raise DlcError.single(
            f"the parameters in {run.path} do not fit this spec's model", where=str(run.path)
        )
    if not like.model_state:
        return params, like.model_state, ""
    st = init_state(program, resolved.spec.train.seed)  # checkpoints hold batch-norm statistics
    loaded = run.restore(
        {"train": st, "best": (st.params, st.model_state)}, resolved.hash(), lambda _: None
    )
    for p, s in (
        ((loaded.state["train"].params, loaded.state["train"].model_state), loaded.state["best"])
        if loaded
        else ()
    ):
        if all(
            np.array_equal(a, b)
            for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(params), strict=True)
        ):
            return params, s, "model state from the run's last checkpoint"
    return params, like.model_state, "no checkpoint matches: initial model state (batch norm)"


def _flat(tree: Any) -> np.ndarray:
    """The leaves as one numpy vector, in ``ravel_pytree`` order (no device work)."""
    return np.concatenate([np.ravel(np.asarray(leaf)) for leaf in jax.tree.leaves(tree)])


def _unflat(vec: np.ndarray, like: Any) -> Any:
    leaves, treedef = jax.tree.flatten(like)
    cuts = np.cumsum([np.size(leaf) for leaf in leaves])[:-1]
    parts = zip(np.split(vec, cuts), leaves, strict=True)
    return treedef.unflatten([p.reshape(np.shape(leaf)) for p, leaf in parts])


def _directions(point: Any, init: Any, key: jax.Array) -> tuple[Any, Any]:
    """Filter-normalized random directions; all-zero leaves (e.g. at the origin) borrow the
    initial leaf's norm, or 1 per entry. If the two are far from orthogonal (tiny models, whose
    one-entry leaves only get signs), the second is made orthogonal to the first, same norm."""
    ref = jax.tree.map(
        lambda p, q: p if np.any(p) else q if np.any(q) else np.ones_like(p),
        jax.tree.map(np.asarray, point),
        jax.tree.map(np.asarray, init),
    )
    d1, d2 = jax.jit(surface.random_directions)(ref, key)
    a, b = _flat(d1).astype(np.float64), _flat(d2).astype(np.float64)
    if abs(a @ b) > 0.1 * np.linalg.norm(a) * np.linalg.norm(b):
        c = b - (a @ b) / (a @ a) * a
        if not np.any(c):  # exactly parallel: any orthogonal vector
            c = np.zeros_like(a)
            c[:2] = -a[1], a[0]
        d2 = _unflat((c * np.linalg.norm(b) / np.linalg.norm(c)).astype(np.float32), d2)
    return d1, d2


def grid_losses(
    loss_fn: Any, params: Any, d1: Any, d2: Any, xs: np.ndarray, ys: np.ndarray, chunk: int
) -> np.ndarray:
    """Z[r, c] = loss(params + xs[c] d1 + ys[r] d2), as `surface.loss_surface_2d`, but vmapped
    over ``chunk`` points at a time (lax.map) so memory is chunk x (P + activations).

    Example:
        >>> grid_losses(lambda p: p @ p, jnp.zeros(2), *jnp.eye(2), [0.0, 1.0], [2.0], 1)
        array([[4., 5.]], dtype=float32)
    """
    flat, unravel = ravel_pytree(params)
    basis = jnp.stack([ravel_pytree(d)[0].astype(flat.dtype) for d in (d1, d2)])
    aa, bb = np.meshgrid(xs, ys)
    coeffs = jnp.asarray(np.stack([aa.ravel(), bb.ravel()], 1), flat.dtype)

    def one(c: jax.Array) -> jax.Array:
        return jnp.asarray(loss_fn(unravel(flat + c @ basis))).reshape(())

    values = jax.jit(lambda cs: jax.lax.map(one, cs, batch_size=max(1, chunk)))(coeffs)
    return np.asarray(values).reshape(len(ys), len(xs))


def _subset(x: np.ndarray, y: np.ndarray, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= rows:
        return x, y
    idx = np.sort(np.random.default_rng(seed).choice(len(x), rows, replace=False))
    return x[idx], y[idx]


@dataclass
class Setup:
    """A spec compiled against its data, its initial parameters and (with a run) trained ones."""

    model: Any  # CompiledModel
    program: Program
    start: Any  # TrainState from `trainer.init_state`: what `dlc run` starts from
    trained: Any  # params or None
    model_state: Any
    note: str

    def point(self, at: str) -> Any:
        if at == "origin":
            return jax.tree.map(lambda p: np.zeros(np.shape(p), np.float32), self.start.params)
        return self.trained if at == "trained" else self.start.params


def setup(spec: str, run_dir: str | None, overrides: list[str] | None = None) -> Setup:
    """Compile ``spec``, draw its initial parameters, load (and check) the run's ones."""
    from dlc.runtime.train.model import CompiledModel
    from dlc.runtime.train.step import init_state

    model = CompiledModel.from_source(spec, overrides=overrides)
    program = model.program(len(model.data.parts["train"][0]))
    start = init_state(program, model.spec.train.seed)
    if not run_dir:
        return Setup(model, program, start, None, start.model_state, "")
    trained, state, note = _load_run(run_dir, model.resolved, start, program)
    return Setup(model, program, start, trained, state, note)


def critical_point(
    loss_fn: Any, point: Any, *, exact_limit: int, tol: float, key: jax.Array
) -> dict[str, Any]:
    """`hessian.analyze` as a dict; at a saddle also the escape along the most negative
    eigenvector (``escape``: loss before and after, step length)."""
    rep = hessian.analyze(loss_fn, point, exact_limit=exact_limit, tol=tol, key=key)
    out: dict[str, Any] = {"hessian": dataclasses.asdict(rep), "escape": None}
    if rep.verdict == "saddle point":
        if rep.method == "exact":
            vec = hessian.exact_spectrum(loss_fn, point, limit=exact_limit)[1][:, 0]
        else:
            vec = hessian.lanczos_extremes(loss_fn, point, key=key)[2]
        before, after, moved = hessian.escape_saddle(loss_fn, point, vec)
        step = float(np.linalg.norm(_flat(moved) - _flat(point)))
        out["escape"] = {"loss_before": before, "loss_after": after, "step": step}
    return out


def draw(
    s: Setup, at: str, out: Path, kind: str, coords: tuple[int, int], span: float, n: int
) -> dict[str, Any]:
    """line.png (init -> trained, or -> the point) and surface.png around the point, on at most
    ``SURFACE_ROWS`` training rows; returns their data for report.json."""
    x, y = s.model.data.parts["train"]
    xs, ys = _subset(x, y, SURFACE_ROWS, s.model.spec.train.seed)
    loss = make_loss(s.program, s.model_state, xs, ys)
    rows = f"{len(xs)} rows" if len(xs) == len(x) else f"{len(xs)} of {len(x)} rows"
    point, end = s.point(at), (s.trained if s.trained is not None else s.point(at))
    res: dict[str, Any] = {"plots": {}}
    if not np.allclose(_flat(s.start.params), _flat(end)):
        to = "trained" if s.trained is not None else at
        alphas, line = surface.loss_along_line(loss, s.start.params, end, LINE_POINTS, margin=0.25)
        surface.plot_line(alphas, line, out / "line.png", f"Init (A) to {to} (B), {rows}")
        res["plots"]["line"] = "line.png"
        res["line"] = {"alpha": alphas.tolist(), "loss": line.tolist(), "to": to}
    width = max(int(np.prod(i.out_shape)) for i in s.program.infos)
    chunk = CHUNK_FLOATS // (_flat(point).size + len(xs) * width)
    grid = np.linspace(-span, span, n)
    if kind == "coords":
        (i, j), flat, names = coords, _flat(point), param_names(point)
        d1, d2 = surface.coordinate_directions(point, i, j)
        gx, gy, mark = grid + flat[i], grid + flat[j], (float(flat[i]), float(flat[j]))
        title = f"x: {names[i]}, y: {names[j]}, {rows}"
    else:
        d1, d2 = _directions(point, s.start.params, jax.random.key(s.model.spec.train.seed + 1))
        gx, gy, mark, title = grid, grid, (0.0, 0.0), f"random directions, {rows}"
    z = grid_losses(loss, point, d1, d2, grid, grid, chunk)
    lo, mid, hi = float(np.nanmin(z)), float(np.nanmedian(z)), float(np.nanmax(z))
    # log colours show a narrow valley around a minimum; a saddle reads better in linear ones
    log = bool(z[n // 2, n // 2] - lo < 0.01 * (hi - lo) and hi - lo > 10 * (mid - lo))
    surface.plot_surface(
        gx, gy, z, out / "surface.png", mark=mark, title=f"{at}: {title}", log_scale=log
    )
    res["plots"]["surface"] = "surface.png"
    res["surface"] = {
        "kind": kind,
        "coords": list(coords) if kind == "coords" else None,
        "span": span,
        "n": n,
        "rows": len(xs),
        "title": title,
        "min": lo,
        "max": hi,
        "log_colours": log,
    }
    return res


def analyze_spec(
    spec: str,
    run_dir: str | None = None,
    *,
    at: str | None = None,
    overrides: list[str] | None = None,
    surface_kind: str = "random",
    coords: tuple[int, int] = (0, 1),
    span: float = 1.0,
    n: int = 31,
    exact_limit: int = hessian.EXACT_LIMIT,
    tol: float = 1e-3,
    out_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Run the analysis, write report.json, report.md and the PNGs; returns the report dict."""
    at = at or ("trained" if run_dir else "init")
    if at == "trained" and not run_dir:
        raise DlcError.single("`--at trained` needs the run folder: --run RUN_DIR", where="dlc")
    s = setup(spec, run_dir, overrides)
    point = s.point(at)
    p = _flat(point).size
    if p < 2:
        raise DlcError.single("a 2-D error surface needs at least 2 parameters", where="dlc")
    if surface_kind == "coords" and (
        len(set(coords)) != 2 or not 0 <= min(coords) <= max(coords) < p
    ):
        raise DlcError.single(
            f"--surface coords {coords[0]} {coords[1]}: need two different "
            f"flat parameter indices in 0..{p - 1}",
            where="dlc",
        )
    default = (
        Path(run_dir) / "analysis"
        if run_dir
        else Path("runs") / f"{s.model.resolved.name}-analysis-{at}"
    )
    out = Path(out_dir) if out_dir else default
    out.mkdir(parents=True, exist_ok=True)

    x, y = s.model.data.parts["train"]
    loss_fn, t0 = make_loss(s.program, s.model_state, x, y), time.perf_counter()
    key = jax.random.key(s.model.spec.train.seed)
    result: dict[str, Any] = {
        "spec": str(spec),
        "run": str(run_dir) if run_dir else None,
        "at": at,
        "overrides": list(overrides or []),
        "loss": float(loss_fn(point)),
        "train_rows": len(x),
        "note": s.note,
    }
    result.update(critical_point(loss_fn, point, exact_limit=exact_limit, tol=tol, key=key))
    t1 = time.perf_counter()
    result.update(draw(s, at, out, surface_kind, coords, span, n))
    result["seconds"] = {"analysis": round(t1 - t0, 3), "plots": round(time.perf_counter() - t1, 3)}
    (out / "report.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "report.md").write_text(markdown(result))
    return {**result, "out": str(out)}


def verdict_words(h: dict[str, Any]) -> str:
    """The verdict with its reason and thresholds, in one sentence."""
    g = (
        f"|grad| = {h['grad_norm']:.2e} {'<=' if h['grad_norm'] <= h['grad_tol'] else '>'} "
        f"{h['grad_tol']:.0e}"
    )
    tol = f"{h['eig_tol']:.1e}"
    return {
        "not a critical point": f"not a critical point: {g}, so gradient descent still moves.",
        "saddle point": f"saddle point: {g}, and the Hessian has eigenvalues below -{tol} and "
        f"above +{tol}: the loss still decreases along the eigenvector of the "
        "most negative one.",
        "local minimum": f"local minimum: {g}, and no Hessian eigenvalue is below -{tol}: the "
        "loss rises (or stays flat) in every direction.",
        "local maximum": f"local maximum: {g}, and no Hessian eigenvalue is above +{tol}.",
        "flat / inconclusive": f"flat / inconclusive: {g}, but every Hessian eigenvalue is within "
        f"+/-{tol}; second order cannot tell.",
    }[h["verdict"]]


def rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(quantity, value) rows shared by the terminal table and report.md."""
    h, e = result["hessian"], result["escape"]

    def opt(v: float | None, f: str) -> str:
        return "n/a (Lanczos: extremes only)" if v is None else format(v, f)

    out = [
        ("point", result["at"]),
        ("loss (train, full batch)", f"{result['loss']:.6g}"),
        ("gradient norm", f"{h['grad_norm']:.3e}"),
        ("parameters", f"{h['n_params']:,}"),
        ("Hessian", h["method"]),
        ("smallest eigenvalue", f"{h['min_eig']:.5g}"),
        ("largest eigenvalue", f"{h['max_eig']:.5g}"),
        ("negative eigenvalues", opt(h["n_negative"], "d")),
        ("near-zero eigenvalues", opt(h["n_flat"], "d")),
        ("minimum ratio (share > 0)", opt(h["minimum_ratio"], ".3f")),
        (
            "thresholds",
            f"|grad| <= {h['grad_tol']:.0e}; |eig| <= {h['eig_tol']:.2e} is zero "
            f"({h['eig_rtol']:.0e} x max|eig|)",
        ),
        ("verdict", h["verdict"]),
    ]
    if e:
        out.append(
            (
                "escape step",
                f"length {e['step']:.3g}: loss {e['loss_before']:.6g} -> {e['loss_after']:.6g}",
            )
        )
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(result: dict[str, Any]) -> str:
    """report.md: the table, the verdict in words and the linked PNGs."""
    lines = [
        f"# Critical-point analysis: {result['spec']}",
        "",
        f"Run: {result['run'] or '(none)'}; analyzed at **{result['at']}**.",
        "",
        "| quantity | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {_cell(v)} |" for k, v in rows(result)]
    lines += ["", verdict_words(result["hessian"]), ""]
    if result["note"]:
        lines += [f"Note: {result['note']}.", ""]
    if "line" in result["plots"]:
        lines += [
            "## Loss along the line from the initial parameters",
            "",
            "![loss along the line](line.png)",
            "",
        ]
    lines += [
        "## Error surface",
        "",
        f"{result['surface']['title']}.",
        "",
        "![error surface](surface.png)",
        "",
    ]
    return "\n".join(lines)


def analyze_command(args: argparse.Namespace) -> int:
    """`dlc analyze` (see runtime/cli/main.py): run, print the table, name the files."""
    from rich.console import Console
    from rich.table import Table

    surf = args.surface or ["random"]
    if (
        surf[0] not in ("random", "coords")
        or (surf[0] == "coords") != (len(surf) == 3)
        or (surf[0] == "random" and len(surf) != 1)
    ):
        raise DlcError.single(
            f"bad --surface {' '.join(surf)}",
            where="dlc",
            hint="--surface random, or --surface coords I J",
        )
    try:
        coords = (int(surf[1]), int(surf[2])) if surf[0] == "coords" else (0, 1)
    except ValueError:
        raise DlcError.single(
            f"bad --surface {' '.join(surf)}: I and J are integers",
            where="dlc",
            hint="e.g. --surface coords 0 1",
        ) from None
    result = analyze_spec(
        args.spec,
        args.run,
        at=args.at,
        overrides=args.set,
        surface_kind=surf[0],
        coords=coords,
        span=args.span,
        n=args.n,
        exact_limit=args.exact_limit,
        tol=args.tol,
        out_dir=args.out,
    )
    con = Console(highlight=False)
    table = Table(title=f"{args.spec}: critical point")
    table.add_column("quantity")
    table.add_column("value")
    for k, v in rows(result):
        table.add_row(k, v)
    con.print(table)
    con.print(verdict_words(result["hessian"]))
    if result["note"]:
        con.print(f"note: {result['note']}")
    con.print(
        f"wrote {', '.join(result['plots'].values())}, report.json, report.md to {result['out']}"
    )
    return 0
