"""`dlc run FILE.dl`: train into a run folder with a live progress bar (epoch, step, train/valid
loss, rate, ETA), then the final metrics and the per-class counts; with `--plots` also the PNG
plots (otherwise drawn on demand by `dlc plot RUN_DIR`, off the path to the result).

Example:
    $ dlc run specs/linear.dl
    $ dlc run specs/linear.dl --plots           # also draw plots/loss.png, lr.png, ...
    $ dlc run specs/linear.dl --resume          # continue the latest run from its checkpoint
    $ dlc run specs/linear.dl --track mlflow    # also log to MLflow (default store: mlruns/)
    $ dlc run specs/linear.dl --coordinator node1:1234 --num-processes 2 --process-id 0
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from dlc.runtime.cli.shared import (
    add_devices_option,
    add_runs_options,
    esc,
    fmt,
    int_range,
    progress_lines,
    training_display,
    warner,
)

if TYPE_CHECKING:
    import numpy as np
    from rich.table import Table

HELP = "train a spec"
TAKES_SPEC = True


def arguments(p: argparse.ArgumentParser) -> None:
    add_runs_options(p)
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="RUN_DIR",
        help="continue the latest (or the named) run of this spec from its checkpoint",
    )
    add_devices_option(p, "train data-parallel over N devices (or all)")
    p.add_argument(
        "--plots",
        action="store_true",
        help="also draw the run's PNG plots (loss, metrics, learning rate, confusion) into "
        "RUN_DIR/plots; without it `dlc plot RUN_DIR` draws them later (`--track` draws them)",
    )
    add_cluster_options(p)
    p.add_argument(
        "--json",
        action="store_true",
        help='JSON lines on stdout: {"event": "epoch", ...} per epoch, then {"event": "result"}',
    )


def add_cluster_options(p: argparse.ArgumentParser) -> None:
    """`--coordinator`, `--num-processes`, `--process-id`, `--distributed`, `--join-timeout`:
    one run as several cooperating processes (`dlc.runtime.train.distributed`)."""
    g = p.add_argument_group(
        "several processes",
        "run the same command once per process (on one or more hosts); together they train "
        "one run data-parallel over all their devices, and process 0 writes the run folder",
    )
    g.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        help="where process 0 listens; the same in every process (or JAX_COORDINATOR_ADDRESS)",
    )
    g.add_argument(
        "--num-processes", type=int_range(1), metavar="N", help="how many processes take part"
    )
    g.add_argument("--process-id", type=int_range(0), metavar="I", help="this process: 0..N-1")
    g.add_argument(
        "--distributed",
        action="store_true",
        help="join the others with what JAX detects (SLURM, Open MPI, Cloud TPU, Kubernetes "
        "variables) for whatever of the three above is not given",
    )
    g.add_argument(
        "--join-timeout",
        type=int_range(1),
        default=300,
        metavar="SECONDS",
        help="how long to wait for the coordinator and the other processes (default 300)",
    )


def cluster_of(args: argparse.Namespace) -> Any:
    """The `Cluster` to join, or None for a single process (no cluster option given)."""
    from dlc.runtime.train.distributed import Cluster

    given = (args.coordinator, args.num_processes, args.process_id)
    if not args.distributed and all(v is None for v in given):
        return None
    return Cluster(*given, timeout=args.join_timeout)


def final_table(final: dict[str, float], title: str) -> Table:
    """Metrics as rows, train / valid / test as columns."""
    from rich.table import Table

    parts = [p for p in ("train", "valid", "test") if any(k.startswith(p + "_") for k in final)]
    metrics = sorted({k.split("_", 1)[1] for k in final}, key=lambda m: (m != "loss", m))
    table = Table(title=title)
    table.add_column("metric")
    for p in parts:
        table.add_column(p, justify="right")
    for m in metrics:
        table.add_row(m, *[fmt(final.get(f"{p}_{m}", "")) for p in parts])
    return table


def confusion_table(counts: np.ndarray, title: str) -> Table:
    """The confusion matrix (rows: true class), the diagonal in bold, with each row's recall."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("true \\ pred", justify="right")
    for j in range(len(counts)):
        table.add_column(str(j), justify="right")
    table.add_column("recall", justify="right")
    for i, row in enumerate(counts):
        total = row.sum()
        cells = [f"[bold]{v}[/]" if j == i else (str(v) if v else "·") for j, v in enumerate(row)]
        table.add_row(str(i), *cells, f"{row[i] / total:.3f}" if total else "")
    return table


def main(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from rich.progress import TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from dlc.runtime.runs.plots import plot_confusions, plot_run, read_metrics, warm_up
    from dlc.runtime.runs.session import run_spec
    from dlc.runtime.runs.tblog import TensorBoardLogger

    cluster = cluster_of(args)
    lead = True
    if cluster is not None:  # before any JAX work: join the other processes
        from dlc.runtime.train.distributed import is_lead, start

        start(cluster)
        lead = is_lead()
    as_json = getattr(args, "json", False)
    out, err, bar = training_display(
        args.quiet,
        "[bold]epoch",
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        transient=False,
    )
    say = progress_lines(err, args.quiet)
    warn = warner(err, args.quiet)
    state: dict[str, Any] = {}
    tracking = None
    if args.track == "mlflow" and lead:  # several processes: process 0 tracks the run
        from dlc.runtime.runs.tracked_run import RunTracking

        tracking = RunTracking(args.track_uri)
    # with --plots (or tracking, which keeps them as artifacts) the plots are drawn in a thread
    # from the end of training on, beside the final evaluation and report (matplotlib's object
    # API, used by that thread only); it imports matplotlib while training runs. Without, no
    # matplotlib at all: `dlc plot RUN_DIR` draws them on demand.
    plotting = bool(getattr(args, "plots", False)) or tracking is not None
    pool = ThreadPoolExecutor(max_workers=1)
    drawn: list[Any] = []

    def on_start(run: Any, model: Any, start_epoch: int) -> None:
        if not args.quiet:
            err.print(f"run folder: {esc(run.path)}", soft_wrap=True)
            if start_epoch:
                err.print(f"resuming after epoch {start_epoch}")
        kept = read_metrics(run.metrics_path) if run.metrics_path.is_file() else []
        if args.resume:  # the event files again hold exactly the epochs metrics.jsonl kept
            state["tb"] = TensorBoardLogger.resumed(run.path / "tensorboard", kept)
        else:
            state["tb"] = TensorBoardLogger(run.path / "tensorboard")
        if tracking is not None:
            tracking.begin(run.path, model.resolved.name, kept, bool(args.resume))
        state["steps"] = model.functions(len(model.data.parts["train"][0])).steps_per_epoch
        state["batch"] = model.spec.train.batch
        state["epochs"] = model.spec.train.epochs
        state["task"] = bar.add_task(
            "train", total=model.spec.train.epochs, completed=start_epoch, info="", rate=""
        )
        bar.start()
        if plotting:
            pool.submit(warm_up)

    def on_epoch(record: dict[str, Any]) -> None:
        state["tb"].log(record, record["epoch"])
        if tracking is not None:
            tracking.epoch(record)
        info = f"step {record['step']}  train {record['train_loss']:.4g}"
        if "valid_loss" in record:
            info += f"  valid {record['valid_loss']:.4g}"
        rate = f"{state['steps'] * state['batch'] / max(record['time'], 1e-9):,.0f} samples/s"
        bar.update(state["task"], completed=record["epoch"], info=info, rate=rate)
        epoch, epochs = record["epoch"], state["epochs"]
        line = f"epoch {epoch}/{epochs}  {info}  {rate}"
        state["unsaid"] = None if say(line, epoch == epochs) else line
        if as_json:
            print(json.dumps({"event": "epoch", **record}, default=_plain), flush=True)

    def on_trained(run: Any) -> None:
        if plotting:
            drawn.append(pool.submit(plot_run, run.path))

    try:
        outcome = run_spec(
            args.spec,
            overrides=args.set,
            runs_root=args.runs,
            resume=args.resume,
            on_epoch=on_epoch,
            on_start=on_start,
            warn=warn,
            on_trained=on_trained,
            on_weights=lambda params, epoch: state["tb"].log_histograms(params, epoch),
            devices=args.devices,
        )
    except BaseException as exc:
        if tracking is not None:
            tracking.fail("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        if cluster is not None:
            from dlc.runtime.train.distributed import is_lost_peer, lost_peer

            if is_lost_peer(exc):
                raise lost_peer(exc) from None
        raise
    finally:
        bar.stop()
        if "tb" in state:
            state["tb"].close()
        pool.shutdown(wait=False)
    if not outcome.lead:  # another process of several: process 0 wrote the run folder
        if not args.quiet:
            err.print(f"process done; process 0 wrote {esc(outcome.run.path)}", soft_wrap=True)
        return 0
    if state.get("unsaid"):  # stopped early: the last epoch's line was held back
        say(state["unsaid"], True)
    if not as_json:
        report(out, outcome)
    plots: list[Any] = []
    if plotting:
        plots = drawn[0].result() if drawn else plot_run(outcome.run.path)
        # the report wrote confusion_*.csv after the plot thread may have looked for them
        plots += plot_confusions(outcome.run.path, outcome.model.resolved.name, skip=plots)
    if tracking is not None:
        tracking.finish(outcome.run.path, outcome.final, plots)
    if as_json:
        print(json.dumps(result_document(outcome, plots), default=_plain), flush=True)
        return 0
    if not args.quiet:
        if plots:
            out.print(f"plots: {', '.join(p.name for p in plots)}")
        else:
            out.print(f"curves: dlc plot {esc(outcome.run.path)}", soft_wrap=True)
    out.print(f"run folder: {esc(outcome.run.path)}", soft_wrap=True)
    return 0


def _plain(v: Any) -> Any:
    """A JSON value for what `json` cannot write itself (NumPy scalars and arrays, paths)."""
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def result_document(outcome: Any, plots: list[Any]) -> dict[str, Any]:
    """`dlc run --json`'s final line: the run folder, the final metrics and how training ended."""
    return {
        "event": "result",
        "run": str(outcome.run.path),
        "name": outcome.model.resolved.name,
        "final": outcome.final,
        "stopped_early": bool(outcome.stopped_early),
        "best_epoch": outcome.best_epoch,
        "plots": [str(p) for p in plots],
    }


def report(con: Any, outcome: Any) -> None:
    """The final metrics table and the per-class counts (with their CSV in the run folder)."""
    from dlc.runtime.analysis.confusion import part_confusion, write_csv

    if outcome.stopped_early:
        con.print(f"early stop: best epoch {outcome.best_epoch} (parameters restored)")
    con.print(final_table(outcome.final, f"{outcome.model.resolved.name}: final metrics"))
    for part in ("test", "valid"):
        if outcome.confusion and part in outcome.confusion:  # counted on the sharded parts
            counts = outcome.confusion[part]
        else:
            counts = part_confusion(outcome.model, part)
        if counts is not None:
            write_csv(counts, outcome.run.path / f"confusion_{part}.csv")
            if len(counts) <= 20:
                con.print(confusion_table(counts, f"{part}: per-class counts (rows: true class)"))
            break
