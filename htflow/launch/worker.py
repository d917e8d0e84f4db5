"""Offline execution, compute side: run prepared launch directories with no database.

``python -m htflow.launch.worker [--streams N] <launch_dir> [<launch_dir> …]`` is what a compute
job runs: the equivalent of ``rlaunch singleshot --offline`` in each directory. It reads
``FW.json``, runs the job against the JobStore files in the directory (seeded by the agent),
and records the outcome in ``FW_offline.json``. It opens no database connection and needs no
credential; this module imports nothing from ``htflow.db``.

Packing. The directories of one allocation run one after another; with ``--streams N`` the
worker starts N processes that take directories from the same list (a task farm: each
directory is taken under a lock, so every directory runs once and no stream idles while one
is left). Each stream starts its calculations with the allocation's MPI launcher, so with
``srun`` they are job steps side by side across the nodes (``--exclusive -N1`` is added).

Walltime. A directory is not started when less than ``HTFLOW_WALLTIME_MARGIN`` seconds are
left before ``HTFLOW_WALLTIME_END``: it stays prepared and the agent submits it again. A
pw.x run that stops for lack of time (``WalltimeExhaustedError``) leaves its input prepared
for a restart; the worker turns that failure back into an unfinished launch, so the next
allocation continues from the checkpoint instead of the Firework fizzling.

Every attempt is appended to ``htflow_attempts.jsonl`` (SLURM job id, the worker's host,
times, outcome): the agent reads it to tell a continuation from a failure. Where the
calculation itself ran (an ``srun`` step on another node) is the calculation's own record
(``pw.hosts`` for pw.x).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from htflow.exceptions import HtflowError
from htflow.fireworks_compat import patch_fireworks
from htflow.launch import feed
from htflow.launch.allocation import allocation_ended, slurm_job_id
from htflow.settings import get_settings
from htflow.walltime import seconds_left

if TYPE_CHECKING:
    from collections.abc import Iterator

FINISHED_STATES = ("COMPLETED", "FIZZLED")
ATTEMPTS_FILE = "htflow_attempts.jsonl"
RUN_LOCK = "htflow_run.lock"
OFFLINE_FILE = "FW_offline.json"
# Outcomes that are not failures: the launch simply needs another allocation.
CONTINUE_OUTCOMES = ("no_time", "walltime")
# The calculation failed while SLURM was ending its allocation (a node died, scancel): the
# failure is the allocation's, and the launch is requeued like any launch it did not finish.
ALLOCATION_ENDED = "allocation_ended"
_WALLTIME_EXCEPTION = "WalltimeExhaustedError"
# The environment variable of the ``mpi_extra_args`` setting, as a stream's child reads it.
MPI_EXTRA_ARGS_ENV = "HTFLOW_MPI_EXTRA_ARGS"


def launch_state(launch_dir: str | Path) -> str:
    """State recorded in ``FW_offline.json``: RESERVED, RUNNING, COMPLETED or FIZZLED."""
    offline = json.loads((Path(launch_dir) / OFFLINE_FILE).read_text())
    if "state" in offline:
        return str(offline["state"])
    return "RUNNING" if "started_on" in offline else "RESERVED"


def reset_offline(launch_dir: str | Path) -> None:
    """Make ``FW_offline.json`` say "prepared, not started" again (atomic rewrite).

    Used when a launch must run again in the same directory (continuation or requeue): the
    launch id stays, everything the earlier attempt recorded goes.
    """
    path = Path(launch_dir) / OFFLINE_FILE
    launch_id = json.loads(path.read_text())["launch_id"]
    write_json_atomic(path, {"launch_id": launch_id})


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` via a temporary file and a rename (never a half-written file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def attempts(launch_dir: str | Path) -> list[dict[str, Any]]:
    """The attempt records of a launch directory, oldest first (unreadable lines skipped)."""
    path = Path(launch_dir) / ATTEMPTS_FILE
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            records.append(json.loads(line))
    return records


def outcome_recorded(launch_dir: str | Path) -> bool:
    """Whether the worker finished with the launch's last start: it recorded the outcome.

    A worker records an outcome only after it has looked at a failed run (a walltime stop
    or a dying allocation turn FIZZLED back into "not finished"). A FIZZLED launch whose
    last start has no outcome was left by a worker killed in between: not a result yet.
    """
    started = False
    for record in attempts(launch_dir):
        # An outcome, or the agent's withdrawal, closes the attempt a start opened.
        started = record.get("event") == "start"
    return not started


def _record(launch_dir: Path, **fields: Any) -> None:
    fields.setdefault("job_id", slurm_job_id())
    fields.setdefault("time", time.time())
    with open(launch_dir / ATTEMPTS_FILE, "a") as handle:
        handle.write(json.dumps(fields) + "\n")


@contextlib.contextmanager
def _run_lock(launch_dir: Path) -> Iterator[bool]:
    """Hold the directory's run lock if free (True) — two streams never run one directory."""
    fd = os.open(launch_dir / RUN_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _walltime_exhausted(launch_dir: Path) -> bool:
    """Whether the recorded failure is pw.x stopping for lack of allocation time."""
    offline = json.loads((launch_dir / OFFLINE_FILE).read_text())
    stored = offline.get("fwaction", {}).get("stored_data", {})
    return _WALLTIME_EXCEPTION in json.dumps(stored.get("_exception", ""))


def run_offline(launch_dir: str | Path) -> str:
    """Run the Firework prepared in ``launch_dir``; return its state afterwards.

    A directory whose run already finished is not run again (a requeued allocation must not
    run a calculation twice), nor one another stream is running (``BUSY``), nor one already
    tried in this allocation. With too little allocation time left the directory is not
    started (``RESERVED``); a pw.x run stopped for lack of time is reset to ``RESERVED``, and
    so is a run that failed while SLURM was ending the allocation (a dead node, scancel).

    Raises
    ------
    HtflowError
        ``launch_dir`` was not prepared by the agent (no ``FW.json`` / ``FW_offline.json``).
    """
    from fireworks import FWorker
    from fireworks.core.rocket_launcher import launch_rocket

    path = Path(launch_dir).resolve()
    if not (path / "FW.json").is_file() or not (path / OFFLINE_FILE).is_file():
        raise HtflowError(f"{path} is not a prepared launch directory: let the agent claim it")
    with _run_lock(path) as acquired:
        if not acquired:
            return "BUSY"
        state = launch_state(path)
        if state in FINISHED_STATES:
            return state
        job_id = slurm_job_id()
        if job_id and any(a.get("job_id") == job_id for a in attempts(path)):
            return state  # tried in this allocation already (e.g. stopped on walltime)
        left = seconds_left()
        if left is not None and left <= 0:
            _record(path, outcome="no_time")
            return state
        _record(path, event="start", host=socket.gethostname())
        patch_fireworks()
        with contextlib.chdir(path):
            launch_rocket(None, FWorker(name="htflow-worker"))
        state = launch_state(path)
        if state == "FIZZLED" and _walltime_exhausted(path):
            reset_offline(path)
            _record(path, outcome="walltime")
            return "RESERVED"
        if state == "FIZZLED" and (ending := allocation_ended()) is not None:
            reset_offline(path)
            _record(path, outcome=ALLOCATION_ENDED, slurm_state=ending)
            return "RESERVED"
        _record(path, outcome=state)
        return state


def fizzle_launch_dir(launch_dir: Path, reason: str) -> None:
    """Record a FIZZLED outcome with ``reason`` in ``FW_offline.json`` (ingested as usual).

    The reason lands in the launch's action (``stored_data._message`` and
    ``_exception._stacktrace``), where FireWorks shows why a Firework fizzled.
    """
    import datetime

    from fireworks import FWAction

    path = launch_dir / OFFLINE_FILE
    offline = json.loads(path.read_text())
    now = datetime.datetime.now(datetime.UTC).isoformat()
    action = FWAction(
        stored_data={
            "_message": f"htflow agent: {reason}",
            "_exception": {"_stacktrace": f"htflow agent: {reason}", "_details": None},
        }
    )
    offline.setdefault("started_on", now)
    offline.update(fwaction=action.to_dict(), state="FIZZLED", completed_on=now)
    write_json_atomic(path, offline)


def withdraw(launch_dir: str | Path, reason: str) -> bool:
    """Fizzle a launch no stream is running, with ``reason``, so that no worker starts it.

    Taken under the directory's run lock, as a stream takes it before it runs: either the
    stream runs first (this returns False: it runs to its end) or it then finds the launch
    finished and skips it. False also for a launch that already finished.
    """
    path = Path(launch_dir)
    with _run_lock(path) as acquired:
        if not acquired or launch_state(path) in FINISHED_STATES:
            return False
        fizzle_launch_dir(path, reason)
        _record(path, event="withdrawn", reason=reason)
        return True


def stream_environment(streams: int) -> dict[str, str]:
    """Environment of one stream: with srun, each calculation is an exclusive one-node step."""
    env = dict(os.environ)
    settings = get_settings()
    if streams > 1 and settings.mpi_launcher == "srun":
        extra = list(settings.mpi_extra_args)
        for flag in ("--exclusive", "-N1"):
            if flag not in extra:
                extra.insert(0, flag)
        env[MPI_EXTRA_ARGS_ENV] = json.dumps(extra)
    return env


def worker_command(python: str, *args: str) -> list[str]:
    """The argv that runs this worker with the interpreter ``python`` and arguments ``args``."""
    return [python, "-m", "htflow.launch.worker", *args]


def _run_streams(streams: int, argv_tail: list[str]) -> int:
    """Run ``streams`` worker processes over the same work; the worst exit status wins."""
    argv = worker_command(sys.executable, *argv_tail)
    env = stream_environment(streams)
    procs = [subprocess.Popen(argv, env=env) for _ in range(streams)]
    return max(proc.wait() for proc in procs)


def _run_one(launch_dir: Path) -> int:
    """Run one directory and print ``<dir> <state>``; 2 if it was not a launch directory."""
    try:
        state = run_offline(launch_dir)
    except HtflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{launch_dir} {state}", flush=True)
    return 0


def run_queue(alloc_dir: Path, poll: float = 0.5) -> int:
    """Run the allocation's queue (:mod:`htflow.launch.feed`) until it is closed.

    Directories are taken in order; when none is left the worker waits while the agent
    holds the allocation (idle for at most the ``idle_wait`` setting, in s, and never past the
    walltime margin), then leaves (the last stream closes the queue) and returns the worst status.
    """
    tried: set[str] = set()
    status = 0
    idle_since: float | None = None
    wait = feed.idle_wait()
    reader = feed.Reader(alloc_dir)
    while True:
        pending = [d for d in feed.queued(alloc_dir) if d not in tried]
        if pending:
            idle_since = None
            tried.add(pending[0])
            status = max(status, _run_one(Path(pending[0])))
            feed.note_activity(alloc_dir, f"{time.time():.3f} finished {pending[0]}")
            if _last_outcome(pending[0]) == ALLOCATION_ENDED:
                return status  # SLURM is ending the allocation: start nothing more
            continue
        left = seconds_left()
        if wait and feed.held(alloc_dir) and (left is None or left > 0):
            idle_since = idle_since if idle_since is not None else time.monotonic()
            if time.monotonic() - idle_since < wait:
                time.sleep(poll)
                continue
        if reader.leave(tried):
            return status


def _last_outcome(launch_dir: str) -> str | None:
    outcomes = [a["outcome"] for a in attempts(launch_dir) if "outcome" in a]
    return outcomes[-1] if outcomes else None


def main(argv: list[str] | None = None) -> int:
    """CLI entry: run the allocation's queue, or each launch directory in turn."""
    parser = argparse.ArgumentParser(prog="python -m htflow.launch.worker", description=__doc__)
    parser.add_argument("launch_dirs", nargs="*", type=Path)
    parser.add_argument(
        "--queue",
        type=Path,
        metavar="ALLOC_DIR",
        help="run the queue of this allocation directory (the agent may append to it)",
    )
    parser.add_argument(
        "--streams", type=int, default=1, help="calculations side by side (worker processes)"
    )
    args = parser.parse_args(argv)
    if args.queue is None and not args.launch_dirs:
        parser.error("give launch directories or --queue ALLOC_DIR")
    if args.queue is not None:
        if args.streams > 1:
            return _run_streams(args.streams, ["--queue", str(args.queue)])
        return run_queue(args.queue)
    streams = min(args.streams, len(args.launch_dirs))
    if streams > 1:
        return _run_streams(streams, [str(d) for d in args.launch_dirs])
    return max(_run_one(launch_dir) for launch_dir in args.launch_dirs)


if __name__ == "__main__":
    sys.exit(main())
