"""Requeue policy: what happens to a launch whose allocation ended before it finished.

The launch keeps its launch id and its directory, so whatever the earlier attempt left there
(pw.x's restart files, the input the walltime handler prepared, ``pw.<n>.out`` of earlier
attempts) is what the next attempt starts from (:mod:`htflow.qe.restart`).

- **Continuation** — the worker recorded that it did not start the launch for lack of time
  (``no_time``) or that pw.x stopped on the allocation's walltime with its input prepared
  (``walltime``). Not a failure; bounded by ``max_continuations``.
- **Failure** — anything else: the allocation ended TIMEOUT, NODE_FAIL, CANCELLED (by the
  system or ``scancel``), PREEMPTED, OUT_OF_MEMORY, FAILED, or vanished (``LOST``) while the
  launch ran or waited. Counted per launch; after ``max_retries`` requeues the Firework is
  FIZZLED with a one-line reason. A TIMEOUT doubles the launch's walltime for the next
  allocation (up to ``max_walltime``).
- **Cancelled** — the launch's campaign was cancelled (``htflow cancel``, which marks its
  open launches ``cancelled``): FIZZLED with that reason, never requeued.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from htflow.launch.worker import (
    CONTINUE_OUTCOMES,
    attempts,
    fizzle_launch_dir,
    reset_offline,
)

if TYPE_CHECKING:
    from fireworks import LaunchPad

    from htflow.cluster.profile import JobResources


@dataclass(frozen=True)
class RequeuePolicy:
    """Bounds of the requeue policy.

    Attributes
    ----------
    max_retries
        Failed allocations a launch may go through before its Firework is FIZZLED (count).
    max_continuations
        Allocations a launch may continue through after walltime stops (count).
    max_walltime
        Upper bound (s) of a walltime raised after TIMEOUTs; None: four times the original.
    """

    max_retries: int = 3
    max_continuations: int = 20
    max_walltime: int | None = None


@dataclass(frozen=True)
class Decision:
    """What to do with an unfinished launch: ``continue``, ``retry`` or ``fizzle``, and why."""

    action: str
    reason: str
    walltime: int | None = None


def decide(
    launch: dict[str, Any],
    job_id: str | None,
    slurm_state: str,
    resources: JobResources,
    policy: RequeuePolicy,
) -> Decision:
    """Classify an unfinished launch of an ended allocation (see the module docstring)."""
    if launch.get("cancelled"):  # its campaign was cancelled: never requeued
        return Decision("fizzle", str(launch["cancelled"]))
    mine = [a for a in attempts(launch["launch_dir"]) if job_id and a.get("job_id") == job_id]
    outcome = mine[-1].get("outcome") if mine else None
    if outcome in CONTINUE_OUTCOMES:
        if launch.get("continuations", 0) >= policy.max_continuations:
            return Decision(
                "fizzle",
                f"still unfinished after {policy.max_continuations} allocations "
                f"(last stop: {outcome}): give it a longer walltime and rerun it",
            )
        return Decision("continue", f"allocation {job_id} {slurm_state}: {outcome}, continue")
    reason = f"allocation {job_id or '?'} ended {slurm_state} before the run finished"
    if launch.get("failures", 0) >= policy.max_retries:
        return Decision(
            "fizzle",
            f"{reason}, after {policy.max_retries} requeues: giving up (see its launch dir)",
        )
    walltime = None
    if slurm_state == "TIMEOUT":
        limit = policy.max_walltime or 4 * resources.walltime
        walltime = min(limit, 2 * resources.walltime)
    return Decision("retry", reason, walltime)


def apply(lp: LaunchPad, launch: dict[str, Any], decision: Decision) -> None:
    """Carry out ``decision`` on the launch directory and the launch record."""
    from htflow.agent.records import launches

    line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {decision.action}: {decision.reason}"
    update: dict[str, Any] = {"$push": {"history": line}}
    if decision.action == "fizzle":
        fizzle_launch_dir(Path(launch["launch_dir"]), decision.reason)
        update["$set"] = {"alloc_id": None, "fizzle_reason": decision.reason}
    else:
        reset_offline(launch["launch_dir"])
        counter = "continuations" if decision.action == "continue" else "failures"
        sets: dict[str, Any] = {"alloc_id": None}
        if decision.walltime:
            sets["walltime"] = decision.walltime
        update["$set"] = sets
        update["$inc"] = {counter: 1}
    launches(lp).update_one({"launch_id": launch["launch_id"]}, update)
