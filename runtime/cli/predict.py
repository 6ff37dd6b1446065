"""`dlc predict FILE.dl --run RUN_DIR --input X.csv --output pred.csv`: predictions of a trained
run, with the spec's preprocessing.

Example:
    $ dlc predict specs/covid.dl --run runs/covid-... --input test.csv --output pred.csv
"""

from __future__ import annotations

import argparse

HELP = "predict with a trained run"
TAKES_SPEC = True


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="the run folder")
    p.add_argument("--input", required=True, help="a CSV with the feature columns")
    p.add_argument("--output", required=True, help="where to write the predictions CSV")


def main(args: argparse.Namespace) -> int:
    from dlc.runtime.predict.table import predict_csv

    n = predict_csv(args.spec, args.run, args.input, args.output, overrides=args.set)
    print(f"wrote {n} predictions to {args.output}")
    return 0
