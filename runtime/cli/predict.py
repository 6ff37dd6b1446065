"""`dlc predict FILE.dl --run RUN_DIR --input INPUT --output pred.csv`: predictions of a trained
run for raw inputs as the spec's source reads them (CSV rows, a series, images, sentences).

Example:
    $ dlc predict specs/covid.dl --run runs/covid-... --input test.csv --output pred.csv \\
        --name tested_positive
"""

from __future__ import annotations

import argparse
import sys

HELP = "predict with a trained run"
TAKES_SPEC = True


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="the run folder")
    p.add_argument(
        "--input",
        required=True,
        help="raw inputs: a CSV or Parquet file (a series for windowed specs), .npy/.npz/IDX "
        "arrays, PNG/JPEG images (a file, a folder, or class sub-folders), or one sentence "
        "per line",
    )
    p.add_argument("--output", required=True, help="where to write the predictions CSV")
    p.add_argument("--name", help="the prediction column's name (default: the target's)")
    p.add_argument(
        "--proba", action="store_true", help="classification: add one probability column per class"
    )


def warn(message: str) -> None:
    print(message, file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    from dlc.runtime.cli.shared import check_output_file
    from dlc.runtime.predict.loaded import load
    from dlc.runtime.predict.table import predict_file

    check_output_file(args.output, "--output")
    model = load(args.run, spec=args.spec, overrides=args.set, warn=warn)
    n = predict_file(model, args.input, args.output, name=args.name, proba=args.proba)
    print(f"wrote {n} predictions to {args.output}")
    return 0
