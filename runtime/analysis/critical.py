"""Critical-point analysis: is a point of a loss a minimum, a saddle, a maximum, or no critical
point at all?

When training stalls the gradient is (near) zero: a *critical point*. The Hessian H tells which
kind: all eigenvalues positive -> local minimum; mixed signs -> saddle point (the loss still goes
down along an eigenvector with a negative eigenvalue); all negative -> local maximum. The
spectrum comes from `hessian.py` (exact or Lanczos).

Example:
    >>> import jax.numpy as jnp
    >>> report = analyze(lambda p: p["x"] ** 2 - p["y"] ** 2, {"x": 0.0, "y": 0.0})
    >>> report.verdict is Verdict.SADDLE, str(report.verdict)
    (True, 'saddle point')
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from dlc.runtime.analysis.hessian import EXACT_LIMIT, LossFn, Spectrum, gradient_norm, spectrum


class Verdict(StrEnum):
    """What kind of point the parameters are; its value is the text in reports and report.json."""

    MINIMUM = "local minimum"
    SADDLE = "saddle point"
    MAXIMUM = "local maximum"
    NOT_CRITICAL = "not a critical point"
    FLAT = "flat / inconclusive"


@dataclass(frozen=True)
class CriticalPointReport:
    """What ``analyze`` found; ``describe()`` renders it as text."""

    grad_norm: float
    n_params: int
    method: str  # "exact" or "lanczos"
    min_eig: float
    max_eig: float
    n_negative: int | None  # exact only
    n_flat: int | None  # eigenvalues within eig_tol of zero; exact only
    minimum_ratio: float | None  # share of positive eigenvalues; exact only
    verdict: Verdict
    grad_tol: float
    eig_rtol: float
    eig_tol: float  # absolute threshold actually used: max(eig_rtol * max|eig|, eig_atol)

    def describe(self) -> str:
        """Readable multi-line summary."""
        lines = [
            f"verdict: {self.verdict}",
            f"parameters: {self.n_params}   Hessian: {self.method}",
            f"gradient norm: {self.grad_norm:.3e}  (critical if <= {self.grad_tol:.1e})",
            f"eigenvalues: min {self.min_eig:.4e}, max {self.max_eig:.4e}"
            f"  (|eig| <= {self.eig_tol:.2e} counts as zero, {self.eig_rtol:.0e} x max|eig|)",
        ]
        if self.n_negative is not None:
            lines.append(
                f"negative: {self.n_negative}, near zero: {self.n_flat}, "
                f"minimum ratio (share positive): {self.minimum_ratio:.3f}"
            )
        if self.verdict is Verdict.SADDLE:
            lines.append("the loss decreases along the eigenvector of the most negative eigenvalue")
        return "\n".join(lines)


def _verdict(grad_norm: float, lo: float, hi: float, grad_tol: float, eig_tol: float) -> Verdict:
    if grad_norm > grad_tol:
        return Verdict.NOT_CRITICAL
    negative, positive = lo < -eig_tol, hi > eig_tol
    if negative and positive:
        return Verdict.SADDLE
    if positive:
        return Verdict.MINIMUM
    if negative:
        return Verdict.MAXIMUM
    return Verdict.FLAT


def classify(
    grad_norm: float,
    spec: Spectrum,
    n_params: int,
    *,
    tol: float = 1e-3,
    eig_rtol: float = 1e-3,
    eig_atol: float = 1e-8,
) -> CriticalPointReport:
    """The report for a gradient norm and a spectrum (thresholds as in `analyze`)."""
    lo, hi, vals = spec.lo, spec.hi, spec.values
    eig_tol = max(eig_rtol * max(abs(lo), abs(hi)), eig_atol)
    n_negative = n_flat = ratio = None
    if vals is not None:
        n_negative = int(np.sum(vals < -eig_tol))
        n_flat = int(np.sum(np.abs(vals) <= eig_tol))
        ratio = float(np.mean(vals > eig_tol))
    return CriticalPointReport(
        grad_norm=grad_norm,
        n_params=n_params,
        method=spec.method,
        min_eig=lo,
        max_eig=hi,
        n_negative=n_negative,
        n_flat=n_flat,
        minimum_ratio=ratio,
        verdict=_verdict(grad_norm, lo, hi, tol, eig_tol),
        grad_tol=tol,
        eig_rtol=eig_rtol,
        eig_tol=eig_tol,
    )


def analyze(
    loss_fn: LossFn,
    params: Any,
    *,
    exact_limit: int = EXACT_LIMIT,
    tol: float = 1e-3,
    eig_rtol: float = 1e-3,
    eig_atol: float = 1e-8,
    iters: int = 80,
    key: jax.Array | None = None,
) -> CriticalPointReport:
    """Classify ``params`` as a critical point of ``loss_fn``.

    Thresholds: the point is critical when ||grad|| <= ``tol`` (absolute). An eigenvalue counts
    as zero when |eig| <= eig_tol = max(``eig_rtol`` * max|eig|, ``eig_atol``). Verdict: gradient
    above tol -> "not a critical point"; some eigenvalue < -eig_tol and some > eig_tol ->
    "saddle point"; none below -eig_tol but some above -> "local minimum" (zero eigenvalues are
    flat valley directions, e.g. the w1*w2 = 1 valley); the mirror case -> "local maximum"; all
    within eig_tol -> "flat / inconclusive". P <= ``exact_limit`` uses the full spectrum, else
    Lanczos (``iters`` steps from a random start drawn with ``key``).

    Example:
        >>> analyze(lambda p: p[0] ** 2 + 3 * p[1] ** 2, np.zeros(2)).verdict.value
        'local minimum'
    """
    g = gradient_norm(loss_fn, params)
    n = int(ravel_pytree(params)[0].size)
    spec = spectrum(loss_fn, params, exact_limit=exact_limit, iters=iters, key=key)
    return classify(g, spec, n, tol=tol, eig_rtol=eig_rtol, eig_atol=eig_atol)
