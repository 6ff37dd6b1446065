"""Bayesian search against random search at equal trial counts: `specs/search_digits.dl` run
with `search bayes` (Optuna's TPE) and with `search random`, each for several sampler seeds,
everything else as written (lanes, pruning, early stopping; no retraining). Not a timing.

Printed per seed and method: the best validation loss of the complete trials, the mean of the
best 5 (less at the mercy of one lucky trial), the median of the last round's trials (where the
search has gone), and the seconds it took; then the means over seeds and how many seeds
Bayesian search won on the best value. Exits 1 when Bayesian
search does not beat random search on the mean best value.

Usage:
    python bench/search_quality.py                         # seeds 0-4, the spec's 24 trials
    python bench/search_quality.py --seeds 0 1 2 --trials 16 --set train.epochs=10
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "search_digits.dl"


def variant(text: str, method: str, seed: int, trials: int | None) -> str:
    """The spec's text with another search method, a sampler seed and no retraining."""
    out, n = re.subn(
        r"^(\s*)search (bayes|random)", rf"\1search {method} seed={seed}", text, flags=re.M
    )
    assert n == 1, "the spec has one `search` statement"
    if trials is not None:
        out = re.sub(r"trials=\d+", f"trials={trials}", out)
    return out.replace("retrain true", "retrain false")


def one(method: str, seed: int, trials: int | None, overrides: list[str]) -> dict[str, Any]:
    from dlc.runtime.experiment.runner import run_experiment

    text = variant(SPEC.read_text(), method, seed, trials)
    t0 = time.perf_counter()
    result = run_experiment(
        text, overrides=overrides, runs_root=None, say=lambda m: None, base_dir=SPEC.parent
    )
    seconds = time.perf_counter() - t0
    done = [t for t in result.trials if t["state"] == "complete" and math.isfinite(t["value"])]
    last = [t["value"] for t in result.trials if t["round"] == result.trials[-1]["round"]]
    values = sorted(t["value"] for t in done)
    return {
        "best": values[0],
        "top5": statistics.mean(values[:5]),
        "last_round_median": statistics.median(last),
        "pruned": sum(t["state"] == "pruned" for t in result.trials),
        "seconds": seconds,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--trials", type=int, default=None, help="default: the spec's")
    ap.add_argument("--set", action="append", default=[], help="--set overrides for the spec")
    args = ap.parse_args()
    rows: dict[str, list[dict[str, Any]]] = {"random": [], "bayes": []}
    print(f"{SPEC.name}: valid_loss, lower is better; overrides {args.set or 'none'}")
    print(
        f"{'seed':>4} {'method':>7} {'best':>8} {'best 5':>8} {'last-round median':>18} "
        f"{'pruned':>6} {'s':>6}"
    )
    for seed in args.seeds:
        for method in ("random", "bayes"):
            r = one(method, seed, args.trials, args.set)
            rows[method].append(r)
            print(
                f"{seed:>4} {method:>7} {r['best']:>8.4f} {r['top5']:>8.4f} "
                f"{r['last_round_median']:>18.4f} "
                f"{r['pruned']:>6} {r['seconds']:>6.1f}",
                flush=True,
            )
    mean = {m: statistics.mean(r["best"] for r in rs) for m, rs in rows.items()}
    med = {m: statistics.mean(r["last_round_median"] for r in rs) for m, rs in rows.items()}
    top = {m: statistics.mean(r["top5"] for r in rs) for m, rs in rows.items()}
    wins = sum(b["best"] < r["best"] for b, r in zip(rows["bayes"], rows["random"], strict=True))
    print(f"mean best valid_loss: random {mean['random']:.4f}, bayes {mean['bayes']:.4f}")
    print(f"mean of the best 5 trials: random {top['random']:.4f}, bayes {top['bayes']:.4f}")
    print(f"mean last-round median: random {med['random']:.4f}, bayes {med['bayes']:.4f}")
    print(f"bayes better on {wins} of {len(args.seeds)} seeds")
    return 0 if mean["bayes"] < mean["random"] else 1


if __name__ == "__main__":
    sys.exit(main())
