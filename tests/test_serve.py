"""Issue 13: `dlc serve` (the `serve` extra) on a loopback port: /health, /predict answers equal
to `dlc predict`'s, bounded concurrent requests, 4xx for bad requests, loopback only."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from test_load_predict import CLASSES, WEATHER

import dlc
from dlc.compiler.errors import DlcError
from dlc.runtime.predict.serve import require_loopback
from dlc.runtime.runs.session import run_spec

pytest.importorskip("starlette", reason="the serve extra (starlette + uvicorn) is not installed")
uvicorn = pytest.importorskip("uvicorn", reason="the serve extra is not installed")

REQUESTS, WORKERS, TIMEOUT = 48, 8, 20.0


def _post(url: str, body: bytes) -> tuple[int, Any]:
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from dlc.runtime.predict.serve import make_app

    tmp = tmp_path_factory.mktemp("serve")
    spec = tmp / "classes.dl"
    spec.write_text(CLASSES)
    model = dlc.load(run_spec(spec, runs_root=tmp / "runs").run.path)
    with socket.socket() as s:  # a free loopback port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(make_app(model), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "the server did not start within 20 s"
    yield model, f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_health(server: Any) -> None:
    model, url = server
    with urllib.request.urlopen(url + "/health", timeout=TIMEOUT) as r:
        doc = json.loads(r.read())
    assert doc["status"] == "ok" and doc["classes"] == model.class_names


def test_concurrent_predictions_match_predict(server: Any) -> None:
    model, url = server
    import csv

    with WEATHER.open() as f:
        table = list(csv.DictReader(f))
    feats = ["temp_max", "temp_min", "precipitation", "wind"]
    rows = [{c: float(r[c]) for c in feats} for r in table[: REQUESTS * 3]]
    want = model.predict({c: [r[c] for r in rows] for c in feats})
    bodies = [
        json.dumps({"rows": rows[3 * i : 3 * i + 3], "proba": True}).encode()
        for i in range(REQUESTS)
    ]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        answers = list(pool.map(lambda b: _post(url + "/predict", b), bodies))
    rate = REQUESTS / (time.perf_counter() - t0)
    print(f"serve: {rate:.0f} requests/s ({WORKERS} concurrent clients, 3 rows each)")
    assert all(status == 200 for status, _ in answers)
    got = [[p[f"p_{c}"] for c in model.class_names] for _, a in answers for p in a["predictions"]]
    np.testing.assert_allclose(np.array(got, float), want, rtol=1e-5, atol=1e-6)
    names = [p["weather"] for _, a in answers for p in a["predictions"]]
    assert names == [model.class_names[k] for k in want.argmax(-1)]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "not JSON"),
        (b"[1, 2]", 422, "JSON object"),
        (b'{"rows": []}', 422, "non-empty"),
        (b'{"rows": [{"temp_max": 1}]}', 422, "lacks feature column"),
        (
            b'{"rows": [{"temp_max": "x", "temp_min": 1, "precipitation": 0, "wind": 1}]}',
            422,
            "not numeric",
        ),
    ],
)
def test_bad_requests_get_4xx(server: Any, body: bytes, status: int, words: str) -> None:
    _, url = server
    code, doc = _post(url + "/predict", body)
    assert code == status and words in doc["error"]


def test_array_inputs_must_be_whole_rows(server: Any) -> None:
    _, url = server
    code, doc = _post(url + "/predict", json.dumps({"inputs": [[1.0] * 8]}).encode())
    assert code == 422 and "must hold the 4 feature values" in doc["error"]
    code, doc = _post(url + "/predict", json.dumps({"inputs": [[1.0] * 4] * 2}).encode())
    assert code == 200 and len(doc["predictions"]) == 2


def test_only_loopback() -> None:
    require_loopback("127.0.0.1")
    require_loopback("::1")
    for host in ("0.0.0.0", "192.168.1.2", "example.org"):
        with pytest.raises(DlcError, match="loopback"):
            require_loopback(host)
