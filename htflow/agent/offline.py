"""Offline execution, agent side: claim READY Fireworks into launch directories, ingest results.

The agent is the only process that writes the LaunchPad and the JobStore. For each Firework it:

1. :func:`claim` s it: reserves it (FireWorks ``reserve_fw``), creates its launch directory,
   records it (``change_launch_dir``), seeds the outputs the job references into the
   directory's JobStore files, and writes ``FW.json`` / ``FW_offline.json``
   (FireWorks' ``setup_offline_job``);
2. a compute job runs it with no database (:mod:`htflow.launch.worker`);
3. :func:`ingest` s it: copies the job's outputs into the JobStore, then applies the outcome
   with FireWorks' ``recover_offline`` (COMPLETED/FIZZLED, and jobflow's replace, addition and
   detour responses), then routes any Firework the response created.

Outputs are copied *before* the Firework is marked COMPLETED, so a child never becomes READY
while its parent's output is missing; both steps are idempotent, so the agent can be killed at
any point of :func:`ingest` and simply ingest the same directory again.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fireworks import Firework, FWorker
from fireworks.queue.queue_launcher import setup_offline_job

from htflow.exceptions import HtflowError
from htflow.fireworks_compat import patch_fireworks
from htflow.launch.launchdir import harvest_outputs, seed_references
from htflow.launch.spec import (
    CAMPAIGN_KEY,
    IDENTITY_KEY,
    JOB_TYPE_KEY,
    JOB_UUID_KEY,
    RESOURCES_KEY,
)
from htflow.submit.identity import identities_of
from htflow.submit.routing import default_job_type, routing_spec

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from fireworks import LaunchPad
    from jobflow import Job, JobStore

logger = logging.getLogger(__name__)

LAUNCH_MANIFEST = "htflow_launch.json"
OFFLINE_FILE = "FW_offline.json"
FW_FILE = "FW.json"
AGENT_WORKER_NAME = "htflow-agent"


class IngestError(HtflowError):
    """A finished launch could not be applied to the LaunchPad; it stays pending."""


class JobCodeImportError(IngestError):
    """The agent cannot import code that a launch's result refers to."""


@dataclass(frozen=True)
class ClaimedLaunch:
    """A Firework reserved and prepared for an offline run.

    Attributes
    ----------
    fw_id, launch_id
        FireWorks ids.
    launch_dir
        Absolute launch directory (holds FW.json, FW_offline.json, the JobStore files).
    name
        Firework (job) name.
    job_type
        Routing job type (``small``, ``large`` …).
    resources
        Resources from the cluster profile stored at submission (empty when none were given).
    """

    fw_id: int
    launch_id: int
    launch_dir: Path
    name: str
    job_type: str
    resources: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestResult:
    """What :func:`ingest` found and did.

    Attributes
    ----------
    fw_id, launch_id
        FireWorks ids.
    state
        The launch's state: RESERVED (not started), RUNNING, COMPLETED or FIZZLED.
    applied
        True when this call applied a finished launch; False when it was already applied,
        or has not finished.
    outputs
        Output documents copied into the JobStore by this call.
    """

    fw_id: int
    launch_id: int
    state: str
    applied: bool
    outputs: int = 0

    @property
    def finished(self) -> bool:
        """Whether the run has ended (COMPLETED or FIZZLED)."""
        return self.state in ("COMPLETED", "FIZZLED")


def agent_fworker() -> FWorker:
    """The FWorker recorded on the agent's launches (no environment, no secrets)."""
    return FWorker(name=AGENT_WORKER_NAME)


def ready_fw_ids(
    launchpad: LaunchPad,
    n: int,
    job_types: Iterable[str] | None = None,
    exclude_campaigns: Iterable[str] = (),
) -> list[int]:
    """Up to ``n`` READY fw_ids, highest ``_priority`` first, then oldest: one query.

    Fireworks of the ``exclude_campaigns`` (paused or cancelled) are left out.
    """
    query: dict[str, Any] = {"state": "READY"}
    if job_types is not None:
        query[f"spec.{JOB_TYPE_KEY}"] = {"$in": list(job_types)}
    excluded = list(exclude_campaigns)
    if excluded:
        query[f"spec.{CAMPAIGN_KEY}"] = {"$nin": excluded}
    cursor = launchpad.fireworks.find(query, {"fw_id": 1})
    cursor = cursor.sort([("spec._priority", -1), ("created_on", 1)]).limit(n)
    return [doc["fw_id"] for doc in cursor]


def claim(
    launchpad: LaunchPad,
    n: int,
    launch_root: str | Path,
    *,
    jobstore: JobStore,
    job_types: Iterable[str] | None = None,
    exclude_campaigns: Iterable[str] = (),
) -> list[ClaimedLaunch]:
    """Reserve up to ``n`` READY Fireworks and prepare their launch directories.

    Parameters
    ----------
    launchpad
        The LaunchPad (the caller is the one writer).
    n
        Maximum number of Fireworks to claim.
    launch_root
        Directory under which launch directories ``fw<fw_id>-launch<launch_id>`` are made.
    jobstore
        The agent's JobStore, from which referenced upstream outputs are seeded.
    job_types
        Claim only these job types (``spec.htflow_job_type``); None claims any.
    exclude_campaigns
        Claim none of these campaigns' Fireworks (paused or cancelled ones).

    Returns
    -------
    list[ClaimedLaunch]
        The prepared launches; a launch directory holds no database URI or credential.
    """
    patch_fireworks()
    root = Path(launch_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    fworker = agent_fworker()
    jobstore.connect()
    claimed = []
    for fw_id in ready_fw_ids(launchpad, n, job_types, exclude_campaigns):
        fw, launch_id = launchpad.reserve_fw(
            fworker, str(root), host=socket.gethostname(), fw_id=fw_id
        )
        if fw is None:  # no longer READY
            continue
        try:
            claimed.append(_prepare(launchpad, jobstore, fw, launch_id, root))
        except Exception:
            # One Firework that cannot be prepared must not stop the others: log it and put
            # it back (it is retried at the next claim).
            logger.exception("could not prepare fw_id %s; reservation cancelled", fw_id)
            launchpad.cancel_reservation(launch_id)
    return claimed


def _prepare(
    launchpad: LaunchPad, jobstore: JobStore, fw: Firework, launch_id: int, root: Path
) -> ClaimedLaunch:
    """Make the launch directory of a reserved Firework and record it as an offline run."""
    launch_dir = root / f"fw{fw.fw_id}-launch{launch_id}"
    launch_dir.mkdir(exist_ok=True)
    launchpad.change_launch_dir(launch_id, str(launch_dir))
    job = _job_of(fw)
    seed_references(job, jobstore, launch_dir)
    launch = ClaimedLaunch(
        fw_id=fw.fw_id,
        launch_id=launch_id,
        launch_dir=launch_dir,
        name=fw.name,
        job_type=fw.spec.get(JOB_TYPE_KEY, default_job_type(job)),
        resources=dict(fw.spec.get(RESOURCES_KEY, {})),
    )
    manifest = {
        "fw_id": fw.fw_id,
        "launch_id": launch_id,
        "name": fw.name,
        "job_type": launch.job_type,
        "resources": launch.resources,
    }
    (launch_dir / LAUNCH_MANIFEST).write_text(json.dumps(manifest, indent=2))
    # Last: add_offline_run is what marks the launch as prepared (see release_unprepared).
    with contextlib.chdir(launch_dir):
        setup_offline_job(launchpad, fw, launch_id)
    return launch


def release_unprepared(launchpad: LaunchPad) -> list[int]:
    """Put back to READY the Fireworks reserved by a claim that died before finishing.

    A claim is complete once its offline run is recorded; a RESERVED Firework whose launch has
    no offline run was interrupted (the agent was killed). Returns their fw_ids.
    """
    released = []
    for doc in launchpad.fireworks.find({"state": "RESERVED"}, {"fw_id": 1, "launches": 1}):
        launch_ids = doc.get("launches", [])
        recorded = launchpad.offline_runs.count_documents(
            {"launch_id": {"$in": launch_ids}, "deprecated": False}
        )
        if recorded:
            continue
        for launch_id in launch_ids:
            launch = launchpad.launches.find_one({"launch_id": launch_id}, {"state": 1})
            if launch and launch["state"] == "RESERVED":
                launchpad.cancel_reservation(launch_id)
        released.append(doc["fw_id"])
    return released


def clear_workflow_locks(launchpad: LaunchPad) -> int:
    """Remove the workflow locks a killed writer left behind; returns how many.

    FireWorks locks a workflow while it refreshes it; a lock left by a killed process makes
    every later refresh of that workflow wait, then give up silently. Only the one writer may
    call this, at start-up, when no other refresh can be in progress.
    """
    result = launchpad.workflows.update_many({"locked": True}, {"$unset": {"locked": ""}})
    return int(result.modified_count)


def pending_launch_dirs(launchpad: LaunchPad) -> list[Path]:
    """Launch directories of offline runs not ingested yet (neither completed nor forgotten)."""
    launch_ids = [
        doc["launch_id"]
        for doc in launchpad.offline_runs.find({"completed": False, "deprecated": False})
    ]
    if not launch_ids:
        return []
    launches = launchpad.launches.find({"launch_id": {"$in": launch_ids}}, {"launch_dir": 1})
    return [Path(doc["launch_dir"]) for doc in launches]


def ingest(
    launchpad: LaunchPad,
    jobstore: JobStore,
    launch_dir: str | Path,
    *,
    job_type_of: Callable[[Job], str] = default_job_type,
    resources: Mapping[str, Mapping[str, Any]] | None = None,
) -> IngestResult:
    """Apply a launch directory's outcome to the LaunchPad and copy its outputs to the JobStore.

    Idempotent: ingesting a launch again (or after the agent was killed half-way) changes
    nothing more.

    Parameters
    ----------
    launchpad, jobstore
        The agent's LaunchPad and JobStore.
    launch_dir
        A directory prepared by :func:`claim`.
    job_type_of, resources
        Routing for Fireworks that the job's response creates (see :func:`htflow.submit`).

    Raises
    ------
    JobCodeImportError
        The agent's Python cannot import a module the result needs (the job's code); the
        launch is left pending.
    IngestError
        FireWorks could not apply the result; the launch is left pending.
    """
    patch_fireworks()
    launch_dir = Path(launch_dir).resolve()
    try:
        offline = json.loads((launch_dir / OFFLINE_FILE).read_text())
        launch_id = int(offline["launch_id"])
    except (OSError, ValueError, KeyError) as exc:
        # Rocket rewrites FW_offline.json in place: a worker killed mid-write leaves it empty.
        raise IngestError(
            f"{launch_dir / OFFLINE_FILE} is missing or unreadable ({exc}): the worker died "
            "while writing it; treat the launch as lost and rerun it"
        ) from exc
    run = launchpad.offline_runs.find_one({"launch_id": launch_id})
    if run is None:
        raise IngestError(f"{launch_dir} is not an offline launch of this LaunchPad")
    fw_id = int(run["fw_id"])
    if run.get("completed") or run.get("deprecated"):
        outputs = 0
        if run.get("completed") and not run.get("deprecated") and "fwaction" in offline:
            # repairs a result FireWorks applied before its outputs were copied
            outputs = _harvest(launch_dir, jobstore, only_missing=True)
        _route_new_fireworks(launchpad, fw_id, job_type_of, resources)
        state = launchpad.launches.find_one({"launch_id": launch_id}, {"state": 1})["state"]
        return IngestResult(fw_id, launch_id, state, applied=False, outputs=outputs)
    if "fwaction" not in offline:
        if "started_on" not in offline:
            return IngestResult(fw_id, launch_id, "RESERVED", applied=False)
        launchpad.recover_offline(launch_id, ignore_errors=True)  # records RUNNING and ping
        finished = launchpad.offline_runs.find_one({"launch_id": launch_id}, {"completed": 1})
        if finished and finished.get("completed"):
            # the worker wrote its result between the read above and FireWorks' own read:
            # FireWorks applied it, so copy the outputs now, before a child can be claimed
            return ingest(
                launchpad, jobstore, launch_dir, job_type_of=job_type_of, resources=resources
            )
        return IngestResult(fw_id, launch_id, "RUNNING", applied=False)

    _check_importable(
        launch_dir, json.loads((launch_dir / FW_FILE).read_text()), offline["fwaction"]
    )
    outputs = _harvest(launch_dir, jobstore)
    failed = launchpad.recover_offline(launch_id, ignore_errors=True, print_errors=True)
    if failed is not None:
        raise IngestError(
            f"FireWorks could not apply the result in {launch_dir} (fw_id {fw_id}); "
            "see the agent log for the traceback, fix the cause and ingest again"
        )
    _route_new_fireworks(launchpad, fw_id, job_type_of, resources)
    return IngestResult(fw_id, launch_id, str(offline["state"]), applied=True, outputs=outputs)


def _harvest(launch_dir: Path, jobstore: JobStore, *, only_missing: bool = False) -> int:
    """Copy the launch's job outputs from its directory into the agent's JobStore (with
    ``only_missing``: only when the JobStore has none of that job's outputs yet)."""
    job = _job_of(Firework.from_dict(json.loads((launch_dir / FW_FILE).read_text())))
    if only_missing and jobstore.docs_store.count({"uuid": job.uuid}):
        return 0
    return harvest_outputs(launch_dir, jobstore, [job.uuid])


def _job_of(fw: Firework) -> Job:
    from jobflow import Job

    job = fw.tasks[0].get("job")
    if isinstance(job, dict):
        job = Job.from_dict(job)
    if not isinstance(job, Job):
        raise HtflowError(f"Firework {fw.fw_id} ({fw.name}) is not a jobflow job: submit Flows")
    return job


def _modules(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["@module"]} if isinstance(value.get("@module"), str) else set()
        for item in value.values():
            found |= _modules(item)
        return found
    if isinstance(value, list):
        return set().union(*(_modules(v) for v in value)) if value else set()
    return set()


def _check_importable(launch_dir: Path, *docs: Any) -> None:
    """Fail with a clear message instead of letting ``recover_offline`` fizzle the launch."""
    for module in sorted(set().union(*(_modules(doc) for doc in docs))):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise JobCodeImportError(
                f"the agent cannot import {module!r}, which the result in {launch_dir} needs "
                f"({exc}): install that code in the agent's Python environment, then ingest again"
            ) from exc


def _route_new_fireworks(
    launchpad: LaunchPad,
    fw_id: int,
    job_type_of: Callable[[Job], str],
    resources: Mapping[str, Mapping[str, Any]] | None,
) -> None:
    """Give routing and identity to Fireworks a job's response added to the workflow."""
    workflow = launchpad.workflows.find_one({"nodes": fw_id}, {"nodes": 1})
    if workflow is None:
        return
    query = {"fw_id": {"$in": workflow["nodes"]}, f"spec.{JOB_TYPE_KEY}": {"$exists": False}}
    for doc in launchpad.fireworks.find(query, {"fw_id": 1}):
        new_fw = launchpad.get_fw_by_id(doc["fw_id"])
        try:
            job = _job_of(new_fw)
        except HtflowError:
            continue
        spec = routing_spec(job, job_type_of, resources)
        spec[IDENTITY_KEY] = identities_of([job])[job.uuid].as_spec()
        spec[JOB_UUID_KEY] = job.uuid
        update = {f"spec.{key}": value for key, value in spec.items()}
        launchpad.fireworks.update_one({"fw_id": doc["fw_id"]}, {"$set": update})
