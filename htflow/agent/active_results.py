"""What a round's DFT gave: whether its candidates are finished, their values, the cost.

- :func:`candidate_fireworks` and :func:`candidate_outcome`: a candidate is finished when
  every Firework of its flows is COMPLETED, or when one is FIZZLED or DEFUSED and nothing
  of it can still run (what waits behind a failed Firework never will). Fireworks that
  serve it from elsewhere (a reused relaxation, ``spec.htflow_reused``) count as its own.
- :func:`read_observation`: the objective and constraint fields of the candidate's
  material, read through :func:`htflow.db.query` like any ML consumer. The material is the
  one whose ``provenance.task_ids`` hold the candidate's job uuids, else the one
  ``StructureMatcher`` matches to the candidate's structure (same code, protocol, family).
- :func:`campaign_core_hours`: pw.x CPU time × MPI ranks summed over the task documents of
  the campaign's jobs (reused relaxations count in their own campaign).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from htflow.launch.spec import CAMPAIGN_KEY, JOB_UUID_KEY, REUSED_KEY

if TYPE_CHECKING:
    from fireworks import LaunchPad
    from jobflow import JobStore
    from pymatgen.core import Structure

    from htflow.campaign.spec import CampaignSpec

FAILED_STATES = ("FIZZLED", "DEFUSED")
# States in which a Firework may still run (WAITING ones wait on a parent: see outcome).
LIVE_STATES = ("READY", "RESERVED", "RUNNING")
_FW_FIELDS = {"fw_id": 1, "name": 1, "state": 1, "launches": 1, "spec": 1}


@dataclass
class CandidateRun:
    """The Fireworks of one candidate and what they came to."""

    fireworks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def job_uuids(self) -> set[str]:
        """jobflow uuids of its jobs, those of reused relaxations included."""
        return {fw["spec"][JOB_UUID_KEY] for fw in self.fireworks if fw["spec"].get(JOB_UUID_KEY)}

    @property
    def states(self) -> list[str]:
        """Firework states."""
        return [str(fw.get("state")) for fw in self.fireworks]


def candidate_fireworks(lp: LaunchPad, fw_ids: list[int]) -> CandidateRun:
    """The Fireworks ``fw_ids`` and, transitively, those that serve them as reused jobs."""
    seen: dict[int, dict[str, Any]] = {}
    todo = set(fw_ids)
    while todo:
        docs = list(lp.fireworks.find({"fw_id": {"$in": sorted(todo)}}, _FW_FIELDS))
        for doc in docs:
            seen[doc["fw_id"]] = doc
        todo = {
            int(entry["fw_id"])
            for doc in docs
            for entry in doc.get("spec", {}).get(REUSED_KEY) or []
            if entry.get("fw_id") is not None
        } - set(seen)
    return CandidateRun([seen[i] for i in sorted(seen)])


def candidate_outcome(run: CandidateRun) -> str:
    """``completed``, ``failed`` or ``running`` (see the module docstring)."""
    states = run.states
    if not states:
        return "running"
    if all(s == "COMPLETED" for s in states):
        return "completed"
    if any(s in FAILED_STATES for s in states) and not any(s in LIVE_STATES for s in states):
        return "failed"
    return "running"


def failure_reason(lp: LaunchPad, run: CandidateRun) -> str:
    """One line: which Firework failed, and why (the cause ``htflow status`` groups by)."""
    from htflow.reports.status import failure_cause

    failed = [fw for fw in run.fireworks if fw.get("state") in FAILED_STATES]
    if not failed:
        return "no Firework failed"
    fw = failed[0]
    if fw["state"] == "DEFUSED":
        cause = "defused"
    else:
        launch_ids = fw.get("launches") or []
        launch = (
            lp.launches.find_one({"launch_id": launch_ids[-1]}, {"action": 1})
            if launch_ids
            else None
        )
        cause = failure_cause(launch)
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return f"{fw.get('name')} (fw {fw['fw_id']}) {fw['state']}: {cause}{more}"


@dataclass
class MaterialValues:
    """The fields read for one candidate, and from which material."""

    material_id: str | None
    fields: dict[str, float | None]
    how: str


def read_material_values(
    spec: CampaignSpec,
    formula: str,
    structure: Structure,
    job_uuids: set[str],
    uri: str | None,
) -> MaterialValues:
    """The strategy's fields of the candidate's material (see the module docstring)."""
    from htflow.db import query

    assert spec.active is not None
    wanted = spec.active.fields()
    columns = ["material_id", "protocol", "pseudo_family", "code", "provenance", "structure"]
    frame = query({"formula_reduced": formula}, [*columns, *wanted], uri=uri)
    rows = frame.to_dict("records")
    by_task = [r for r in rows if _task_uuids(r) & job_uuids]
    how = "its job uuids in the material's provenance"
    if not by_task:
        by_task = _matching(rows, spec, structure)
        how = "StructureMatcher on the candidate's structure"
    if not by_task:
        return MaterialValues(None, dict.fromkeys(wanted), "no material matches it")
    row = max(by_task, key=lambda r: len(_task_uuids(r) & job_uuids))
    return MaterialValues(row["material_id"], {f: _number(row.get(f)) for f in wanted}, how)


def _task_uuids(row: dict[str, Any]) -> set[str]:
    provenance = row.get("provenance") or {}
    return {str(t).partition(":")[0] for t in provenance.get("task_ids") or []}


def _matching(
    rows: list[dict[str, Any]], spec: CampaignSpec, structure: Structure
) -> list[dict[str, Any]]:
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure

    matcher = StructureMatcher()
    out = []
    for row in rows:
        if row.get("protocol") != spec.protocol or row.get("code") != spec.code:
            continue
        if spec.pseudo_family is not None and row.get("pseudo_family") != spec.pseudo_family:
            continue
        found = row.get("structure")
        if found is None:
            continue
        found = Structure.from_dict(found) if isinstance(found, dict) else found
        if matcher.fit(structure, found):
            out.append(row)
    return out


def _number(value: Any) -> float | None:
    """A field value as a float (flags as 0/1); None when absent or not finite."""
    if value is None or isinstance(value, (dict, list, str)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def campaign_core_hours(lp: LaunchPad, jobstore: JobStore, campaign: str) -> float:
    """Core-hours (core·h) of the pw.x runs of ``campaign``'s jobs (see the module docstring)."""
    from htflow.builders.assemble import PW_TASK

    uuids = [
        fw["spec"][JOB_UUID_KEY]
        for fw in lp.fireworks.find({f"spec.{CAMPAIGN_KEY}": campaign}, {f"spec.{JOB_UUID_KEY}": 1})
        if fw.get("spec", {}).get(JOB_UUID_KEY)
    ]
    if not uuids:
        return 0.0
    # only pw.x task documents: projecting into a list output breaks the embedded store
    criteria = {"uuid": {"$in": uuids}, "output.@class": PW_TASK}
    properties = ["output.output.cpu_time", "output.output.wall_time", "output.nprocs"]
    seconds = 0.0
    for doc in jobstore.docs_store.query(criteria, properties=properties):
        out = doc.get("output") or {}
        times = out.get("output") or {}
        run = times.get("cpu_time") or times.get("wall_time") or 0.0
        seconds += float(run) * int(out.get("nprocs") or 1)
    return seconds / 3600.0


__all__ = [
    "FAILED_STATES",
    "LIVE_STATES",
    "CandidateRun",
    "MaterialValues",
    "campaign_core_hours",
    "candidate_fireworks",
    "candidate_outcome",
    "failure_reason",
    "read_material_values",
]
