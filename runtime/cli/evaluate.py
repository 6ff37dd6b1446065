"""`dlc evaluate FILE.dl --run RUN_DIR --input LABELLED [--json]`: the spec's loss and metrics
of a trained run on a labelled file (and its confusion matrix for classification).

Example:
    $ dlc evaluate specs/sigmoids.dl --run runs/sigmoids-... --input new-weather.csv --json
"""

from __future__ import annotations

import argparse
import json

HELP = "loss and metrics of a trained run on a labelled file"
TAKES_SPEC = True


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="the run folder")
    p.add_argument("--input", required=True, help="a labelled file, read like the spec's data")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def main(args: argparse.Namespace) -> int:
    from dlc.runtime.cli.predict import warn
    from dlc.runtime.cli.shared import console, fmt
    from dlc.runtime.predict.evaluation import evaluate_file
    from dlc.runtime.predict.loaded import load

    model = load(args.run, spec=args.spec, overrides=args.set, warn=warn)
    report = evaluate_file(model, args.input)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    from rich.table import Table

    con = console()
    con.print(f"{args.input}: {report['rows']} rows")
    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in report["metrics"].items():
        table.add_row(k, fmt(v))
    con.print(table)
    if report.get("confusion"):
        names = report["classes"]
        conf = Table(title="confusion (rows: true, columns: predicted)")
        conf.add_column("")
        for n in names:
            conf.add_column(str(n), justify="right")
        for n, row in zip(names, report["confusion"], strict=True):
            conf.add_row(str(n), *(str(v) for v in row))
        con.print(conf)
    return 0
