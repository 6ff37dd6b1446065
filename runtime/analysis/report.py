"""The words of a critical-point analysis: the verdict as a sentence, the (quantity, value) rows
that the terminal table and report.md share, and report.md itself.

Example:
    >>> verdict_words({"verdict": "saddle point", "grad_norm": 0.0, "grad_tol": 1e-3,
    ...                "eig_tol": 2e-3})[:37]
    'saddle point: |grad| = 0.00e+00 <= 1e'
"""

from __future__ import annotations

from typing import Any

from dlc.runtime.analysis.critical import Verdict


def verdict_words(h: dict[str, Any]) -> str:
    """The verdict with its reason and thresholds, in one sentence."""
    g = (
        f"|grad| = {h['grad_norm']:.2e} {'<=' if h['grad_norm'] <= h['grad_tol'] else '>'} "
        f"{h['grad_tol']:.0e}"
    )
    tol = f"{h['eig_tol']:.1e}"
    return {
        Verdict.NOT_CRITICAL: f"not a critical point: {g}, so gradient descent still moves.",
        Verdict.SADDLE: f"saddle point: {g}, and the Hessian has eigenvalues below -{tol} and "
        f"above +{tol}: the loss still decreases along the eigenvector of the "
        "most negative one.",
        Verdict.MINIMUM: f"local minimum: {g}, and no Hessian eigenvalue is below -{tol}: the "
        "loss rises (or stays flat) in every direction.",
        Verdict.MAXIMUM: f"local maximum: {g}, and no Hessian eigenvalue is above +{tol}.",
        Verdict.FLAT: f"flat / inconclusive: {g}, but every Hessian eigenvalue is within "
        f"+/-{tol}; second order cannot tell.",
    }[Verdict(h["verdict"])]


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
        ("verdict", str(h["verdict"])),
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
