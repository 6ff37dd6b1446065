"""Several cooperating processes (one or more hosts) training one spec, on JAX's own
multi-controller machinery: `jax.distributed.initialize` connects the processes, after which
`jax.devices()` lists every process's devices and one `Mesh` spans them all
(`sharding.mesh_for`); each process places only its own rows of a sharded array
(`jax.make_array_from_process_local_data`, in `sharding.shard_rows`) and every process runs
the same jitted programs, whose collectives (gloo on CPU, NCCL on GPU) cross the processes.

Only process 0 writes run files; the others wait at `barrier`s and receive what process 0
read (a checkpoint on resume) through `broadcast`.

Bad settings end in a DlcError before JAX is touched: a process id outside 0..N-1, a
malformed `HOST:PORT`, a coordinator that no process > 0 can reach within `timeout` seconds,
or a port process 0 cannot listen on.

Example:
    >>> Cluster("localhost:1234", 2, 1).address()
    ('localhost', 1234)
    >>> try:
    ...     Cluster(None, 2, 2).check()
    ... except DlcError as err:
    ...     print(str(err).splitlines()[0])
    dlc: error: --process-id is 2, but --num-processes is 2
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from dlc.compiler.errors import DlcError

T = TypeVar("T")
DEFAULT_TIMEOUT = 300  # seconds: jax.distributed.initialize's own default


@dataclass(frozen=True)
class Cluster:
    """How this process joins the others: the coordinator `HOST:PORT` (process 0 listens
    there), the number of processes and this one's id; None fields are auto-detected by
    `jax.distributed.initialize` (the JAX_COORDINATOR_ADDRESS variable, SLURM, Open MPI,
    Cloud TPU, Kubernetes)."""

    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    timeout: int = DEFAULT_TIMEOUT

    def address(self) -> tuple[str, int] | None:
        """(host, port) of the coordinator (also from JAX_COORDINATOR_ADDRESS); None: unset."""
        text = self.coordinator or os.environ.get("JAX_COORDINATOR_ADDRESS")
        if not text:
            return None
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise DlcError.single(
                f"--coordinator {text!r} is not HOST:PORT",
                where="dlc",
                hint="e.g. `--coordinator node001:1234` (process 0 runs on node001 and "
                "listens on port 1234)",
            )
        return host.strip("[]"), int(port)

    def check(self) -> None:
        """A DlcError for settings that cannot work (before JAX is touched)."""
        n, i = self.num_processes, self.process_id
        if n is not None and n < 1:
            raise DlcError.single(f"--num-processes is {n}", where="dlc", hint="give 1 or more")
        if i is not None and i < 0:
            raise DlcError.single(f"--process-id is {i}", where="dlc", hint="give 0 or more")
        if n is not None and i is not None and i >= n:
            raise DlcError.single(
                f"--process-id is {i}, but --num-processes is {n}",
                where="dlc",
                hint=f"process ids run from 0 to {n - 1}; start one process with each",
            )
        if self.timeout < 1:
            raise DlcError.single(
                f"--join-timeout is {self.timeout} seconds", where="dlc", hint="give 1 or more"
            )
        self.address()


def start(cluster: Cluster) -> None:
    """Join the other processes (`jax.distributed.initialize`); call before any JAX work.

    Process 0 first checks that it can listen on the coordinator's port; every other process
    first waits (at most `cluster.timeout` seconds) until the coordinator accepts a
    connection. Either failure is a DlcError, not a hang. Processes that reach the coordinator
    but whose peers never arrive are ended by JAX itself after the same timeout."""
    import jax

    cluster.check()
    addr = cluster.address()
    if addr is not None and cluster.process_id is not None:
        if cluster.process_id == 0:
            _require_free_port(addr[1])
        else:
            _wait_for(addr, cluster.timeout)
    try:
        jax.distributed.initialize(
            coordinator_address=cluster.coordinator,
            num_processes=cluster.num_processes,
            process_id=cluster.process_id,
            initialization_timeout=cluster.timeout,
        )
    except (ValueError, TypeError, RuntimeError) as exc:
        raise DlcError.single(
            f"cannot start the processes: {exc}",
            where="dlc",
            hint="give --coordinator HOST:PORT, --num-processes N and --process-id I (or run "
            "under SLURM / Open MPI, whose variables JAX reads)",
        ) from None
    # the processes meet here, just connected: the collectives' communicator over every
    # device is set up now (gloo gives that 30 s), so that later a process may wait at a
    # collective as long as another one needs (reading its data, writing a checkpoint)
    barrier("dlc-joined")


def is_lost_peer(exc: BaseException) -> bool:
    """Whether `exc` is a failed collective across the processes (JAX raises a runtime error,
    or for some operations a ValueError, naming the transport)."""
    text = str(exc)
    named = any(w in text for w in ("Gloo", "gloo", "NCCL", "DEADLINE_EXCEEDED", "UNAVAILABLE"))
    return type(exc).__name__ == "JaxRuntimeError" or (isinstance(exc, ValueError) and named)


def lost_peer(exc: BaseException) -> DlcError:
    """The DlcError for a collective across the processes that failed (a JAX runtime error):
    most often another process stopped, failed or was killed."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DlcError.single(
        f"process {process_index()}: a collective operation across the processes failed "
        f"({first[:300]})",
        where="dlc",
        hint="another process stopped or failed: its output names the problem; resume the "
        "run with the same N commands and --resume",
    )


def process_index() -> int:
    """This process's id (0 in a single process)."""
    import jax

    return jax.process_index()


def _require_free_port(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("", port))
        except OSError as exc:
            raise DlcError.single(
                f"process 0 cannot listen on port {port}: {exc.strerror or exc}",
                where="dlc",
                hint="another program (or an earlier run) uses it: pick another port in "
                "--coordinator HOST:PORT, the same for every process",
            ) from None


def _wait_for(addr: tuple[str, int], timeout: float) -> None:
    """Return once `addr` accepts a TCP connection; a DlcError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    reason = ""
    while True:
        try:
            with socket.create_connection(addr, timeout=min(5.0, timeout)):
                return
        except OSError as exc:
            reason = exc.strerror or str(exc)
        if time.monotonic() >= deadline:
            raise DlcError.single(
                f"cannot reach the coordinator {addr[0]}:{addr[1]} within {timeout:g} s ({reason})",
                where="dlc",
                hint="start process 0 (`--process-id 0`) on that host, check the host name "
                "and port, or wait longer with --join-timeout SECONDS",
            )
        time.sleep(0.2)


def process_count() -> int:
    """How many processes take part (1 without `start`)."""
    import jax

    return jax.process_count()


def is_lead() -> bool:
    """True in process 0, the one that writes run files (and in a single process)."""
    import jax

    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process reaches the barrier `name` (nothing in a single process)."""
    if process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def broadcast(tree: Any) -> Any:
    """Process 0's `tree` (numpy leaves) in every process; every process passes a tree of the
    same structure, shapes and dtypes. Unchanged in a single process."""
    if process_count() == 1:
        return tree
    from jax.experimental import multihost_utils

    return multihost_utils.broadcast_one_to_all(tree)


def broadcast_text(text: str, size: int = 4096) -> str:
    """Process 0's `text` (at most `size` UTF-8 bytes) in every process."""
    if process_count() == 1:
        return text
    import numpy as np

    raw = np.zeros(size, np.uint8)
    data = text.encode()[:size]
    raw[: len(data)] = np.frombuffer(data, np.uint8)
    out = np.asarray(broadcast(raw))
    return bytes(out[out != 0].tolist()).decode(errors="replace")


def on_lead(work: Callable[[], T]) -> T | None:
    """`work()` in process 0 only (None elsewhere). If it raises, process 0 re-raises and the
    other processes stop with a DlcError that points at process 0's output, instead of
    waiting for it forever."""
    result: T | None = None
    failure: BaseException | None = None
    if is_lead():
        try:
            result = work()
        except BaseException as exc:  # re-raised below, after telling the others
            failure = exc
    if process_count() > 1:
        import numpy as np

        failed = bool(np.asarray(broadcast(np.int32(failure is not None))))
        if failed and not is_lead():
            raise DlcError.single(
                "process 0 stopped with an error; this process stops too",
                where="dlc",
                hint="process 0's output names the problem",
            )
    if failure is not None:
        raise failure
    return result
