"""``htflow status``: a campaign's Fireworks by state, failures by cause, core-hours.

Read-only: never takes the writer lock. Failure causes come from two places:

- Custodian corrections recorded in task documents (``output.custodian[*].errors``: the
  :class:`htflow.qe.errors.PwError` classes such as ``scf_not_converged``), counted per
  correction, whether or not the run then succeeded;
- FIZZLED Fireworks: the agent's reason when requeues ran out (``stored_data._message``,
  e.g. a SLURM TIMEOUT), else the last line of the exception FireWorks stored for the last
  launch, e.g. ``CalculationFailedError: pw.x ...``.

Core-hours come from the agent's allocation records: ``sacct`` elapsed time (or, for jobs
``sacct`` no longer knows, the recorded submit → end interval) × the allocation's cores.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fireworks import LaunchPad

    from htflow.cluster.profile import ClusterProfile


@dataclass
class CampaignStatus:
    """What ``htflow status`` reports.

    Attributes
    ----------
    campaign
        The campaign name (None: every Firework in the database).
    states
        Firework state → count.
    corrections
        Custodian error class → number of corrections.
    fizzled
        Failure cause → number of FIZZLED Fireworks.
    core_hours_used
        Cores × elapsed hours of the allocations that ran the campaign's launches.
    core_hours_left
        Budget minus used, when the profile declares a budget (``core_hour_budget``); else None.
    allocations
        Number of SLURM allocations counted.
    reused
        Relaxations the campaign did not run because another Firework served them
        (``spec.htflow_reused``, :mod:`htflow.submit.reuse`): one entry per left-out job, with
        the original's ``fw_id``, job uuid, current ``state`` and ``campaign``. Their
        core-hours count in the original's campaign.
    """

    campaign: str | None
    states: dict[str, int] = field(default_factory=dict)
    corrections: dict[str, int] = field(default_factory=dict)
    fizzled: dict[str, int] = field(default_factory=dict)
    core_hours_used: float = 0.0
    core_hours_left: float | None = None
    allocations: int = 0
    reused: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dict(self.__dict__)


def campaign_status(
    campaign: str | None = None,
    db_uri: str | None = None,
    profile: ClusterProfile | None = None,
    use_sacct: bool = True,
) -> CampaignStatus:
    """Counts by state, failures by cause and core-hours for ``campaign`` (None: all)."""
    from htflow.db import get_launchpad
    from htflow.launch.spec import CAMPAIGN_KEY, REUSED_KEY

    lp = get_launchpad(db_uri)
    criteria = {f"spec.{CAMPAIGN_KEY}": campaign} if campaign else {}
    projection = {"fw_id": 1, "state": 1, "launches": 1, "spec._tasks": 1, f"spec.{REUSED_KEY}": 1}
    fws = list(lp.fireworks.find(criteria, projection))
    status = CampaignStatus(campaign=campaign)
    status.states = dict(Counter(doc["state"] for doc in fws))
    fw_ids = {doc["fw_id"] for doc in fws}
    status.fizzled = _fizzled_causes(lp, [d for d in fws if d["state"] == "FIZZLED"])
    status.reused = _reused(lp, fws)
    status.corrections = _corrections(db_uri, _job_uuids(fws))
    used, count = _core_hours(lp, fw_ids, profile, use_sacct)
    status.core_hours_used, status.allocations = used, count
    if profile is not None and profile.core_hour_budget is not None:
        status.core_hours_left = profile.core_hour_budget - used
    return status


def _reused(lp: LaunchPad, fws: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The relaxations ``fws`` use from other Fireworks, one per left-out job."""
    from htflow.launch.spec import CAMPAIGN_KEY, REUSED_KEY

    by_job: dict[str, dict[str, Any]] = {}
    for doc in fws:
        for entry in doc.get("spec", {}).get(REUSED_KEY) or []:
            by_job.setdefault(str(entry.get("replaced_job")), dict(entry))
    originals = {
        d["fw_id"]: d
        for d in lp.fireworks.find(
            {"fw_id": {"$in": sorted({int(e["fw_id"]) for e in by_job.values()})}},
            {"fw_id": 1, "state": 1, f"spec.{CAMPAIGN_KEY}": 1},
        )
    }
    out = []
    for entry in by_job.values():
        original = originals.get(entry["fw_id"], {})
        entry["state"] = original.get("state", "deleted")
        entry["campaign"] = original.get("spec", {}).get(CAMPAIGN_KEY)
        out.append(entry)
    return sorted(out, key=lambda e: (e["fw_id"], str(e["replaced_job"])))


def _job_uuids(fws: list[dict[str, Any]]) -> set[str]:
    uuids = set()
    for doc in fws:
        for task in doc.get("spec", {}).get("_tasks", []):
            uuid = (task.get("job") or {}).get("uuid")
            if uuid:
                uuids.add(uuid)
    return uuids


def _fizzled_causes(lp: LaunchPad, fizzled: list[dict[str, Any]]) -> dict[str, int]:
    causes: Counter[str] = Counter()
    for doc in fizzled:
        launch_ids = doc.get("launches") or []
        launch = (
            lp.launches.find_one({"launch_id": launch_ids[-1]}, {"action": 1})
            if launch_ids
            else None
        )
        causes[failure_cause(launch)] += 1
    return dict(causes)


def failure_cause(launch: dict[str, Any] | None) -> str:
    """Why a launch failed, as a key to group by.

    From the last line of the stored exception: ``Class: error_class`` when the message names
    a pw.x error class (``pw.x run failed (final_scf_mismatch)``), else ``Class: message``
    with paths masked. Without an exception, the agent's one-line reason
    (``stored_data._message``, set when requeues ran out).
    """
    stored = ((launch or {}).get("action") or {}).get("stored_data") or {}
    exc = stored.get("_exception") or {}
    trace = str(exc.get("_stacktrace") or "").strip()
    if not trace:  # FireWorks' own "_message" is generic when there is an exception
        message = str(stored.get("_message") or "").strip()
        return message.splitlines()[0][:120] if message else "unknown (no exception recorded)"
    last = trace.splitlines()[-1].strip()
    name, _, message = last.partition(": ")
    name = name.rsplit(".", 1)[-1]
    # "pw.x run failed (final_scf_mismatch): ..." names the error class: group by it
    match = re.search(r"failed \(([a-z_]+)\)", message)
    if match:
        return f"{name}: {match.group(1)}"
    message = re.sub(r"/\S+", "<path>", message)  # one cause, whatever the directory or job
    message = re.sub(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", message
    )
    return f"{name}: {message}" if len(message) <= 100 else f"{name}: {message[:97]}..."


def _corrections(db_uri: str | None, uuids: set[str]) -> dict[str, int]:
    from htflow.builders.assemble import PW_TASK
    from htflow.db import get_jobstore

    if not uuids:
        return {}
    store = get_jobstore(db_uri)
    store.connect()
    counts: Counter[str] = Counter()
    try:
        # Only pw.x task documents: projecting "output.custodian" from a job whose output is
        # a list (the EOS volume points) breaks the embedded store's projection.
        criteria = {"uuid": {"$in": sorted(uuids)}, "output.@class": PW_TASK}
        docs = store.docs_store.query(criteria, properties=["output.custodian"])
        for doc in docs:
            for correction in (doc.get("output") or {}).get("custodian") or []:
                for error in correction.get("errors") or ["unnamed"]:
                    counts[str(error)] += 1
    finally:
        store.close()
    return dict(counts)


def _core_hours(
    lp: LaunchPad, fw_ids: set[int], profile: ClusterProfile | None, use_sacct: bool
) -> tuple[float, int]:
    from htflow.db import records

    launch_ids = {
        d["launch_id"]
        for d in records.launches(lp).find({"fw_id": {"$in": sorted(fw_ids)}}, {"launch_id": 1})
    }
    if not launch_ids:
        return 0.0, 0
    allocs = [
        a
        for a in records.allocations(lp).find({}, {"_id": 0})
        if launch_ids.intersection(a.get("launch_ids") or [])
    ]
    elapsed = sacct_elapsed([a["job_id"] for a in allocs if a.get("job_id")], profile, use_sacct)
    return allocation_core_hours(allocs, elapsed), len(allocs)


def allocation_core_hours(allocs: list[dict[str, Any]], elapsed: dict[str, float]) -> float:
    """Cores × elapsed hours of these allocation records.

    ``elapsed`` maps a SLURM job id to ``sacct``'s elapsed seconds; a job it does not name is
    charged its recorded submit → end interval (0 while it has not ended).
    """
    total = 0.0
    for alloc in allocs:
        res = alloc.get("resources") or {}
        cores = (
            int(res.get("nodes") or 1)
            * int(res.get("tasks_per_node") or 1)
            * int(res.get("cpus_per_task") or 1)
        )
        seconds = elapsed.get(str(alloc.get("job_id")))
        if seconds is None:
            start, end = alloc.get("submitted"), alloc.get("ended")
            seconds = float(end - start) if start and end else 0.0
        # An allocation shared by several campaigns is charged in full to each: an upper bound.
        total += cores * seconds / 3600.0
    return total


def sacct_elapsed(
    job_ids: list[str], profile: ClusterProfile | None, use_sacct: bool = True
) -> dict[str, float]:
    """``sacct``'s elapsed seconds by job id; empty when SLURM accounting does not answer."""
    if not job_ids or not use_sacct:
        return {}
    from htflow.cluster import slurm

    try:
        return {j: r.elapsed for j, r in slurm.sacct(job_ids, profile=profile).items()}
    except slurm.SlurmUnavailableError:
        return {}
