"""`dlc serve RUN --port 8000`: a trained run's predictions over HTTP, on a loopback address only
(Starlette + uvicorn: the `serve` extra).

    GET  /health   -> {"status": "ok", "task", "input", "classes"}
    POST /predict  {"rows": [{"temp_max": 11.2, ...}, ...]}     CSV specs (a series: its rows)
                   {"inputs": [[...], ...]}                      images, digits, fizzbuzz numbers
                   {"texts": ["a great film", ...]}              text, tagging, seq2seq
                   optional "proba": true
               -> {"columns": [...], "predictions": [{column: value, ...}, ...]}

A request is one batch; model calls run one at a time in a worker thread, with batch sizes
rounded up to a power of two so a few compiled shapes serve every request. A bad request gets a
4xx answer with a message (400 unreadable JSON, 413 too large, 422 inputs the model cannot
take), never a traceback.

Example:
    >>> app = make_app(dlc.load("runs/linear-..."))          # doctest: +SKIP
    >>> serve(dlc.load("runs/linear-..."), port=8000)        # doctest: +SKIP
"""

from __future__ import annotations

import ipaddress
import json
import threading
from typing import Any

from dlc.compiler.errors import DlcError
from dlc.runtime.predict.loaded import TrainedModel

MAX_BODY = 16 * 2**20
LOOPBACK = ("127.0.0.1", "::1", "localhost")
EXTRA = "pip install 'dlc[serve]' (starlette and uvicorn)"


def require_loopback(host: str) -> None:
    """Only loopback addresses: the server has no authentication."""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise DlcError.single(
            f"`{host}` is not a loopback address; dlc serve listens on loopback only",
            where="dlc serve",
            hint="use --host 127.0.0.1 (or ::1) and put a real server in front of it",
        )


def _inputs(body: Any) -> Any:
    """The raw inputs of a request body, as `read_inputs` takes them."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object with `rows`, `inputs` or `texts`")
    if "rows" in body:
        rows = body["rows"]
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise ValueError("`rows` must be a non-empty list of objects (column -> value)")
        names = list(rows[0])
        if any(list(r) != names for r in rows):
            raise ValueError("every row must have the same columns")
        return {n: [r[n] for r in rows] for n in names}
    for key in ("texts", "inputs"):
        if key in body:
            value = body[key]
            if not isinstance(value, list) or not value:
                raise ValueError(f"`{key}` must be a non-empty list")
            return value
    raise ValueError("the body needs `rows`, `inputs` or `texts`")


def predict_json(model: TrainedModel, body: Any) -> dict[str, Any]:
    """The answer to a POST /predict body (raises ValueError / DlcError for bad inputs)."""
    from dlc.runtime.predict.inputs import read_inputs
    from dlc.runtime.predict.table import prediction_rows

    raw = _inputs(body)
    proba = bool(body.get("proba", False))
    if isinstance(raw, list) and raw and isinstance(raw[0], str):
        raw = [str(s) for s in raw]
    got = read_inputs(model, raw, labelled=False)
    header, rows = prediction_rows(model, got, proba=proba)
    return {"columns": header, "predictions": [dict(zip(header, r, strict=True)) for r in rows]}


def health(model: TrainedModel) -> dict[str, Any]:
    return {
        "status": "ok",
        "run": str(model.run.path),
        "task": model.task,
        "input": {
            "shape": list(model.data.input_shape),
            "features": list(model.data.feature_names) or None,
            "window": model.spec.data.window.size if model.spec.data.window else None,
        },
        "classes": model.class_names,
    }


def make_app(model: TrainedModel) -> Any:
    """The Starlette application serving `model`."""
    try:
        from starlette.applications import Starlette
        from starlette.concurrency import run_in_threadpool
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route
    except ImportError:
        raise DlcError.single("`dlc serve` needs the `serve` extra", hint=EXTRA) from None
    lock = threading.Lock()  # one model call at a time (JAX runs the batch on all cores)

    def error(status: int, message: str) -> Any:
        return JSONResponse({"error": message}, status_code=status)

    async def get_health(request: Request) -> Any:
        return JSONResponse(health(model))

    def run(body: Any) -> dict[str, Any]:
        with lock:
            return predict_json(model, body)

    async def post_predict(request: Request) -> Any:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return error(413, f"the body is larger than {MAX_BODY} bytes")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return error(400, f"the body is not JSON: {exc}")
        try:
            return JSONResponse(await run_in_threadpool(run, body))
        except DlcError as err:
            return error(422, "; ".join(d.message for d in err.diagnostics))
        except (ValueError, TypeError) as exc:
            return error(422, str(exc))

    routes = [
        Route("/health", get_health, methods=["GET"]),
        Route("/predict", post_predict, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def serve(model: TrainedModel, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the server until interrupted (loopback addresses only)."""
    require_loopback(host)
    app = make_app(model)
    try:
        import uvicorn
    except ImportError:
        raise DlcError.single("`dlc serve` needs the `serve` extra", hint=EXTRA) from None
    uvicorn.run(app, host=host, port=port, log_level="warning")
