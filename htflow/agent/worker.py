"""Offline execution, compute side: run a prepared launch directory with no database.

``python -m htflow.agent.worker <launch_dir> [<launch_dir> …]`` is what a compute job runs:
the equivalent of ``rlaunch singleshot --offline`` in each directory. It reads ``FW.json``,
runs the job against the JobStore files in the directory (seeded by the agent), and records
the outcome in ``FW_offline.json``. It opens no database connection and needs no credential;
this module imports nothing from ``htflow.db``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from htflow.exceptions import HtflowError
from htflow.fireworks_compat import patch_fireworks

FINISHED_STATES = ("COMPLETED", "FIZZLED")


def launch_state(launch_dir: str | Path) -> str:
    """State recorded in ``FW_offline.json``: RESERVED, RUNNING, COMPLETED or FIZZLED."""
    offline = json.loads((Path(launch_dir) / "FW_offline.json").read_text())
    if "state" in offline:
        return str(offline["state"])
    return "RUNNING" if "started_on" in offline else "RESERVED"


def run_offline(launch_dir: str | Path) -> str:
    """Run the Firework prepared in ``launch_dir``; return its final state.

    A directory whose run already finished is not run again (a requeued allocation must not
    run a calculation twice); its recorded state is returned.

    Raises
    ------
    HtflowError
        ``launch_dir`` was not prepared by the agent (no ``FW.json`` / ``FW_offline.json``).
    """
    from fireworks import FWorker
    from fireworks.core.rocket_launcher import launch_rocket

    path = Path(launch_dir).resolve()
    if not (path / "FW.json").is_file() or not (path / "FW_offline.json").is_file():
        raise HtflowError(f"{path} is not a prepared launch directory: let the agent claim it")
    state = launch_state(path)
    if state in FINISHED_STATES:
        return state
    patch_fireworks()
    with contextlib.chdir(path):
        launch_rocket(None, FWorker(name="htflow-worker"))
    return launch_state(path)


def main(argv: list[str] | None = None) -> int:
    """CLI entry: run each launch directory in turn, print ``<dir> <state>``."""
    parser = argparse.ArgumentParser(prog="python -m htflow.agent.worker", description=__doc__)
    parser.add_argument("launch_dirs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    status = 0
    for launch_dir in args.launch_dirs:
        try:
            state = run_offline(launch_dir)
        except HtflowError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
            continue
        print(f"{launch_dir} {state}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
