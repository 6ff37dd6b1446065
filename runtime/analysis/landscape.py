"""The loss around a point, as `dlc analyze` draws it: the full-batch evaluation loss, the line
from the initial parameters and a 2-D surface (random filter-normalized or coordinate
directions), on at most ``SURFACE_ROWS`` training rows and in chunks of grid points, so no
P x P or n^2 x rows x width array is ever built.

Example:
    >>> res = draw(setup_, "origin", Path("/tmp/a"), SurfaceOptions())   # doctest: +SKIP
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from dlc.compiler.lower import Program
from dlc.runtime.analysis import surface
from dlc.runtime.analysis.loading import Setup
from dlc.runtime.analysis.options import SurfaceOptions
from dlc.runtime.runs.pytree import dotted, named_leaves

SURFACE_ROWS = 2048  # training rows (a seeded random subset) behind the line and surface plots
LINE_POINTS = 61  # alpha steps of 0.025 over [-0.25, 1.25]: A and B are grid points
CHUNK_FLOATS = 1 << 24  # floats alive per chunk of surface points (~64 MB of float32)


def make_loss(
    program: Program, model_state: Any, x: np.ndarray, y: np.ndarray, mesh: Any = None
) -> Any:
    """params -> mean eval-mode loss over (x, y) + the spec's L1/L2 penalty. With a `mesh`
    (`sharding.mesh_for`) the rows are split over its devices: each computes its rows' losses,
    XLA all-reduces the sum; the same mean to float rounding.

    Example:
        >>> loss = make_loss(program, state, *data.parts["train"])   # doctest: +SKIP
    """
    per_example = program.spec.loss.per_example
    if mesh is None:
        xs, ys = jnp.asarray(x), jnp.asarray(y)

        def loss(params: Any) -> jax.Array:
            out, _ = program.apply(params, model_state, xs, train=False)
            return jnp.mean(per_example(out, ys)) + program.penalty(params)

        return loss
    from dlc.runtime.train.sharding import batch_sharding, constrain, shard_rows

    n, shard = len(x), batch_sharding(mesh)
    xs, ys, ws = (shard_rows(a, mesh) for a in (x, y, np.ones(len(x), np.float32)))

    def split_loss(params: Any) -> jax.Array:
        # the constraint keeps the rows split inside every program this loss is traced into
        xb, yb, wb = (constrain(a, shard) for a in (xs, ys, ws))
        out, _ = program.apply(params, model_state, xb, train=False)
        per = per_example(out, yb)
        w = wb.reshape(wb.shape + (1,) * (per.ndim - 1))  # padding rows weigh 0
        return jnp.sum(per * w) / (n * math.prod(per.shape[1:])) + program.penalty(params)

    return split_loss


def param_names(params: Any) -> list[str]:
    """Names of the flat parameter vector's entries, e.g. ["00_dense.w[0,0]", "01_dense.w[0,0]"]."""
    names = []
    for base, leaf in named_leaves(params, dotted):
        names += [f"{base}[{','.join(map(str, i))}]" for i in np.ndindex(np.shape(leaf))]
    return names


def flat(tree: Any) -> np.ndarray:
    """The leaves as one numpy vector, in ``ravel_pytree`` order (no device work)."""
    return np.concatenate([np.ravel(np.asarray(leaf)) for leaf in jax.tree.leaves(tree)])


def _unflat(vec: np.ndarray, like: Any) -> Any:
    leaves, treedef = jax.tree.flatten(like)
    cuts = np.cumsum([np.size(leaf) for leaf in leaves])[:-1]
    parts = zip(np.split(vec, cuts), leaves, strict=True)
    return jax.tree.unflatten(treedef, [p.reshape(np.shape(leaf)) for p, leaf in parts])


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
    a, b = flat(d1).astype(np.float64), flat(d2).astype(np.float64)
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
    vec, unravel = ravel_pytree(params)
    basis = jnp.stack([ravel_pytree(d)[0].astype(vec.dtype) for d in (d1, d2)])
    aa, bb = np.meshgrid(xs, ys)
    coeffs = jnp.asarray(np.stack([aa.ravel(), bb.ravel()], 1), vec.dtype)

    def one(c: jax.Array) -> jax.Array:
        return jnp.asarray(loss_fn(unravel(vec + c @ basis))).reshape(())

    values = jax.jit(lambda cs: jax.lax.map(one, cs, batch_size=max(1, chunk)))(coeffs)
    return np.asarray(values).reshape(len(ys), len(xs))


def _subset(x: np.ndarray, y: np.ndarray, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= rows:
        return x, y
    idx = np.sort(np.random.default_rng(seed).choice(len(x), rows, replace=False))
    return x[idx], y[idx]


def draw(s: Setup, at: str, out: Path, opts: SurfaceOptions, mesh: Any = None) -> dict[str, Any]:
    """line.png (init -> trained, or -> the point) and surface.png around the point, on at most
    ``SURFACE_ROWS`` training rows (split over `mesh`'s devices, if given); returns their data
    for report.json."""
    x, y = s.model.data.parts["train"]
    xs, ys = _subset(x, y, SURFACE_ROWS, s.model.spec.train.seed)
    loss = make_loss(s.program, s.model_state, xs, ys, mesh)
    rows = f"{len(xs)} rows" if len(xs) == len(x) else f"{len(xs)} of {len(x)} rows"
    point, end = s.point(at), (s.trained if s.trained is not None else s.point(at))
    res: dict[str, Any] = {"plots": {}}
    if not np.allclose(flat(s.start.params), flat(end)):
        to = "trained" if s.trained is not None else at
        alphas, line = surface.loss_along_line(loss, s.start.params, end, LINE_POINTS, margin=0.25)
        surface.plot_line(alphas, line, out / "line.png", f"Init (A) to {to} (B), {rows}")
        res["plots"]["line"] = "line.png"
        res["line"] = {"alpha": alphas.tolist(), "loss": line.tolist(), "to": to}
    width = max(int(np.prod(i.out_shape)) for i in s.program.infos)
    chunk = CHUNK_FLOATS // (flat(point).size + len(xs) * width)
    n, grid = opts.n, np.linspace(-opts.span, opts.span, opts.n)
    if opts.kind == "coords":
        (i, j), vec, names = opts.coords, flat(point), param_names(point)
        d1, d2 = surface.coordinate_directions(point, i, j)
        gx, gy, mark = grid + vec[i], grid + vec[j], (float(vec[i]), float(vec[j]))
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
        "kind": opts.kind,
        "coords": list(opts.coords) if opts.kind == "coords" else None,
        "span": opts.span,
        "n": n,
        "rows": len(xs),
        "title": title,
        "min": lo,
        "max": hi,
        "log_colours": log,
    }
    return res
