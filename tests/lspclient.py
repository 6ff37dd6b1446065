"""A minimal LSP client for `dlc lsp`: framed JSON-RPC over the server's stdin/stdout, read by
a thread. Used by tests/test_lsp.py and bench/lsp_latency.py.

Example:
    c = Client()
    c.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class Client:
    """`dlc lsp` started as a child process, its messages collected in `inbox`."""

    def __init__(self) -> None:
        code = "import sys; from dlc.runtime.cli import main; sys.exit(main(['lsp']))"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while (line := out.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if line == b"" or length is None:
                return
            self.inbox.put(json.loads(out.read(length)))

    def send(self, method: str, params: Any, request: bool = False) -> int | None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.next_id += 1
            msg["id"] = self.next_id
        body = json.dumps(msg).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()
        return msg.get("id")

    def wait(self, match: Any, timeout: float = 60.0) -> dict[str, Any]:
        """The next message `match` accepts (others are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.inbox.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                raise AssertionError("no answer from the language server in time") from None
            if match(msg):
                return msg

    def request(self, method: str, params: Any) -> Any:
        n = self.send(method, params, request=True)
        reply = self.wait(lambda m: m.get("id") == n)
        assert "error" not in reply, reply
        return reply["result"]

    def diagnostics(self, version: int | None = None) -> list[dict[str, Any]]:
        """The next diagnostics published (for `version` of the document, when given)."""
        msg = self.wait(
            lambda m: (
                m.get("method") == "textDocument/publishDiagnostics"
                and (version is None or m["params"].get("version") == version)
            )
        )
        return msg["params"]["diagnostics"]

    def close(self) -> None:
        """Kill the server if it is still running."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
