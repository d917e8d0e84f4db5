"""``rerun``: FIZZLED Fireworks (or named ones) back to READY, their history kept.

FireWorks' ``rerun_fw`` moves a Firework's launches to its ``archived_launches`` and makes
it READY again (WAITING while a parent is unfinished); its children are rerun with it. The
agent then claims it like any READY Firework: a new launch in a new launch directory. The
agent's record of the old launch is marked ``rerun``; the new launch carries over its
requeue counters and raised walltime unless ``reset_retries`` (:mod:`htflow.db.records`).

Which Fireworks: the FIZZLED ones of the campaign, narrowed by ``cause`` (exactly as
``htflow status`` groups FIZZLED causes: :func:`htflow.reports.status.failure_cause`) or
``match`` (a regular expression searched in the last launch's failure message and
traceback); or the ``fw_ids`` named, when FIZZLED, COMPLETED or DEFUSED.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from htflow.actions.campaigns import campaign_query, unknown_campaign
from htflow.actions.outcome import outcome_of
from htflow.actions.store import campaigns, now_iso
from htflow.db import records
from htflow.exceptions import InputError
from htflow.launch.spec import CAMPAIGN_KEY
from htflow.reports.status import failure_cause

if TYPE_CHECKING:
    from fireworks import LaunchPad

    from htflow.actions.outcome import ActionOutcome
    from htflow.actions.requests import RerunRequest

RERUNNABLE = ("FIZZLED", "COMPLETED", "DEFUSED")


def rerun(lp: LaunchPad, request: RerunRequest, _profile: Any = None) -> ActionOutcome:
    """Rerun the Fireworks ``request`` names (see the module docstring)."""
    if request.campaign is not None and (reason := unknown_campaign(lp, request.campaign)):
        raise InputError(reason)
    chosen = _named(lp, request) if request.fw_ids else _fizzled(lp, request)
    if not chosen:
        where = f"campaign {request.campaign}" if request.campaign else "the database"
        return outcome_of(request, "applied", f"no FIZZLED Firework of {where} matches")
    rerun_ids: set[int] = set()
    mark = {"by": request.who, "at": now_iso(), "reset_retries": request.reset_retries}
    for fw_id in chosen:
        records.launches(lp).update_many({"fw_id": fw_id}, {"$set": {"rerun": mark}})
        rerun_ids.update(lp.rerun_fw(fw_id, rerun_duplicates=False))
    held = _held(lp, chosen)
    message = f"{len(chosen)} Fireworks rerun"
    if len(rerun_ids) > len(chosen):
        message += f" ({len(rerun_ids) - len(chosen)} of their children with them)"
    if request.reset_retries:
        message += ", requeue counters reset"
    if held:
        message += f"; they wait: campaign {', '.join(held)} is paused or cancelled"
    return outcome_of(request, "applied", message, rerun_ids or chosen)


def _named(lp: LaunchPad, request: RerunRequest) -> list[int]:
    query: dict[str, Any] = {"fw_id": {"$in": request.fw_ids}}
    if request.campaign is not None:
        query.update(campaign_query(request.campaign))
    docs = {d["fw_id"]: d["state"] for d in lp.fireworks.find(query, {"fw_id": 1, "state": 1})}
    missing = sorted(set(request.fw_ids) - set(docs))
    if missing:
        where = f" in campaign {request.campaign}" if request.campaign else ""
        raise InputError(f"no Firework {', '.join(map(str, missing))}{where}")
    busy = {i: s for i, s in docs.items() if s not in RERUNNABLE and s not in ("WAITING", "READY")}
    if busy:
        listed = ", ".join(f"{i} is {s}" for i, s in sorted(busy.items()))
        raise InputError(f"cannot rerun: {listed} (cancel its campaign or wait for it to end)")
    return sorted(i for i, s in docs.items() if s in RERUNNABLE)


def _fizzled(lp: LaunchPad, request: RerunRequest) -> list[int]:
    query = campaign_query(request.campaign, ("FIZZLED",))
    pattern = re.compile(request.match) if request.match else None
    chosen, causes = [], set()
    for doc in lp.fireworks.find(query, {"fw_id": 1, "launches": 1}):
        launch = _last_launch(lp, doc)
        cause = failure_cause(launch)
        causes.add(cause)
        if request.cause is not None and cause != request.cause:
            continue
        if pattern is not None and not pattern.search(failure_text(launch)):
            continue
        chosen.append(int(doc["fw_id"]))
    if request.cause is not None and not chosen:
        known = "; ".join(sorted(causes)[:5]) or "none"
        raise InputError(f"no FIZZLED Firework has cause {request.cause!r} (causes: {known})")
    return sorted(chosen)


def _last_launch(lp: LaunchPad, fw: dict[str, Any]) -> dict[str, Any] | None:
    launch_ids = fw.get("launches") or []
    if not launch_ids:
        return None
    return lp.launches.find_one({"launch_id": launch_ids[-1]}, {"action": 1})


def failure_text(launch: dict[str, Any] | None) -> str:
    """The failure message and traceback FireWorks stored for a launch ('' if none)."""
    stored = ((launch or {}).get("action") or {}).get("stored_data") or {}
    exc = stored.get("_exception") or {}
    parts = [stored.get("_message"), exc.get("_stacktrace"), exc.get("_details")]
    return "\n".join(str(p) for p in parts if p)


def _held(lp: LaunchPad, fw_ids: list[int]) -> list[str]:
    """Campaigns of ``fw_ids`` that are paused or cancelled (their reruns wait)."""
    names = {
        (d.get("spec") or {}).get(CAMPAIGN_KEY)
        for d in lp.fireworks.find({"fw_id": {"$in": fw_ids}}, {f"spec.{CAMPAIGN_KEY}": 1})
    }
    query: dict[str, Any] = {
        "campaign": {"$in": sorted(n for n in names if n)},
        "$or": [{"paused": True}, {"cancelled": True}],
    }
    return sorted(d["campaign"] for d in campaigns(lp).find(query, {"campaign": 1}))
