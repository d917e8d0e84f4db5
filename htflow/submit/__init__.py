"""Submission: a jobflow Flow → a FireWorks Workflow with routing, identity and duplicate checks.

:func:`submit_flow` converts the flow with jobflow's ``flow_to_workflow`` and writes into each
Firework spec what the agent needs:

- ``htflow_identity``: what the calculation is (:mod:`htflow.submit.identity`);
- ``_category`` / ``htflow_job_type`` / ``htflow_resources``: where it runs
  (:mod:`htflow.submit.routing`);
- ``htflow_job_uuid``: the jobflow uuid (its outputs' key in the JobStore).

Every job's task writes to the launch-directory JobStore (:mod:`htflow.launch.launchdir`), so
a compute job never needs the database.

Duplicates. A job *matches* when a Firework with the same uuid exists (or the job was left
out as a reused relaxation when its flow was submitted), or when a Firework
COMPLETED or queued (WAITING, READY, RESERVED, RUNNING, PAUSED) has the same identity
(formula, protocol, task label, code, Maker settings, and a StructureMatcher match). The rule
is per flow: **a flow is a duplicate, and nothing of it is added, when every job that can be
identified matches** (jobs on no structure, such as plain Python helpers, can only match by
uuid).

Reuse. In a flow that is added, a **starting relaxation** (a relax Maker's job on a concrete
structure, such as the vc-relax every QE workflow begins with) that matches a COMPLETED or
queued Firework is not run again: it is left out, the references to its output are pointed
at the original job, and the workflow is appended under the original Firework
(``LaunchPad.append_wf``), so its jobs start when the original has finished, at once if it
already has (:mod:`htflow.submit.reuse`). Each rewired Firework names the original in
``spec.htflow_reused``; :attr:`SubmitResult.reused` lists them. Other partial matches are
only reported: their jobs run. One vc-relax thus feeds a material's static/DOS, EOS and
elastic flows, in one campaign or across campaigns.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jobflow import Flow, Job
from jobflow.core.flow import get_flow
from jobflow.managers.fireworks import flow_to_workflow

from htflow.exceptions import InputError
from htflow.launch.launchdir import DEFAULT_ADDITIONAL_STORES, launch_jobstore
from htflow.launch.spec import IDENTITY_KEY, JOB_UUID_KEY, REUSED_KEY
from htflow.submit.identity import (
    IDENTITY_INDEX_FIELDS,
    JobIdentity,
    find_duplicates,
    identities_of,
)
from htflow.submit.reuse import Reuse, find_reuses, rewire
from htflow.submit.routing import default_job_type, routing_spec

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from fireworks import LaunchPad

__all__ = [
    "DUPLICATE_STATES",
    "JOB_UUID_KEY",
    "Duplicate",
    "Reuse",
    "SubmitResult",
    "ensure_indexes",
    "submit_flow",
]

# States in which an identical calculation makes a new one pointless. FIZZLED and DEFUSED
# are absent on purpose: resubmitting a failed calculation is how a user retries it.
DUPLICATE_STATES = ("COMPLETED", "READY", "WAITING", "RESERVED", "RUNNING", "PAUSED")


@dataclass(frozen=True)
class Duplicate:
    """A job of the submitted flow that matches existing Fireworks.

    Attributes
    ----------
    job_uuid, job_name
        The job of the submitted flow.
    matches
        The existing Fireworks it matches: ``[{"fw_id": …, "state": …}, …]``.
    by
        ``"uuid"`` (the very same job) or ``"identity"`` (an identical calculation).
    """

    job_uuid: str
    job_name: str
    matches: list[dict[str, Any]]
    by: str


@dataclass
class SubmitResult:
    """What :func:`submit_flow` did.

    Attributes
    ----------
    submitted
        True when the workflow was added to the LaunchPad.
    fw_ids
        Job uuid → new fw_id (empty when not submitted; reused relaxations have none).
    duplicates
        Jobs that match existing Fireworks (all of them when ``submitted`` is False).
    n_jobs
        Number of jobs in the flow.
    reused
        Starting relaxations left out because an identical Firework serves them.
    """

    submitted: bool
    n_jobs: int
    fw_ids: dict[str, int] = field(default_factory=dict)
    duplicates: list[Duplicate] = field(default_factory=list)
    reused: list[Reuse] = field(default_factory=list)


def ensure_indexes(launchpad: LaunchPad) -> None:
    """Index the spec fields that the duplicate check and ingestion query."""
    for name in (*IDENTITY_INDEX_FIELDS, f"spec.{JOB_UUID_KEY}", f"spec.{REUSED_KEY}.replaced_job"):
        launchpad.fireworks.create_index(name)


def submit_flow(
    flow: Flow | Job | list[Job],
    launchpad: LaunchPad,
    *,
    job_type_of: Callable[[Job], str] = default_job_type,
    resources: Mapping[str, Mapping[str, Any]] | None = None,
    protocol: str | None = None,
    dedupe: bool = True,
    lock: contextlib.AbstractContextManager[Any] | None = None,
    additional_stores: Sequence[str] = DEFAULT_ADDITIONAL_STORES,
) -> SubmitResult:
    """Add ``flow`` to ``launchpad`` unless it duplicates work already done or queued.

    Parameters
    ----------
    flow
        A jobflow Flow, Job or list of Jobs.
    launchpad
        The FireWorks LaunchPad (``htflow.db.get_launchpad()``).
    job_type_of
        Job → job type (default: relaxations are ``large``, everything else ``small``).
    resources
        Job type → resources (from the cluster profile), stored in ``spec.htflow_resources``.
    protocol
        Protocol name recorded for jobs whose Maker does not tell its own (e.g. VASP Makers).
    dedupe
        Check for duplicates and reuse matching starting relaxations (see the module
        docstring); False adds the whole flow unconditionally.
    lock
        Held around the check and the insertion, e.g. ``htflow.db.writer_lock()`` when the
        caller is not the agent (the one writer).
    additional_stores
        Additional store names of the JobStore the outputs end up in (``data``).

    Returns
    -------
    SubmitResult
        Whether the flow was added, its fw_ids, the duplicates found and what was reused.

    Raises
    ------
    InputError
        Some but not all jobs of ``flow`` are already on the LaunchPad (same uuids): adding
        the rest would store two outputs under one uuid. Build the flow again instead.
    """
    flow = get_flow(flow, allow_external_references=False)
    jobs = [job for job, _ in flow.iterflow()]
    identities = identities_of(jobs)
    if protocol is not None:
        identities = {
            uuid: ident if ident.protocol is not None else _with_protocol(ident, protocol)
            for uuid, ident in identities.items()
        }

    workflow = flow_to_workflow(flow, store=launch_jobstore(additional_stores))
    for fw in workflow.fws:
        job = fw.tasks[0]["job"]
        fw.spec[IDENTITY_KEY] = identities[job.uuid].as_spec()
        fw.spec[JOB_UUID_KEY] = job.uuid
        fw.spec.update(routing_spec(job, job_type_of, resources))

    with lock if lock is not None else contextlib.nullcontext():
        matches: list[Duplicate] = []
        reused: list[Reuse] = []
        if dedupe:
            is_duplicate, matches = _check_duplicates(launchpad, jobs, identities)
            if is_duplicate:
                return SubmitResult(submitted=False, n_jobs=len(jobs), duplicates=matches)
            matched = {duplicate.job_uuid for duplicate in matches}
            reused = find_reuses(launchpad, [j for j in jobs if j.uuid in matched], identities)
        if reused:
            workflow = rewire(workflow, reused)
            parents = sorted({reuse.original_fw_id for reuse in reused})
            # jobflow's FWActions carry no spec updates to pull; append_wf gives the new
            # Fireworks their fw_ids in place
            launchpad.append_wf(workflow, parents, detour=False, pull_spec_mods=False)
            old_new: dict[int, int] = {}
        else:
            old_new = launchpad.add_wf(workflow)
    fw_ids = {fw.tasks[0]["job"].uuid: old_new.get(fw.fw_id, fw.fw_id) for fw in workflow.fws}
    return SubmitResult(
        submitted=True, n_jobs=len(jobs), fw_ids=fw_ids, duplicates=matches, reused=reused
    )


def _with_protocol(identity: JobIdentity, protocol: str) -> JobIdentity:
    from dataclasses import replace

    return replace(identity, protocol=protocol)


def _check_duplicates(
    launchpad: LaunchPad, jobs: list[Job], identities: Mapping[str, JobIdentity]
) -> tuple[bool, list[Duplicate]]:
    """Whether the whole flow is a duplicate, and the jobs that match."""
    uuids = [job.uuid for job in jobs]
    existing = {doc[JOB_UUID_KEY]: doc for doc in _find_by_uuid(launchpad, uuids)}
    if existing:
        missing = [job.name for job in jobs if job.uuid not in existing]
        if missing:
            raise InputError(
                f"{len(existing)} jobs of this flow are already on the LaunchPad but "
                f"{missing} are not: make the flow again (new uuids) to submit it"
            )
        return True, [
            Duplicate(job.uuid, job.name, [existing[job.uuid]["match"]], "uuid") for job in jobs
        ]
    matches = _identity_matches(launchpad, jobs, identities)
    n_identified = sum(identities[job.uuid].identifiable for job in jobs)
    return n_identified > 0 and len(matches) == n_identified, matches


def _find_by_uuid(launchpad: LaunchPad, uuids: list[str]) -> list[dict[str, Any]]:
    query = {f"spec.{JOB_UUID_KEY}": {"$in": uuids}}
    found = []
    for doc in launchpad.fireworks.find(query, {"fw_id": 1, "state": 1, f"spec.{JOB_UUID_KEY}": 1}):
        match = {"fw_id": doc["fw_id"], "state": doc["state"]}
        found.append({JOB_UUID_KEY: doc["spec"][JOB_UUID_KEY], "match": match})
    # a relaxation left out when its flow was submitted is there too: as its original
    replaced = {}
    reused_query = {f"spec.{REUSED_KEY}.replaced_job": {"$in": uuids}}
    for doc in launchpad.fireworks.find(reused_query, {f"spec.{REUSED_KEY}": 1}):
        for entry in doc["spec"][REUSED_KEY]:
            if entry["replaced_job"] in uuids:
                replaced[entry["replaced_job"]] = int(entry["fw_id"])
    states = {
        doc["fw_id"]: doc["state"]
        for doc in launchpad.fireworks.find(
            {"fw_id": {"$in": sorted(set(replaced.values()))}}, {"fw_id": 1, "state": 1}
        )
    }
    for uuid, fw_id in replaced.items():
        match = {"fw_id": fw_id, "state": states.get(fw_id, "deleted")}
        found.append({JOB_UUID_KEY: uuid, "match": match})
    return found


def _identity_matches(
    launchpad: LaunchPad, jobs: list[Job], identities: Mapping[str, JobIdentity]
) -> list[Duplicate]:
    out = []
    for job in jobs:
        found = find_duplicates(launchpad.fireworks, identities[job.uuid], DUPLICATE_STATES)
        if found:
            out.append(Duplicate(job.uuid, job.name, found, "identity"))
    return out
