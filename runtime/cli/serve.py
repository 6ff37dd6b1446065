"""`dlc serve RUN_DIR [--port 8000]`: a trained run's predictions over HTTP on a loopback address
(`GET /health`, `POST /predict`); needs the `serve` extra.

Example:
    $ dlc serve runs/sigmoids-20261127-160000 --port 8000
    $ curl -s localhost:8000/predict -d '{"rows": [{"temp_max": 11.1, ...}, ...]}'
"""

from __future__ import annotations

import argparse

from dlc.runtime.cli.shared import add_run_inputs

HELP = "serve a trained run's predictions over HTTP (loopback only)"
TAKES_SPEC = False


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="the run folder")
    p.add_argument("--port", type=int, default=8000, help="the TCP port (default 8000)")
    p.add_argument("--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)")
    add_run_inputs(p)


def main(args: argparse.Namespace) -> int:
    from dlc.runtime.cli.predict import warn
    from dlc.runtime.predict.loaded import load
    from dlc.runtime.predict.serve import require_loopback, serve

    require_loopback(args.host)
    model = load(args.run, spec=args.spec_file, warn=warn)
    print(f"serving {args.run} on http://{args.host}:{args.port} (GET /health, POST /predict)")
    serve(model, host=args.host, port=args.port)
    return 0
