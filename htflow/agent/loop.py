"""The agent loop: the one writer that claims, packs, submits, watches, ingests and requeues.

:class:`Agent` holds the database's writer lock for its whole life. On entry it recovers
from whatever a killed predecessor left (workflow locks, half-made claims, allocations
submitted but not recorded, launches finished but not ingested). Each :meth:`Agent.step`:

1. submits flows waiting in the inbox (:mod:`htflow.agent.inbox`);
2. **watches** its allocations (``squeue``, then ``sacct`` for jobs that left the queue);
3. **ingests** every launch directory whose run finished (idempotent, so a kill -9 at any
   point only means ingesting it again);
4. **requeues** unfinished launches of ended allocations (:mod:`htflow.agent.requeue`);
5. **claims** READY Fireworks in one batch, as many as the free queue slots and the open
   allocations can run;
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
from htflow.agent.offline import (
    IngestError,
    claim,
    clear_workflow_locks,
    ingest,
    pending_launch_dirs,
    release_unprepared,
)
from htflow.agent.packing import Allocation, oldest_first, pack, resources_of
from htflow.agent.requeue import RequeuePolicy, apply, decide
from htflow.agent.watch import LOST, is_alive, job_states
from htflow.cluster import slurm
from htflow.cluster.render import write_job_script
from htflow.db import get_jobstore, get_launchpad, redact, resolve, writer_lock
from htflow.db.indexes import ensure_indexes as ensure_output_indexes
from htflow.launch import feed
from htflow.launch.worker import FINISHED_STATES, launch_state, write_json_atomic

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from fireworks import LaunchPad
    from jobflow import JobStore

    from htflow.cluster.profile import ClusterProfile

logger = logging.getLogger("htflow.agent")


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
        lp = self.lp
        unlocked = clear_workflow_locks(lp)
        released = release_unprepared(lp)
        known = {doc["launch_id"] for doc in records.launches(lp).find({}, {"launch_id": 1})}
        adopted = 0
        for launch_dir in pending_launch_dirs(lp):
            manifest = _manifest(launch_dir)
            if manifest is None or manifest["launch_id"] in known:
                continue
            records.add_launch(
                lp,
                launch_id=manifest["launch_id"],
                fw_id=manifest["fw_id"],
                launch_dir=str(launch_dir),
                job_type=manifest.get("job_type", "small"),
                name=manifest.get("name", ""),
                resources=manifest.get("resources"),
            )
            adopted += 1
        orphans = self._recover_submitting()
        logger.info(
            "recovery: %d workflow locks cleared, %d half-claimed Fireworks released, "
            "%d launches adopted, %d unrecorded submissions resolved",
            unlocked,
            len(released),
            adopted,
            orphans,
        )

    def _recover_submitting(self) -> int:
        """Allocations recorded but without a job id: find the job, or put the launches back."""
        count = 0
        for alloc in records.allocations(self.lp).find({"state": "submitting"}):
            count += 1
            job_id = _job_id_from_outputs(Path(alloc["dir"])) or self._job_id_by_name(alloc)
            if job_id is not None:
                records.allocations(self.lp).update_one(
                    {"alloc_id": alloc["alloc_id"]}, {"$set": {"job_id": job_id, "state": "queued"}}
                )
                continue
            records.allocations(self.lp).update_one(
                {"alloc_id": alloc["alloc_id"]},
                {"$set": {"state": "ended", "slurm_state": "NOT_SUBMITTED", "ended": time.time()}},
            )
            records.launches(self.lp).update_many(
                {"alloc_id": alloc["alloc_id"]}, {"$set": {"alloc_id": None}}
            )
        return count

    def _job_id_by_name(self, alloc: dict[str, Any]) -> str | None:
        import subprocess

        env = slurm.slurm_environment(self.profile)
        try:
            out = subprocess.run(
                ["squeue", "-h", "--me", "-o", "%i|%j"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        for line in out.splitlines():
            job, _, name = line.partition("|")
            if name == alloc["job_name"]:
                return job
        return None

    # ----------------------------------------------------------------- one pass
    def step(self) -> StepReport:
        """One pass of the loop (see the module docstring); returns what it did."""
        from htflow.agent.inbox import process_inbox

        report = StepReport()
        report.submitted_flows = sum(
            r["submitted"] for r in process_inbox(self.lp, self.config.agent_dir)
        )
        ended = self._watch()
        report.ended_allocations = len(ended)
        self._ingest_and_requeue(report)
        if self._stop:
            return report
        open_allocs = topup.open_allocations(self.lp, self.profile)
        self._claim(report, sum(a.room for a in open_allocs))
        self._top_up(report, open_allocs)
        self._submit(report)
        self._hold()
        active = records.active_allocations(self.lp)
        report.active_allocations = len(active)
        self._watched = [a["dir"] for a in active if a.get("dir")]
        report.open_launches = records.launches(self.lp).count_documents({"done": False})
        return report

    def _watch(self) -> list[dict[str, Any]]:
        """Update the state of queued allocations; return those that ended in this pass."""
        active = [a for a in records.active_allocations(self.lp) if a.get("job_id")]
        if not active:
            return []
        states = job_states([a["job_id"] for a in active], self.profile)
        ended = []
        for alloc in active:
            state = states.get(alloc["job_id"], LOST)
            if is_alive(state):
                if state != alloc.get("slurm_state"):
                    change: dict[str, Any] = {"slurm_state": state}
                    if state == "RUNNING":
                        change["started"] = time.time()
                    records.allocations(self.lp).update_one(
                        {"alloc_id": alloc["alloc_id"]}, {"$set": change}
                    )
                    if state == "RUNNING":
                        logger.info(
                            "allocation %s (job %s) running", alloc["alloc_id"], alloc["job_id"]
                        )
                continue
            records.allocations(self.lp).update_one(
                {"alloc_id": alloc["alloc_id"]},
                {"$set": {"state": "ended", "slurm_state": state, "ended": time.time()}},
            )
            logger.info(
                "allocation %s (job %s) ended %s", alloc["alloc_id"], alloc["job_id"], state
            )
            alloc["slurm_state"] = state
            ended.append(alloc)
        return ended

    def _ingest_and_requeue(self, report: StepReport) -> None:
        allocs = {
            a["alloc_id"]: a
            for a in records.allocations(self.lp).find(
                {"alloc_id": {"$in": [d["alloc_id"] for d in records.open_launches(self.lp)]}},
                {"_id": 0},
            )
        }
        for launch in records.open_launches(self.lp):
            if self._stop:
                return
            state = _safe_state(launch["launch_dir"])
            if state in FINISHED_STATES:
                if self._ingest(launch):
                    report.ingested += 1
                continue
            alloc = allocs.get(launch["alloc_id"])
            if alloc is None or alloc["state"] != "ended":
                if state == "RUNNING" and not launch.get("running_recorded"):
                    self._record_running(launch)
                continue
            decision = decide(
                launch,
                alloc.get("job_id"),
                alloc.get("slurm_state", LOST),
                resources_of(self.profile, launch),
                self.config.policy,
            )
            logger.info(
                "launch %s (fw %s): %s: %s",
                launch["launch_id"],
                launch["fw_id"],
                decision.action,
                decision.reason,
            )
            if state is None:  # FW_offline.json unreadable: the worker died writing it
                write_json_atomic(
                    Path(launch["launch_dir"]) / "FW_offline.json",
                    {"launch_id": launch["launch_id"]},
                )
            apply(self.lp, launch, decision)
            if decision.action == "fizzle":
                report.fizzled += 1
                self._ingest(launch)
            else:
                report.requeued += 1

    def _ingest(self, launch: dict[str, Any]) -> bool:
        logger.info(
            "ingesting launch %s (fw %s) from %s",
            launch["launch_id"],
            launch["fw_id"],
            launch["launch_dir"],
        )
        try:
            result = ingest(self.lp, self.jobstore, launch["launch_dir"])
        except IngestError as exc:
            logger.error("launch %s not ingested: %s", launch["launch_id"], exc)
            return False
        records.launches(self.lp).update_one(
            {"launch_id": launch["launch_id"]},
            {"$set": {"done": True, "state": result.state, "ingested": time.time()}},
        )
        logger.info("launch %s (fw %s) %s", launch["launch_id"], launch["fw_id"], result.state)
        return True

    def _record_running(self, launch: dict[str, Any]) -> None:
        with contextlib.suppress(IngestError):
            ingest(self.lp, self.jobstore, launch["launch_dir"])  # records RUNNING
        records.launches(self.lp).update_one(
            {"launch_id": launch["launch_id"]}, {"$set": {"running_recorded": True}}
        )

    def _free_slots(self) -> int:
        return max(0, self.profile.max_jobs_in_queue - len(records.active_allocations(self.lp)))

    def _claim(self, report: StepReport, room: int = 0) -> None:
        free = self._free_slots()
        if not free and not room:
            return
        waiting = records.launches(self.lp).count_documents({"done": False, "alloc_id": None})
        per_alloc = max(
            [self.profile.calculations_per_allocation]
            + [r.calculations_per_allocation or 0 for r in self.profile.resources.values()]
        )
        wanted = free * per_alloc + room - waiting
        if wanted <= 0:
            return
        claimed = claim(self.lp, wanted, self.config.launches_dir, jobstore=self.jobstore)
        for launch in claimed:
            records.add_launch(
                self.lp,
                launch_id=launch.launch_id,
                fw_id=launch.fw_id,
                launch_dir=str(launch.launch_dir),
                job_type=launch.job_type,
                name=launch.name,
                resources=launch.resources,
            )
        if claimed:
            logger.info("claimed %d Fireworks", len(claimed))
        report.claimed = len(claimed)

    def _top_up(self, report: StepReport, open_allocs: list[topup.OpenAllocation]) -> None:
        if not open_allocs:
            return
        waiting = oldest_first(records.launches(self.lp).find({"done": False, "alloc_id": None}))
        for alloc_id, ids in topup.top_up(self.lp, self.profile, open_allocs, waiting):
            logger.info("allocation %s takes %d more launches: %s", alloc_id, len(ids), ids)
            report.fed += len(ids)

    def _hold(self) -> None:
        """Tell open allocations whether more work is coming (asked at most every 2 s)."""
        if not self.profile.allocation_idle_wait:
            return
        if time.monotonic() - self._hold_checked >= 2:
            self._hold_checked = time.monotonic()
            self._more_work = topup.more_work_expected(self.lp)
        topup.set_holds(self.lp, self._more_work)

    def _submit(self, report: StepReport) -> None:
        free = self._free_slots()
        if not free:
            return
        waiting = list(records.launches(self.lp).find({"done": False, "alloc_id": None}))
        for allocation in pack(self.profile, waiting, free):
            self._submit_one(allocation)
            report.submitted_allocations += 1

    def _submit_one(self, allocation: Allocation) -> None:
        lp = self.lp
        alloc_id = records.next_alloc_id(lp)
        alloc_dir = self.config.agent_dir / "allocations" / f"a{alloc_id:06d}"
        alloc_dir.mkdir(parents=True, exist_ok=True)
        launch_ids = [d["launch_id"] for d in allocation.launches]
        dirs = [d["launch_dir"] for d in allocation.launches]
        job_name = f"htflow-a{alloc_id}"
        # An allocation that may be topped up starts every stream it has room for.
        streams = allocation.streams
        if self.profile.allocation_idle_wait:
            streams = allocation.max_streams
        records.allocations(lp).insert_one(
            {
                "alloc_id": alloc_id,
                "job_id": None,
                "job_name": job_name,
                "state": "submitting",
                "slurm_state": None,
                "launch_ids": launch_ids,
                "dir": str(alloc_dir),
                "streams": streams,
                "resources": allocation.resources.model_dump(mode="json"),
                "submitted": time.time(),
            }
        )
        records.launches(lp).update_many(
            {"launch_id": {"$in": launch_ids}}, {"$set": {"alloc_id": alloc_id}}
        )
        feed.append(alloc_dir, dirs)
        command = [self.config.worker_python, "-m", "htflow.launch.worker"]
        if streams > 1:
            command += ["--streams", str(streams)]
        command += ["--queue", str(alloc_dir)]
        script = write_job_script(
            self.profile, command, alloc_dir, job_name, resources=allocation.resources
        )
        job_id = slurm.sbatch(script, alloc_dir, profile=self.profile)
        records.allocations(lp).update_one(
            {"alloc_id": alloc_id}, {"$set": {"job_id": job_id, "state": "queued"}}
        )
        logger.info(
            "submitted allocation %s as job %s: %d launches, %d side by side, walltime %d s",
            alloc_id,
            job_id,
            len(dirs),
            streams,
            allocation.resources.walltime,
        )

    # ----------------------------------------------------------------- the loop
    def run(
        self,
        until: Callable[[StepReport], bool] | None = None,
        poll: float = 10.0,
    ) -> StepReport:
        """Step until stopped (SIGTERM/SIGINT), or until ``until(report)`` is true.

        A step that did something is followed at once by the next one; an idle step waits
        ``poll`` seconds.
        """
        report = StepReport()
        with _signals(self.request_stop):
            while not self._stop:
                report = self.step()
                if until is not None and until(report):
                    break
                active = (
                    report.ingested
                    or report.requeued
                    or report.claimed
                    or report.fed
                    or report.submitted_allocations
                    or report.submitted_flows
                )
                if not active:
                    self._nap(poll)
        logger.info("agent stopping")
        return report

    def _nap(self, poll: float) -> None:
        """Wait up to ``poll`` s; wake early when an allocation or the inbox shows news.

        News is a launch that finished (an allocation's activity file grew), a queue that
        just closed (its allocation is ending) or a new inbox file. Looking costs a few
        ``stat`` calls every 0.2 s, not a pass with its database queries and ``squeue``.
        """
        deadline = time.monotonic() + poll
        before = self._news()
        while not self._stop and time.monotonic() < deadline:
            time.sleep(min(0.2, poll))
            now = self._news()
            if now is None or now != before:
                return

    def _news(self) -> tuple[object, ...] | None:
        """What :meth:`_nap` compares; None when something needs a pass now."""
        from htflow.agent.inbox import INBOX

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


def _safe_state(launch_dir: str) -> str | None:
    try:
        return launch_state(launch_dir)
    except (OSError, ValueError):
        return None


def _manifest(launch_dir: Path) -> dict[str, Any] | None:
    import json

    from htflow.agent.offline import LAUNCH_MANIFEST

    try:
        data: dict[str, Any] = json.loads((launch_dir / LAUNCH_MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data


def _job_id_from_outputs(alloc_dir: Path) -> str | None:
    outputs = sorted(alloc_dir.glob("slurm-*.out"))
    return outputs[-1].name.removeprefix("slurm-").removesuffix(".out") if outputs else None


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
