"""What the campaign pages show: counts by state and workflow, failures by cause, core-hours.

Every read is a :func:`htflow.db.scan.scan` (one pass over a collection, few fields), so a
page costs a fixed number of passes whatever the campaign's size, and never waits for the
embedded store to rebuild its indexes after the agent's latest commit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from htflow.dashboard.paging import Page, paginate
from htflow.db.scan import scan
from htflow.launch.spec import CAMPAIGN_KEY

if TYPE_CHECKING:
    from collections.abc import Iterable

# FireWorks' states, from waiting to done (Firework.STATE_RANKS order).
STATES = (
    "ARCHIVED",
    "FIZZLED",
    "DEFUSED",
    "PAUSED",
    "WAITING",
    "READY",
    "RESERVED",
    "RUNNING",
    "COMPLETED",
)
FW_FIELDS = ("fw_id", "name", "state", "launches", "archived_launches", "updated_on")


def control_states(uri: str | None) -> dict[str, dict[str, Any]]:
    """Campaign → paused, cancelled, priority (from the admin actions' records)."""
    from htflow.actions import campaign_states

    return campaign_states(uri)


def counts_by_campaign(uri: str | None) -> dict[str, Counter[str]]:
    """Campaign → Firework state → count (Fireworks of no campaign are left out)."""
    counts: dict[str, Counter[str]] = {}
    for row in scan(uri, "fireworks", [f"spec.{CAMPAIGN_KEY}", "state"]):
        name = row.get(f"spec.{CAMPAIGN_KEY}")
        if isinstance(name, str):
            counts.setdefault(name, Counter())[str(row.get("state"))] += 1
    return counts


def progress(states: dict[str, int], control: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON the pages poll: counts by state, total, completed, paused/cancelled/priority."""
    total = sum(states.values())
    completed = states.get("COMPLETED", 0)
    control = control or {}
    return {
        "states": {state: states.get(state, 0) for state in STATES},
        "total": total,
        "completed": completed,
        "percent": round(100.0 * completed / total, 1) if total else 0.0,
        "paused": bool(control.get("paused")),
        "cancelled": bool(control.get("cancelled")),
        "priority": control.get("priority"),
    }


def campaign_list(uri: str | None) -> list[dict[str, Any]]:
    """One row per campaign, by name: its progress and admin state."""
    control = control_states(uri)
    counts = counts_by_campaign(uri)
    return [
        {"name": name, **progress(dict(counts[name]), control.get(name))} for name in sorted(counts)
    ]


@dataclass
class FailureGroup:
    """FIZZLED Fireworks that failed for one cause, and the latest one's evidence."""

    cause: str
    fw_ids: list[int]
    example: dict[str, Any] = field(default_factory=dict)


@dataclass
class CampaignView:
    """Everything on a campaign's page."""

    name: str
    counts: dict[str, Any]
    workflows: Page[dict[str, Any]]
    workflow_states: dict[str, int]
    throughput: dict[str, Any]
    failures: list[FailureGroup]
    core_hours: dict[str, Any]


def campaign_fireworks(
    uri: str | None, name: str, fields: Iterable[str] = FW_FIELDS
) -> list[dict[str, Any]]:
    """The campaign's Fireworks (``fields`` of each), by fw_id."""
    rows = scan(uri, "fireworks", fields, {f"spec.{CAMPAIGN_KEY}": name})
    return sorted(rows, key=lambda r: r.get("fw_id", 0))


def campaign_view(uri: str | None, name: str, workflow_page: int = 1) -> CampaignView | None:
    """The campaign page's content; None when no Firework belongs to ``name``."""
    from htflow.dashboard.corehours import campaign_core_hours
    from htflow.dashboard.throughput import throughput

    fws = campaign_fireworks(uri, name)
    if not fws:
        return None
    states = Counter(str(fw.get("state")) for fw in fws)
    fw_ids = {fw["fw_id"] for fw in fws}
    launches = scan(
        uri,
        "launches",
        ["launch_id", "fw_id", "state", "time_end", "launch_dir", "action"],
        {"fw_id": {"$in": fw_ids}},
    )
    done = [lnch.get("time_end") for lnch in launches if lnch.get("state") == "COMPLETED"]
    workflows, workflow_states = _workflows(uri, fw_ids)
    return CampaignView(
        name=name,
        counts=progress(dict(states), control_states(uri).get(name)),
        workflows=paginate(workflows, workflow_page),
        workflow_states=dict(workflow_states),
        throughput=throughput(done),
        failures=failure_groups(fws, launches),
        core_hours=campaign_core_hours(uri, fw_ids),
    )


def _workflows(uri: str | None, fw_ids: set[int]) -> tuple[list[dict[str, Any]], Counter[str]]:
    rows = []
    states: Counter[str] = Counter()
    for wf in scan(uri, "workflows", ["nodes", "name", "state", "fw_states"]):
        # A workflow can hold several campaigns' Fireworks (a flow that reuses another's
        # relaxation is appended to its workflow): count the campaign's own.
        nodes = [n for n in wf.get("nodes") or [] if n in fw_ids]
        if not nodes:
            continue
        fw_states = {int(k): v for k, v in (wf.get("fw_states") or {}).items()}
        by_state = Counter(str(fw_states.get(n)) for n in nodes)
        rows.append(
            {
                "first_fw": min(nodes),
                "name": wf.get("name"),
                "state": wf.get("state"),
                "n": len(nodes),
                "states": dict(by_state),
            }
        )
        states[str(wf.get("state"))] += 1
    rows.sort(key=lambda r: r["first_fw"])
    return rows, states


def failure_groups(fws: list[dict[str, Any]], launches: list[dict[str, Any]]) -> list[FailureGroup]:
    """FIZZLED Fireworks grouped by :func:`htflow.reports.status.failure_cause` of their last
    launch, largest group first, each with its latest failure's files (pw.out, Custodian)."""
    from htflow.dashboard.rundir import run_evidence
    from htflow.reports.status import failure_cause

    by_id = {lnch.get("launch_id"): lnch for lnch in launches}
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for fw in fws:
        if fw.get("state") != "FIZZLED":
            continue
        ids = list(fw.get("launches") or [])
        launch = by_id.get(ids[-1]) if ids else None
        groups.setdefault(failure_cause(launch), []).append((fw["fw_id"], launch or {}))
    out = []
    for cause, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        fw_id, launch = max(members, key=lambda m: (m[1].get("launch_id") or 0, m[0]))
        example = {"fw_id": fw_id, **run_evidence(launch)}
        out.append(FailureGroup(cause, sorted(m[0] for m in members), example))
    return out


def fireworks_page(
    uri: str | None, name: str, state: str | None, number: int
) -> Page[dict[str, Any]]:
    """Page ``number`` of the campaign's Fireworks (only ``state`` ones when given), by fw_id."""
    rows = [
        {
            "fw_id": fw.get("fw_id"),
            "name": fw.get("name"),
            "state": fw.get("state"),
            "launches": len(fw.get("launches") or []),
            "archived": len(fw.get("archived_launches") or []),
            "updated_on": fw.get("updated_on"),
        }
        for fw in campaign_fireworks(uri, name)
        if state is None or fw.get("state") == state
    ]
    return paginate(rows, number)
