"""Job-level reuse: a new workflow's starting relaxation served by an identical one already there.

A job is a *starting relaxation* when its Maker is a relaxation (a class named ``…RelaxMaker``
in its MRO) and none of its inputs is an output reference: it relaxes a concrete structure,
as the first job of every QE workflow does. When such a job has the identity
(:mod:`htflow.submit.identity`: structure, protocol, job type, Maker settings with the pseudo
family) of a Firework COMPLETED or queued on the LaunchPad, :func:`rewire` leaves it out of
the new workflow and points every reference to its output at the original job's uuid. The
agent seeds a launch directory from its JobStore by uuid (the latest output index, which is
also what jobflow resolves), so the rewired jobs read the original relaxation's output.

``submit_flow`` then appends the workflow under the original Firework with FireWorks'
``append_wf``: the new roots wait for it when it is queued, start at once when it is
COMPLETED, never run on a FIZZLED one, and are rerun with it when it is rerun (every root
of the appended workflow is linked, also one that does not read the original). The price:
the new Fireworks join the original's FireWorks workflow, so one FireWorks workflow can hold
several flows, and several campaigns (each Firework keeps its own ``spec.htflow_campaign``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fireworks import Workflow
from jobflow import Job
from monty.json import MontyDecoder

from htflow.launch.spec import REUSED_KEY
from htflow.submit.identity import find_duplicates

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from fireworks import LaunchPad

    from htflow.submit.identity import JobIdentity

# States in which a relaxation can serve a new workflow, best first: a finished output, then
# the run closest to finishing. (FIZZLED and DEFUSED are absent: their output is missing.)
REUSE_STATES = ("COMPLETED", "RUNNING", "RESERVED", "READY", "WAITING", "PAUSED")
RELAX_MAKER_SUFFIX = "RelaxMaker"


@dataclass(frozen=True)
class Reuse:
    """A relaxation of a submitted flow that an identical one on the LaunchPad serves.

    Attributes
    ----------
    job_uuid, job_name
        The relaxation left out of the submitted flow.
    original_uuid, original_fw_id
        The job (and its Firework) whose output serves instead.
    original_state
        The original Firework's state at submission.
    """

    job_uuid: str
    job_name: str
    original_uuid: str
    original_fw_id: int
    original_state: str

    def as_spec(self) -> dict[str, Any]:
        """One entry of ``spec["htflow_reused"]`` of a rewired Firework."""
        return {
            "job_uuid": self.original_uuid,
            "fw_id": self.original_fw_id,
            "replaced_job": self.job_uuid,
            "name": self.job_name,
            "state": self.original_state,
        }


def is_starting_relaxation(job: Job) -> bool:
    """Whether ``job`` relaxes a concrete structure (no input references) with a relax Maker."""
    maker = job.maker
    if maker is None or job.input_references:
        return False
    return any(cls.__name__.endswith(RELAX_MAKER_SUFFIX) for cls in type(maker).__mro__)


def find_reuses(
    launchpad: LaunchPad, jobs: Iterable[Job], identities: Mapping[str, JobIdentity]
) -> list[Reuse]:
    """The starting relaxations of ``jobs`` that Fireworks on ``launchpad`` can serve.

    The best match is taken (COMPLETED first, see :data:`REUSE_STATES`; then the lowest
    fw_id). ``append_wf`` appends to one FireWorks workflow, so once one original is chosen,
    the others must come from the same workflow; a relaxation matched only elsewhere runs.
    """
    reuses: list[Reuse] = []
    nodes: set[int] | None = None
    for job in jobs:
        identity = identities[job.uuid]
        if not (identity.identifiable and is_starting_relaxation(job)):
            continue
        found = [
            match
            for match in find_duplicates(launchpad.fireworks, identity, REUSE_STATES)
            if match.get("job_uuid") and (nodes is None or match["fw_id"] in nodes)
        ]
        if not found:
            continue
        best = min(found, key=lambda m: (REUSE_STATES.index(m["state"]), m["fw_id"]))
        if nodes is None:
            workflow = launchpad.workflows.find_one({"nodes": best["fw_id"]}, {"nodes": 1})
            nodes = set((workflow or {}).get("nodes") or [best["fw_id"]])
        reuses.append(
            Reuse(job.uuid, job.name, best["job_uuid"], int(best["fw_id"]), best["state"])
        )
    return reuses


def rewire(workflow: Workflow, reuses: Sequence[Reuse]) -> Workflow:
    """``workflow`` without the reused relaxations, its references pointed at the originals.

    Every Firework whose job referenced a left-out relaxation gets a copy of that job with the
    references rewritten (args and kwargs, at any depth) and ``spec["htflow_reused"]``.
    """
    replaced = {reuse.job_uuid: reuse for reuse in reuses}
    mapping = {reuse.job_uuid: reuse.original_uuid for reuse in reuses}
    dropped = {fw.fw_id for fw in workflow.fws if _job(fw).uuid in replaced}
    kept = [fw for fw in workflow.fws if fw.fw_id not in dropped]
    if not kept:
        raise ValueError("every job of the workflow would be reused: nothing left to submit")
    for fw in kept:
        fw.parents = [parent for parent in fw.parents if parent.fw_id not in dropped]
        used = sorted(set(_job(fw).input_uuids) & replaced.keys())
        if used:
            fw.tasks[0]["job"] = redirect_references(_job(fw), mapping)
            fw.spec[REUSED_KEY] = [replaced[uuid].as_spec() for uuid in used]
    links = {fw.fw_id: [c for c in workflow.links[fw.fw_id] if c not in dropped] for fw in kept}
    return Workflow(kept, links_dict=links, name=workflow.name, metadata=workflow.metadata)


def redirect_references(job: Job, mapping: Mapping[str, str]) -> Job:
    """A copy of ``job`` whose output references to uuid ``u`` point at ``mapping[u]``.

    Done on the serialized job, the form FireWorks stores and the worker decodes, so a
    reference is found at any depth of the arguments (inside lists, dicts or objects).
    """
    data = job.as_dict()
    for key in ("function_args", "function_kwargs"):
        data[key] = _redirected(data[key], mapping)
    copy: Job = MontyDecoder().process_decoded(data)
    return copy


def _redirected(value: Any, mapping: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        out = {k: _redirected(v, mapping) for k, v in value.items()}
        if out.get("@class") == "OutputReference" and out.get("uuid") in mapping:
            out["uuid"] = mapping[out["uuid"]]
        return out
    if isinstance(value, list | tuple):
        return type(value)(_redirected(v, mapping) for v in value)
    return value


def _job(fw: Any) -> Job:
    job: Job = fw.tasks[0]["job"]
    return job


def remove_fireworks(launchpad: LaunchPad, fw_ids: Iterable[int]) -> None:
    """Delete Fireworks that never ran and take them out of their workflows.

    The undo of a submission (``htflow.submit.campaign`` rolls back with it): a workflow made
    only of ``fw_ids`` is deleted; from one they were appended to, they are detached, and the
    Fireworks that were there before are left as they were.
    """
    ids = set(fw_ids)
    for doc in list(launchpad.workflows.find({"nodes": {"$in": sorted(ids)}})):
        nodes = set(doc["nodes"])
        if nodes <= ids:
            launchpad.delete_wf(min(nodes), delete_launch_dirs=False)
            continue
        remaining = sorted(nodes - ids)
        launchpad.fireworks.delete_many({"fw_id": {"$in": sorted(nodes & ids)}})
        links = {
            int(k): [c for c in children if c not in ids]
            for k, children in doc["links"].items()
            if int(k) not in ids
        }
        states = {int(k): v for k, v in doc["fw_states"].items() if int(k) not in ids}
        workflow = Workflow(
            [launchpad.get_fw_by_id(fw_id) for fw_id in remaining],
            links_dict=links,
            name=doc.get("name"),
            metadata=doc.get("metadata"),
            created_on=doc.get("created_on"),
            fw_states=states,
        )
        launchpad.workflows.find_one_and_replace({"_id": doc["_id"]}, workflow.to_db_dict())
