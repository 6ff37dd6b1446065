"""The Hessian of a loss at given parameters: the gradient norm, the full spectrum for small models
and, for larger ones, the extreme eigenvalues from Lanczos iterations on Hessian-vector products,
which never build the P x P matrix (memory ~ iters x P); and the step that escapes a saddle
along the eigenvector of the most negative eigenvalue. `critical.py` turns them into a verdict.

Small models (P <= ``EXACT_LIMIT`` parameters) get the full spectrum from ``jax.hessian``.

Example:
    >>> import jax.numpy as jnp
    >>> s = spectrum(lambda p: p["x"] ** 2 - p["y"] ** 2, {"x": 0.0, "y": 0.0})
    >>> s.method, round(s.lo, 5), round(s.hi, 5)
    ('exact', -2.0, 2.0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from dlc.runtime.analysis.options import EXACT_LIMIT

LossFn = Callable[[Any], jax.Array]


def _flat_loss(loss_fn: LossFn, params: Any) -> tuple[Callable[[jax.Array], jax.Array], jax.Array]:
    flat, unravel = ravel_pytree(params)
    flat = jnp.asarray(flat)
    if not jnp.issubdtype(flat.dtype, jnp.floating):
        flat = flat.astype(jnp.result_type(float))
    return (lambda x: jnp.asarray(loss_fn(unravel(x))).reshape(())), flat


def gradient_norm(loss_fn: LossFn, params: Any) -> float:
    """Euclidean norm of the gradient over all parameters.

    Example:
        >>> gradient_norm(lambda p: (p ** 2).sum(), jnp.array([3.0, 4.0]))
        10.0
    """
    f, flat = _flat_loss(loss_fn, params)
    return float(jnp.linalg.norm(jax.jit(jax.grad(f))(flat)))


def exact_spectrum(
    loss_fn: LossFn, params: Any, *, limit: int = EXACT_LIMIT
) -> tuple[np.ndarray, np.ndarray]:
    """All Hessian eigenvalues (ascending) and eigenvectors (columns, shape [P, P]).

    Raises ValueError when P exceeds ``limit``. Example:
        >>> vals, vecs = exact_spectrum(lambda p: p[0] ** 2 + 3 * p[1] ** 2, jnp.zeros(2))
        >>> vals.round(6).tolist()
        [2.0, 6.0]
    """
    f, flat = _flat_loss(loss_fn, params)
    if flat.size > limit:
        raise ValueError(f"exact Hessian needs P <= {limit}, got P = {flat.size}; use Lanczos")
    h = jax.jit(jax.hessian(f))(flat)
    vals, vecs = jnp.linalg.eigh(0.5 * (h + h.T))
    return np.asarray(vals), np.asarray(vecs)


def _hvp_flat(f: Callable[[jax.Array], jax.Array]) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """(x, v) -> H(x) v as forward-over-reverse: jvp of grad; O(P) memory."""
    grad_f = jax.grad(f)
    return lambda x, v: jax.jvp(grad_f, (x,), (v.astype(x.dtype),))[1]


def hvp(loss_fn: LossFn, params: Any) -> Callable[[jax.Array], jax.Array]:
    """A jitted ``v -> H v`` on flat vectors (length P), never materializing H.

    Example:
        >>> hv = hvp(lambda p: p[0] ** 2 + 3 * p[1] ** 2, jnp.zeros(2))
        >>> hv(jnp.array([1.0, 1.0])).tolist()
        [2.0, 6.0]
    """
    f, flat = _flat_loss(loss_fn, params)
    product = jax.jit(_hvp_flat(f))
    return lambda v: product(flat, jnp.asarray(v))


def _lanczos_program(loss_fn: LossFn, params: Any, iters: int) -> tuple[Callable, jax.Array, int]:
    """Jitted (x, v0) -> (V [m+1, P], alphas [m], betas [m], steps) and the flat params, m."""
    f, flat = _flat_loss(loss_fn, params)
    m = int(min(iters, flat.size))
    matvec = _hvp_flat(f)
    tiny = 100 * jnp.finfo(flat.dtype).eps

    def run(x: jax.Array, v0: jax.Array) -> tuple[jax.Array, ...]:
        basis = jnp.zeros((m + 1, x.size), x.dtype).at[0].set(v0 / jnp.linalg.norm(v0))
        alphas = jnp.zeros(m, x.dtype)
        betas = jnp.zeros(m, x.dtype)

        def body(state: tuple) -> tuple:
            j, basis, alphas, betas, scale, _ = state
            v = basis[j]
            w = matvec(x, v)
            alpha = jnp.vdot(v, w)
            for _ in range(2):  # full reorthogonalization, "twice is enough"
                w = w - basis.T @ (basis @ w)
            beta = jnp.linalg.norm(w)
            scale = jnp.maximum(scale, jnp.maximum(jnp.abs(alpha), beta))
            broke = beta <= tiny * scale  # Krylov space exhausted: T is exact, stop
            nxt = jnp.where(broke, 0.0, w / jnp.where(broke, 1.0, beta))
            basis = basis.at[j + 1].set(nxt)
            return j + 1, basis, alphas.at[j].set(alpha), betas.at[j].set(beta), scale, broke

        def cond(state: tuple) -> jax.Array:
            return (state[0] < m) & ~state[5]

        init = (jnp.int32(0), basis, alphas, betas, jnp.zeros((), x.dtype), jnp.bool_(False))
        steps, basis, alphas, betas, _, _ = jax.lax.while_loop(cond, body, init)
        return basis, alphas, betas, steps

    return jax.jit(run), flat, m


def lanczos_extremes(
    loss_fn: LossFn, params: Any, *, iters: int = 80, key: jax.Array | None = None
) -> tuple[float, float, np.ndarray]:
    """Smallest and largest Hessian eigenvalue estimates and the (unit, flat) Ritz vector of the
    smallest, by ``iters`` Lanczos steps with full reorthogonalization (memory iters x P).

    Example:
        >>> lo, hi, v = lanczos_extremes(lambda p: p[0] ** 2 - p[1] ** 2, jnp.zeros(2))
        >>> round(lo, 5), round(hi, 5)
        (-2.0, 2.0)
    """
    program, flat, _ = _lanczos_program(loss_fn, params, iters)
    key = jax.random.key(0) if key is None else key
    v0 = jax.random.normal(key, flat.shape, flat.dtype)
    basis, alphas, betas, steps = program(flat, v0)
    k = int(steps)
    a = np.asarray(alphas[:k], np.float64)
    b = np.asarray(betas[: k - 1], np.float64)
    ritz, vecs = np.linalg.eigh(np.diag(a) + np.diag(b, 1) + np.diag(b, -1))
    vec = np.asarray(basis[:k].T @ jnp.asarray(vecs[:, 0], basis.dtype))
    return float(ritz[0]), float(ritz[-1]), vec / np.linalg.norm(vec)


@dataclass(frozen=True)
class Spectrum:
    """The Hessian's extreme eigenvalues, all of them when exact, and the unit (flat) eigenvector
    of the smallest: the escape direction at a saddle."""

    method: str  # "exact" or "lanczos"
    lo: float
    hi: float
    values: np.ndarray | None  # ascending; exact only
    lowest: np.ndarray


def spectrum(
    loss_fn: LossFn,
    params: Any,
    *,
    exact_limit: int = EXACT_LIMIT,
    iters: int = 80,
    key: jax.Array | None = None,
) -> Spectrum:
    """The full spectrum for P <= ``exact_limit`` parameters, else Lanczos extremes.

    Example:
        >>> s = spectrum(lambda p: p[0] ** 2 - p[1] ** 2, jnp.zeros(2))
        >>> s.method, round(s.lo, 5), abs(s.lowest).round(5).tolist()
        ('exact', -2.0, [0.0, 1.0])
    """
    if int(ravel_pytree(params)[0].size) <= exact_limit:
        vals, vecs = exact_spectrum(loss_fn, params, limit=exact_limit)
        return Spectrum("exact", float(vals[0]), float(vals[-1]), vals, vecs[:, 0])
    lo, hi, vec = lanczos_extremes(loss_fn, params, iters=iters, key=key)
    return Spectrum("lanczos", lo, hi, None, vec)


def escape_saddle(
    loss_fn: LossFn, params: Any, direction: Any, *, step: float | None = None
) -> tuple[float, float, Any]:
    """Step along +/- the unit ``direction`` (flat length-P vector or a params-shaped pytree,
    normally the eigenvector of the most negative eigenvalue) and keep the lower loss.

    With ``step`` given, tries +/-step. Otherwise the curvature lam = u.Hu sets a base step
    t0 = sqrt(0.2 |loss| / |lam|) (the quadratic model's 10 % loss drop) and t0 * 2**k (k=-4..4)
    and 10**k (k=-3..0) are tried with both signs. If no trial lowers the loss, ``params`` are
    returned unchanged. Returns (loss_before, loss_after, new_params).

    Example:
        >>> before, after, _ = escape_saddle(lambda p: p[0] ** 2 - p[1] ** 2, jnp.zeros(2),
        ...                                  jnp.array([0.0, 1.0]))
        >>> after < before
        True
    """
    f, flat = _flat_loss(loss_fn, params)
    unravel = ravel_pytree(params)[1]
    is_flat = isinstance(direction, np.ndarray | jax.Array) and direction.ndim == 1
    u = jnp.asarray(direction if is_flat else ravel_pytree(direction)[0])
    if u.shape != flat.shape:
        raise ValueError(f"direction has {u.size} entries, params have {flat.size}")
    u = (u / jnp.linalg.norm(u)).astype(flat.dtype)
    before = float(f(flat))
    if step is None:
        lam = float(jnp.vdot(u, _hvp_flat(f)(flat, u)))
        t0 = np.sqrt(0.2 * max(abs(before), 1e-12) / max(abs(lam), 1e-12))
        sizes = np.concatenate([t0 * 2.0 ** np.arange(-4, 5), 10.0 ** np.arange(-3, 1)])
    else:
        sizes = np.array([abs(step)])
    steps = jnp.asarray(np.concatenate([sizes, -sizes]), flat.dtype)
    losses = np.asarray(jax.jit(lambda ts: jax.lax.map(lambda t: f(flat + t * u), ts))(steps))
    losses = np.where(np.isfinite(losses), losses, np.inf)
    best = int(np.argmin(losses))
    if not losses[best] < before:
        return before, before, params
    return before, float(losses[best]), unravel(flat + steps[best] * u)
