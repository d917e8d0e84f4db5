"""What a launch directory says about a run: ``pw.in``, the tail of ``pw.out``, Custodian.

File names come from :class:`htflow.qe.rundir.PwRunDir` (the one reader of a pw.x run
directory) and corrections from :func:`htflow.qe.outputs.parse_custodian`; the directory
comes from the launch record the agent wrote, never from the request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TAIL_LINES = 40
TAIL_BYTES = 64_000
INPUT_BYTES = 200_000
TRACE_LINES = 6


def tail(path: Path, lines: int = TAIL_LINES, max_bytes: int = TAIL_BYTES) -> str | None:
    """The last ``lines`` lines of a text file (reading at most ``max_bytes``); None if absent."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except OSError:
        return None
    text = data.decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def head(path: Path, max_bytes: int = INPUT_BYTES) -> str | None:
    """A text file's first ``max_bytes`` bytes; None if absent."""
    try:
        with path.open("rb") as handle:
            return handle.read(max_bytes).decode(errors="replace")
    except OSError:
        return None


def corrections(launch_dir: Path) -> list[dict[str, Any]]:
    """Custodian's corrections in the directory: handler, errors, actions (as JSON text)."""
    from htflow.qe.outputs import parse_custodian

    out = []
    for correction in parse_custodian(launch_dir):
        handler = correction.get("handler")
        if isinstance(handler, dict):
            handler = handler.get("@class") or handler.get("name")
        out.append(
            {
                "handler": str(handler or "-"),
                "errors": [str(e) for e in correction.get("errors") or []],
                "actions": [
                    json.dumps(a, default=str, sort_keys=True)
                    for a in correction.get("actions") or []
                ],
            }
        )
    return out


def exception_lines(launch: dict[str, Any]) -> list[str]:
    """The last lines of the exception FireWorks stored for the launch (or its message)."""
    stored = (launch.get("action") or {}).get("stored_data") or {}
    trace = str((stored.get("_exception") or {}).get("_stacktrace") or "").strip()
    if trace:
        return trace.splitlines()[-TRACE_LINES:]
    message = str(stored.get("_message") or "").strip()
    return message.splitlines()[:TRACE_LINES]


def run_evidence(launch: dict[str, Any]) -> dict[str, Any]:
    """A failed launch's evidence: its directory, pw.out's tail, corrections, exception."""
    from htflow.qe.rundir import PwRunDir

    directory = launch.get("launch_dir")
    evidence: dict[str, Any] = {
        "launch_id": launch.get("launch_id"),
        "launch_dir": directory,
        "exception": exception_lines(launch),
        "pw_out": None,
        "corrections": [],
    }
    if directory:
        run = PwRunDir(Path(directory))
        evidence["pw_out"] = tail(run.output_file)
        evidence["corrections"] = corrections(run.path)
    return evidence


def run_files(launch_dir: str | None) -> dict[str, Any]:
    """For the Firework page: ``pw.in``, the tail of ``pw.out``, custodian.json's corrections."""
    from htflow.qe.rundir import PwRunDir

    if not launch_dir:
        return {"launch_dir": None, "pw_in": None, "pw_out": None, "corrections": []}
    run = PwRunDir(Path(launch_dir))
    return {
        "launch_dir": launch_dir,
        "pw_in": head(run.input_file),
        "pw_out": tail(run.output_file, lines=80),
        "corrections": corrections(run.path),
    }
