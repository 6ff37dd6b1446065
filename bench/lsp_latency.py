"""How fast does `dlc lsp` answer an editor? Drives the server over stdio (framed JSON-RPC, as
tests/test_lsp.py does) on a shipped spec and times, from the client's side:

- start-up: process start to the `initialize` reply, and to the first diagnostics of the opened
  spec (its data read and shapes checked);
- diagnostics after a `didChange`: the whole text sent, until its `publishDiagnostics` arrives,
  alternating a typo (`sigmoid` -> `sigmoyd`: an error) and the correct text (no error, after
  the full check with data shapes);
- completion round trip: a `textDocument/completion` request inside `model { }`.

Example:
    $ python bench/lsp_latency.py                       # specs/sigmoids.dl, 40 changes
    $ python bench/lsp_latency.py --spec specs/fashion_cnn.dl --changes 20
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from lspclient import Client  # noqa: E402  (the tests' LSP client)


def ms(values: list[float]) -> str:
    q = statistics.quantiles(values, n=10) if len(values) > 1 else values
    return f"median {statistics.median(values) * 1e3:.1f} ms, p90 {q[-1] * 1e3:.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", default="specs/sigmoids.dl")
    ap.add_argument("--changes", type=int, default=40)
    args = ap.parse_args()
    path = (ROOT / args.spec).resolve()
    good = path.read_text()
    lines = good.split("\n")
    word, row = next(
        (w, i)
        for w in ("sigmoid", "relu", "dense")
        for i, line in enumerate(lines)
        if line.strip().startswith(w)
    )
    typo = word[:-2] + "y" + word[-1]  # sigmoid -> sigmoyd: an unknown layer
    bad = "\n".join(
        line.replace(word, typo, 1) if i == row else line for i, line in enumerate(lines)
    )
    uri = path.as_uri()
    t0 = time.perf_counter()
    c = Client()
    try:
        c.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
        t_init = time.perf_counter() - t0
        c.send("initialized", {})
        doc = {"uri": uri, "languageId": "dl", "version": 1, "text": good}
        c.send("textDocument/didOpen", {"textDocument": doc})
        assert c.diagnostics(1) == []  # the text at once, then again once the data is read
        assert c.diagnostics(1) == []
        t_first = time.perf_counter() - t0
        typos, right = [], []
        for n in range(args.changes):
            version = n + 2
            text = bad if n % 2 == 0 else good
            start = time.perf_counter()
            change = {"textDocument": {"uri": uri, "version": version}}
            c.send("textDocument/didChange", {**change, "contentChanges": [{"text": text}]})
            found = c.diagnostics(version)
            (typos if n % 2 == 0 else right).append(time.perf_counter() - start)
            assert bool(found) == (n % 2 == 0), found
        where = {
            "textDocument": {"uri": uri},
            "position": {"line": row, "character": lines[row].index(word) + 1},
        }
        completion = []
        for _ in range(args.changes):
            start = time.perf_counter()
            items = c.request("textDocument/completion", where)["items"]
            completion.append(time.perf_counter() - start)
            assert items
        c.request("shutdown", None)
        c.send("exit", None)
        c.proc.wait(timeout=10)
    finally:
        c.close()
    print(
        f"spec: {args.spec} ({len(good.splitlines())} lines); load average {os.getloadavg()[0]:.1f}"
    )
    print(f"start-up: initialize reply {t_init:.2f} s, first full diagnostics {t_first:.2f} s")
    print(f"diagnostics after didChange, a typo (an error): {ms(typos)} ({len(typos)} changes)")
    print(f"diagnostics after didChange, correct text (full check): {ms(right)} ({len(right)})")
    print(f"completion round trip: {ms(completion)} ({len(completion)} requests)")


if __name__ == "__main__":
    main()
