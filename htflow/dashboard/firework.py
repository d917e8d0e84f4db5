"""One Firework: its inputs, its launches (archived ones too, so reruns keep history), files."""

from __future__ import annotations

import json
from typing import Any

from htflow.db.scan import plain, scan
from htflow.launch.spec import CAMPAIGN_KEY, PRIORITY_KEY

# Spec keys shown although internal: FireWorks' priority and category.
SHOWN_INTERNALS = (PRIORITY_KEY, "_category")
JSON_LIMIT = 20_000
FW_FIELDS = [
    "fw_id",
    "name",
    "state",
    "spec",
    "launches",
    "archived_launches",
    "created_on",
    "updated_on",
]
LAUNCH_FIELDS = [
    "launch_id",
    "state",
    "launch_dir",
    "host",
    "time_start",
    "time_end",
    "runtime_secs",
    "action",
]


def pretty(value: Any, limit: int = JSON_LIMIT) -> str:
    """Indented JSON, cut at ``limit`` characters."""
    text = json.dumps(value, indent=2, default=str, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit} more chars)"


def inputs(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec without FireWorks' internals, and the job's own inputs."""
    shown = {k: v for k, v in spec.items() if not k.startswith("_") or k in SHOWN_INTERNALS}
    tasks = spec.get("_tasks") or []
    job = (tasks[0].get("job") or {}) if tasks and isinstance(tasks[0], dict) else {}
    function = job.get("function") or {}
    return {
        "spec": shown,
        "job": {
            "name": job.get("name"),
            "uuid": job.get("uuid"),
            "index": job.get("index"),
            "function": ".".join(
                str(p) for p in (function.get("@module"), function.get("@callable")) if p
            ),
            "args": job.get("function_args") or [],
            "kwargs": job.get("function_kwargs") or {},
        }
        if job
        else None,
    }


def firework_view(uri: str | None, fw_id: int) -> dict[str, Any] | None:
    """The Firework page's content; None when no Firework has ``fw_id``."""
    from htflow.dashboard.rundir import exception_lines, run_files
    from htflow.db.records import ALLOCATIONS, LAUNCHES

    found = scan(uri, "fireworks", FW_FIELDS, {"fw_id": fw_id})
    if not found:
        return None
    fw = {k: plain(v) for k, v in found[0].items()}
    current = list(fw.get("launches") or [])
    archived = list(fw.get("archived_launches") or [])
    wanted = set(current) | set(archived)
    launches = [
        {k: plain(v) for k, v in row.items()}
        for row in scan(uri, "launches", LAUNCH_FIELDS, {"launch_id": {"$in": wanted}})
    ]
    records = {
        r.get("launch_id"): plain(r)
        for r in scan(
            uri,
            LAUNCHES,
            ["launch_id", "alloc_id", "failures", "continuations", "history", "job_type"],
            {"launch_id": {"$in": wanted}},
        )
    }
    alloc_ids = {r.get("alloc_id") for r in records.values() if r.get("alloc_id") is not None}
    allocs = {
        a.get("alloc_id"): a
        for a in scan(uri, ALLOCATIONS, ["alloc_id", "job_id", "slurm_state"])
        if a.get("alloc_id") in alloc_ids
    }
    history: list[dict[str, Any]] = []
    for launch in sorted(launches, key=lambda r: r.get("launch_id") or 0, reverse=True):
        record = records.get(launch.get("launch_id")) or {}
        alloc = allocs.get(record.get("alloc_id")) or {}
        history.append(
            {
                **{k: launch.get(k) for k in LAUNCH_FIELDS if k != "action"},
                "archived": launch.get("launch_id") in archived,
                "exception": exception_lines(launch) if launch.get("state") == "FIZZLED" else [],
                "failures": record.get("failures"),
                "continuations": record.get("continuations"),
                "notes": record.get("history") or [],
                "job_id": alloc.get("job_id"),
                "slurm_state": alloc.get("slurm_state"),
            }
        )
    latest = history[0]["launch_dir"] if history else None
    spec = fw.get("spec") or {}
    return {
        "fw_id": fw_id,
        "name": fw.get("name"),
        "state": fw.get("state"),
        "campaign": spec.get(CAMPAIGN_KEY),
        "created_on": fw.get("created_on"),
        "updated_on": fw.get("updated_on"),
        "inputs": inputs(spec),
        "launches": history,
        "files": run_files(latest),
    }
