"""The agent loop: the one writer that claims, packs, submits, watches, ingests and requeues.

:class:`Agent` holds the database's writer lock for its whole life. On entry it recovers
from whatever a killed predecessor left (workflow locks, half-made claims, allocations
submitted but not recorded, launches finished but not ingested: :mod:`htflow.agent.recovery`).
Each :meth:`Agent.step` runs the steps in order; each lives in its own module:

1. applies the requests waiting in its inbox: flows to submit, admin actions (rerun, pause,
   resume, cancel, priority: :mod:`htflow.agent.inbox`, :mod:`htflow.actions`);
2. **watches** its allocations (``squeue``, then ``sacct`` for jobs that left the queue:
   :mod:`htflow.agent.watch`);
3. **ingests** every launch directory whose run finished (idempotent, so a kill -9 at any
   point only means ingesting it again: :mod:`htflow.agent.ingestion`);
4. **requeues** unfinished launches of ended allocations (:mod:`htflow.agent.requeue`);
   then, when a campaign funnel's screen has completed, submits its DFT stage for the kept
   candidates (:mod:`htflow.agent.funnel`), and moves every active campaign's loop on by a
   step: pool recorded, round chosen and submitted, results observed, stop
   (:mod:`htflow.agent.active`);
5. **claims** READY Fireworks in one batch (none of a paused or cancelled campaign), as
   many as the free queue slots and the open allocations can run
   (:mod:`htflow.agent.dispatch`, like the next two);
6. **tops up** queued and running allocations with waiting launches that fit them
   (:mod:`htflow.agent.topup`), so an allocation's streams do not idle while work is READY;
7. **packs** the remaining waiting launches into allocations (:mod:`htflow.agent.packing`)
   and submits them with ``sbatch``, keeping at most ``max_jobs_in_queue`` allocations queued.

Job scripts, launch directories and the log never hold the database URI: the worker needs
none, the SLURM wrappers scrub it from the environment, and the log shows it redacted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from htflow.agent import records, topup
from htflow.agent.active import advance_active_campaigns
from htflow.agent.dispatch import claim_ready, submit_waiting, top_up_open
from htflow.agent.funnel import expand_funnels
from htflow.agent.ingestion import ingest_and_requeue
from htflow.agent.recovery import recover
from htflow.agent.requeue import RequeuePolicy
from htflow.agent.watch import watch_allocations
from htflow.db import get_jobstore, get_launchpad, redact, resolve, writer_lock
from htflow.db.indexes import ensure_indexes as ensure_output_indexes
from htflow.launch import feed

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from fireworks import LaunchPad
    from jobflow import JobStore

    from htflow.cluster.profile import ClusterProfile

logger = logging.getLogger("htflow.agent")
ACTIVE_RECHECK = 30.0  # s between active-loop checks when nothing else prompts one


@dataclass
class AgentConfig:
    """What the agent needs to know.

    Attributes
    ----------
    profile
        The cluster profile (queue limit, packing policy, resources per job type).
    agent_dir
        The agent's directory: ``allocations/`` (job scripts, SLURM output), ``inbox/``.
    launch_root
        Where launch directories are made (default ``<agent_dir>/launches``).
    db_uri
        Database URI; None: the configured one.
    policy
        Requeue bounds.
    worker_python
        Interpreter the compute job runs the worker with.
    """

    profile: ClusterProfile
    agent_dir: Path
    launch_root: Path | None = None
    db_uri: str | None = None
    policy: RequeuePolicy = field(default_factory=RequeuePolicy)
    worker_python: str = sys.executable

    @property
    def launches_dir(self) -> Path:
        """The launch root actually used."""
        return self.launch_root or self.agent_dir / "launches"


@dataclass
class StepReport:
    """What one pass did (counts)."""

    submitted_flows: int = 0
    applied_requests: int = 0
    expanded_funnels: int = 0
    active_steps: int = 0
    ended_allocations: int = 0
    ingested: int = 0
    requeued: int = 0
    fizzled: int = 0
    claimed: int = 0
    fed: int = 0
    submitted_allocations: int = 0
    active_allocations: int = 0
    open_launches: int = 0

    @property
    def busy(self) -> bool:
        """Whether anything is in flight (allocations queued or launches not ingested)."""
        return bool(self.active_allocations or self.open_launches)


class Agent:
    """The agent. Use as a context manager: entering takes the writer lock and recovers.

    Parameters
    ----------
    config
        See :class:`AgentConfig`.
    """

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.profile = config.profile
        self._stack = contextlib.ExitStack()
        self._stop = False
        self._hold_checked = 0.0
        self._more_work = False
        self._lp: LaunchPad | None = None
        self._jobstore: JobStore | None = None
        self._watched: list[str] = []  # directories of the allocations active after a pass
        self._funnels_checked = False
        self._active_changed = False
        self._active_checked = 0.0

    # ----------------------------------------------------------------- life cycle
    def __enter__(self) -> Agent:
        target = resolve(self.config.db_uri)
        self._stack.enter_context(writer_lock(self.config.db_uri))
        logger.info("writer lock held on %s (%s)", redact(target.uri), target.kind)
        self._lp = get_launchpad(self.config.db_uri)
        # Ingestion upserts outputs by (uuid, index): index them before the store is opened.
        ensure_output_indexes(self.config.db_uri)
        self._jobstore = get_jobstore(self.config.db_uri)
        self._jobstore.connect()
        self.config.agent_dir.mkdir(parents=True, exist_ok=True)
        self.config.launches_dir.mkdir(parents=True, exist_ok=True)
        records.ensure_indexes(self._lp)
        self.recover()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        logger.info("writer lock released")

    @property
    def lp(self) -> LaunchPad:
        """The LaunchPad (only while the agent is entered)."""
        if self._lp is None:
            raise RuntimeError("use the Agent as a context manager")
        return self._lp

    @property
    def jobstore(self) -> JobStore:
        """The JobStore (only while the agent is entered)."""
        if self._jobstore is None:
            raise RuntimeError("use the Agent as a context manager")
        return self._jobstore

    def request_stop(self, *_: Any) -> None:
        """Finish the current ingestion, then leave :meth:`run` (SIGTERM handler)."""
        self._stop = True

    def recover(self) -> None:
        """Start-up recovery after a crash (each part is a no-op after a clean stop)."""
        recover(self.lp, self.profile)

    # ----------------------------------------------------------------- one pass
    def step(self) -> StepReport:
        """One pass of the loop (see the module docstring); returns what it did."""
        from htflow.agent.inbox import process_inbox

        lp, profile, config = self.lp, self.profile, self.config
        report = StepReport()
        requests = process_inbox(lp, config.agent_dir, profile)
        report.submitted_flows = sum(r["submitted"] for r in requests)
        report.applied_requests = sum(r["status"] == "applied" for r in requests)
        report.ended_allocations = len(watch_allocations(lp, profile))
        counts = ingest_and_requeue(
            lp, self.jobstore, profile, config.policy, stopping=lambda: self._stop
        )
        report.ingested = counts.ingested
        report.requeued = counts.requeued
        report.fizzled = counts.fizzled
        if self._stop:
            return report
        if counts.ingested or not self._funnels_checked:
            # a screen completes only through ingestion; the first pass also finishes an
            # expansion that a kill interrupted
            report.expanded_funnels = len(expand_funnels(lp, self.jobstore))
        if self._active_due(counts.ingested, report.applied_requests):
            # a round ends by ingestion, or by an admin's defuse, cancel or resume (inbox)
            steps = advance_active_campaigns(
                lp,
                self.jobstore,
                config.db_uri,
                check_pools=bool(counts.ingested) or not self._funnels_checked,
            )
            self._active_changed = any(step.changed for step in steps)
            self._active_checked = time.monotonic()
            report.active_steps = sum(step.changed for step in steps)
        self._funnels_checked = True
        open_allocs = topup.open_allocations(lp, profile)
        room = sum(a.room for a in open_allocs)
        report.claimed = claim_ready(lp, self.jobstore, profile, config.launches_dir, room)
        report.fed = top_up_open(lp, profile, open_allocs)
        report.submitted_allocations = submit_waiting(
            lp, profile, config.agent_dir, config.worker_python
        )
        self._hold()
        active = records.active_allocations(lp)
        report.active_allocations = len(active)
        self._watched = [a["dir"] for a in active if a.get("dir")]
        report.open_launches = records.launches(lp).count_documents({"done": False})
        return report

    def _active_due(self, ingested: int, applied: int) -> bool:
        """Whether this pass steps the active loops: after news, after a pass that changed
        one (its next step may follow at once), and at least every ACTIVE_RECHECK s."""
        return bool(
            ingested
            or applied
            or not self._funnels_checked
            or self._active_changed
            or time.monotonic() - self._active_checked >= ACTIVE_RECHECK
        )

    def _hold(self) -> None:
        """Tell open allocations whether more work is coming (asked at most every 2 s)."""
        if not self.profile.allocation_idle_wait:
            return
        if time.monotonic() - self._hold_checked >= 2:
            self._hold_checked = time.monotonic()
            self._more_work = topup.more_work_expected(self.lp)
        topup.set_holds(self.lp, self._more_work)

    # ----------------------------------------------------------------- the loop
    def run(
        self,
        until: Callable[[StepReport], bool] | None = None,
        poll: float = 10.0,
        tick: Callable[[], object] | None = None,
    ) -> StepReport:
        """Step until stopped (SIGTERM/SIGINT), or until ``until(report)`` is true.

        A step that did something is followed at once by the next one; an idle step waits
        ``poll`` seconds. ``tick`` (e.g. a :class:`~htflow.agent.progress.ProgressReporter`)
        is called after every step and every 0.2 s of a wait, so it must be cheap when idle.
        """
        report = StepReport()
        tick = tick or (lambda: None)
        with _signals(self.request_stop):
            while not self._stop:
                report = self.step()
                tick()
                if until is not None and until(report):
                    break
                active = (
                    report.ingested
                    or report.requeued
                    or report.claimed
                    or report.fed
                    or report.submitted_allocations
                    or report.applied_requests
                    or report.active_steps
                )
                if not active:
                    self._nap(poll, tick)
        logger.info("agent stopping")
        return report

    def _nap(self, poll: float, tick: Callable[[], object] = lambda: None) -> None:
        """Wait up to ``poll`` s; wake early when an allocation or the inbox shows news.

        News is a launch that finished (an allocation's activity file grew), a queue that
        just closed (its allocation is ending) or a new inbox file. Looking costs a few
        ``stat`` calls every 0.2 s, not a pass with its database queries and ``squeue``.
        """
        deadline = time.monotonic() + poll
        before = self._news()
        while not self._stop and time.monotonic() < deadline:
            time.sleep(min(0.2, poll))
            tick()
            now = self._news()
            if now is None or now != before:
                return

    def _news(self) -> tuple[object, ...] | None:
        """What :meth:`_nap` compares; None when something needs a pass now."""
        from htflow.submit.inbox import INBOX

        allocations = feed.activity(self._watched)
        if allocations is None:
            return None
        try:
            inbox = len(os.listdir(self.config.agent_dir / INBOX))
        except OSError:
            inbox = 0
        return (*allocations, inbox)


def until_idle(report: StepReport) -> bool:
    """``run(until=until_idle)``: stop when nothing is queued, running or waiting."""
    return not report.busy and not report.claimed


@contextlib.contextmanager
def _signals(handler: Callable[..., Any]) -> Iterator[None]:
    """Route SIGTERM and SIGINT to ``handler`` (main thread only) for the block."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def configure_logging(log_file: Path | None = None, level: int = logging.INFO) -> None:
    """Log the agent to ``log_file`` (or stderr), one line per event, URIs never shown."""
    handler: logging.Handler = (
        logging.FileHandler(log_file) if log_file is not None else logging.StreamHandler()
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_RedactFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("fireworks", "launchpad", "jobflow", "maggma"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _RedactFilter(logging.Filter):
    """Mask passwords in any URI that reaches the log, whoever logs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
