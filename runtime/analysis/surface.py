"""Error-surface views: the loss along a line between two parameter sets, and over a 2-D plane.

The plane is spanned by two directions around the current parameters: random, filter-normalized
directions (Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets"), or two chosen
coordinates of the flat parameter vector. Each view is evaluated in one vmapped, jitted pass.
Plots use matplotlib's Agg backend, imported only when a plot is drawn.

Example:
    >>> import jax.numpy as jnp
    >>> f = lambda p: p[0] ** 2 - p[1] ** 2
    >>> d1, d2 = coordinate_directions(jnp.zeros(2), 0, 1)
    >>> xs, ys, Z = loss_surface_2d(f, jnp.zeros(2), d1, d2, span=1.0, n=3)
    >>> Z.tolist()
    [[0.0, -1.0, 0.0], [1.0, 0.0, 1.0], [0.0, -1.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

LossFn = Callable[[Any], jax.Array]


def _evaluate(loss_fn: LossFn, params: Any, coeffs: np.ndarray, dirs: list[Any]) -> np.ndarray:
    """loss(params + sum_k c[k] * dirs[k]) for each row c of ``coeffs``, in one vmapped pass."""
    flat, unravel = ravel_pytree(params)
    basis = jnp.stack([jnp.asarray(ravel_pytree(d)[0], flat.dtype) for d in dirs])
    if basis.shape[1] != flat.size:
        raise ValueError(f"directions have {basis.shape[1]} entries, params have {flat.size}")

    def one(c: jax.Array) -> jax.Array:
        return jnp.asarray(loss_fn(unravel(flat + c @ basis))).reshape(())

    values = jax.jit(jax.vmap(one))(jnp.asarray(coeffs, flat.dtype))
    return np.asarray(values)


def loss_along_line(
    loss_fn: LossFn, params_a: Any, params_b: Any, n: int = 51, *, margin: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Loss at (1 - a) A + a B for ``n`` values of a evenly spaced in [-margin, 1 + margin].

    The default range is [0, 1] (A to B); ``margin=0.25`` gives the wider [-0.25, 1.25].

    Example:
        >>> a, l = loss_along_line(lambda p: (p ** 2).sum(), jnp.zeros(2), jnp.ones(2), n=3)
        >>> l.tolist()
        [0.0, 0.5, 2.0]
    """
    alphas = np.linspace(-margin, 1.0 + margin, n)
    delta = jax.tree.map(lambda a, b: jnp.asarray(b) - jnp.asarray(a), params_a, params_b)
    return alphas, _evaluate(loss_fn, params_a, alphas[:, None], [delta])


def random_directions(params: Any, key: jax.Array) -> tuple[Any, Any]:
    """Two Gaussian directions shaped like ``params``, filter-normalized per leaf: each leaf of a
    direction is rescaled to the norm of the matching parameter leaf (zero leaves stay zero).

    Example:
        >>> d1, _ = random_directions({"w": jnp.full((2, 2), 3.0)}, jax.random.key(0))
        >>> round(float(jnp.linalg.norm(d1["w"])), 4)
        6.0
    """
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, 2 * max(len(leaves), 1))

    def direction(offset: int) -> Any:
        out = []
        for i, leaf in enumerate(leaves):
            leaf = jnp.asarray(leaf)
            dtype = leaf.dtype if jnp.issubdtype(leaf.dtype, jnp.floating) else jnp.float32
            d = jax.random.normal(keys[offset + i], leaf.shape, dtype)
            out.append(d * (jnp.linalg.norm(leaf) / jnp.maximum(jnp.linalg.norm(d), 1e-12)))
        return jax.tree.unflatten(treedef, out)

    return direction(0), direction(len(leaves))


def coordinate_directions(params: Any, i: int, j: int) -> tuple[Any, Any]:
    """Unit directions along flat parameter indices ``i`` and ``j`` (as params-shaped pytrees),
    so the surface axes are offsets of those two parameters from their current values.

    Example:
        >>> d1, d2 = coordinate_directions(jnp.zeros(3), 0, 2)
        >>> d2.tolist()
        [0.0, 0.0, 1.0]
    """
    flat, unravel = ravel_pytree(params)
    for k in (i, j):
        if not 0 <= k < flat.size:
            raise IndexError(f"parameter index {k} outside 0..{flat.size - 1}")
    if i == j:
        raise ValueError("choose two different parameter indices")
    eye = jnp.zeros((2, flat.size), flat.dtype).at[0, i].set(1).at[1, j].set(1)
    return unravel(eye[0]), unravel(eye[1])


def loss_surface_2d(
    loss_fn: LossFn, params: Any, d1: Any, d2: Any, *, span: float = 1.0, n: int = 41
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loss on an n x n grid params + a d1 + b d2 with a, b in [-span, span].

    Returns (xs, ys, Z) with Z[r, c] the loss at (a = xs[c], b = ys[r]), the layout
    ``matplotlib.contour`` expects. All n*n points are evaluated in one vmapped pass. With
    ``coordinate_directions`` add the current values of the two parameters to xs/ys to get the
    parameter values themselves.

    Example:
        >>> d1, d2 = coordinate_directions(jnp.zeros(2), 0, 1)
        >>> _, _, Z = loss_surface_2d(lambda p: (p ** 2).sum(), jnp.zeros(2), d1, d2, n=3)
        >>> float(Z[1, 1]), float(Z[0, 0])
        (0.0, 2.0)
    """
    xs = np.linspace(-span, span, n)
    ys = np.linspace(-span, span, n)
    aa, bb = np.meshgrid(xs, ys)  # aa[r, c] = xs[c], bb[r, c] = ys[r]
    coeffs = np.stack([aa.ravel(), bb.ravel()], axis=1)
    return xs, ys, _evaluate(loss_fn, params, coeffs, [d1, d2]).reshape(n, n)


def coordinate_surface(
    loss_fn: LossFn, params: Any, i: int, j: int, *, span: float = 1.0, n: int = 41
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loss over flat parameters ``i`` and ``j`` (all others fixed), each varied by up to
    +/-``span`` around its current value; xs and ys are the parameter values themselves, so
    the current point is (xs[n // 2], ys[n // 2]).

    Example:
        >>> xs, ys, Z = coordinate_surface(lambda p: (p ** 2).sum(), jnp.ones(2), 0, 1, n=3)
        >>> xs.tolist(), float(Z[0, 0])
        ([0.0, 1.0, 2.0], 0.0)
    """
    flat = np.asarray(ravel_pytree(params)[0])
    d1, d2 = coordinate_directions(params, i, j)
    xs, ys, Z = loss_surface_2d(loss_fn, params, d1, d2, span=span, n=n)
    return xs + flat[i], ys + flat[j], Z


def plot_line(
    alphas: np.ndarray, losses: np.ndarray, path: str | Path, title: str = "Loss along a line"
) -> Path:
    """Save a PNG of loss against the interpolation coefficient; returns the path.

    Example:
        >>> plot_line(np.linspace(0, 1, 5), np.arange(5.0), "/tmp/line.png")  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    try:
        ax.plot(alphas, losses, color="tab:blue")
        for x, label in ((0.0, "A"), (1.0, "B")):
            if alphas[0] <= x <= alphas[-1]:
                ax.axvline(x, color="gray", linestyle=":", linewidth=1)
                ax.annotate(label, (x, 1.0), xycoords=("data", "axes fraction"), va="bottom")
        ax.set_xlabel("alpha  ((1 - alpha) A + alpha B)")
        ax.set_ylabel("loss")
        ax.set_title(title, pad=14)
        fig.tight_layout()
        fig.savefig(path, format="png", dpi=100)
    finally:
        plt.close(fig)
    return Path(path)


def log_ticks(lo: float, hi: float, most: int = 8) -> list[float]:
    """Readable colour-bar ticks from `lo` to `hi` (> 0) on a log scale: 1-2-5 steps, thinned
    to at most `most`, with finer steps when few fit; at least the two ends' neighbours.

    Example:
        >>> log_ticks(0.003, 0.4)
        [0.005, 0.01, 0.02, 0.05, 0.1, 0.2]
    """
    k0, k1 = int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi)))
    for mantissas in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7)):
        ticks = [
            float(f"{m * 10.0**k:.3g}")
            for k in range(k0, k1 + 1)
            for m in mantissas
            if lo <= m * 10.0**k <= hi
        ]
        if len(ticks) >= 4:
            break
    if len(ticks) > most:  # many decades: every n-th decade
        decades = [float(f"{10.0**k:.3g}") for k in range(k0, k1 + 1) if lo <= 10.0**k <= hi]
        step = -(-len(decades) // most)
        ticks = decades[::step]
    if len(ticks) < 2:
        ticks = sorted({float(f"{v:.2g}") for v in np.geomspace(lo, hi, 4)})
    return ticks


def plot_surface(
    xs: np.ndarray,
    ys: np.ndarray,
    Z: np.ndarray,
    path: str | Path,
    *,
    mark: tuple[float, float] | None = None,
    title: str = "Error surface",
    log_scale: bool = False,
    levels: int = 20,
    figures: dict[str, Any] | None = None,
) -> Path:
    """Save a filled contour plot with contour lines and the current point marked (``mark``,
    default the grid centre, where both kinds of surface put the current parameters).
    ``log_scale`` colours log(Z - min Z) (from the smallest positive difference on the grid,
    at least 1e-6 of the range) so the minimum region stays visible; the colour bar has
    several labelled ticks either way (`log_ticks`, or 6 plain ones). `figures`, when given,
    receives the Figure under the file's name (for tests).

    Example:
        >>> plot_surface(xs, ys, Z, "/tmp/surface.png", mark=(0.0, 0.0))  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import MaxNLocator, NullLocator

    Z = np.asarray(Z, np.float64)
    finite = Z[np.isfinite(Z)]
    if finite.size == 0:
        raise ValueError("the surface has no finite values to plot")
    norm, shown, label = None, Z, "loss"
    contours: int | np.ndarray = levels
    ticks: list[float] | None = None
    if log_scale:
        low, span = finite.min(), finite.max() - finite.min()
        above = finite[finite > low] - low
        floor = max(float(above.min()) if above.size else 0.0, 1e-6 * span, 1e-30)
        shown = np.maximum(Z - low, floor)
        top = max(float(np.nanmax(shown)), floor * 10)
        norm, label = LogNorm(floor, top), f"loss − min (min {low:.4g}), log scale"
        contours = np.geomspace(floor, top, levels)
        ticks = log_ticks(floor, top)
    if mark is None:
        mark = (0.5 * (xs[0] + xs[-1]), 0.5 * (ys[0] + ys[-1]))
    fig, ax = plt.subplots(figsize=(6, 5))
    try:
        filled = ax.contourf(xs, ys, shown, levels=contours, cmap="viridis", norm=norm)
        ax.contour(xs, ys, shown, levels=contours, colors="k", linewidths=0.4, norm=norm)
        bar = fig.colorbar(filled, ax=ax, label=label)
        if ticks is not None:
            bar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
            bar.ax.yaxis.set_minor_locator(NullLocator())
        else:
            bar.locator = MaxNLocator(6)
            bar.update_ticks()
        ax.plot(*mark, marker="*", color="red", markersize=14, markeredgecolor="white")
        ax.set_xlabel("direction 1")
        ax.set_ylabel("direction 2")
        ax.set_title(title)
        fig.tight_layout()
        fig.savefig(path, format="png", dpi=100)
        if figures is not None:
            figures[Path(path).name] = fig
    finally:
        plt.close(fig)
    return Path(path)
