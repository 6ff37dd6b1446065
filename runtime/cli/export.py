"""`dlc export RUN_DIR --format stablehlo [--output DIR]`: the trained run's inference function
as a serialized `jax.export` artifact (normalization folded in, batch dimension symbolic) plus
`model.json`; `--format onnx` needs the `onnx` extra.

Example:
    $ dlc export runs/digits_mlp-20261127-160000 --format stablehlo --output exported
"""

from __future__ import annotations

import argparse

from dlc.runtime.cli.shared import add_run_inputs

HELP = "export a trained run (StableHLO via jax.export, or ONNX)"
TAKES_SPEC = False


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="the run folder")
    p.add_argument("--format", choices=["stablehlo", "onnx"], default="stablehlo")
    p.add_argument("--output", help="the folder to write into (default: RUN_DIR/export)")
    add_run_inputs(p)
    p.add_argument(
        "--platforms",
        help="comma-separated jax.export platforms, e.g. cpu,cuda (default: this machine's)",
    )


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dlc.runtime.cli.predict import warn
    from dlc.runtime.predict.export import export_model
    from dlc.runtime.predict.loaded import load

    model = load(args.run, spec=args.spec_file, warn=warn)
    out = Path(args.output) if args.output else Path(args.run) / "export"
    platforms = tuple(args.platforms.split(",")) if args.platforms else None
    path = export_model(model, out, fmt=args.format, platforms=platforms)
    print(f"wrote {path} ({path.stat().st_size:,} bytes) and {path.parent / 'model.json'}")
    return 0
