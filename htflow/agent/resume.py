"""Continue a pw.x calculation from its checkpoint when its launch runs again.

A launch that ran out of allocation time (or whose allocation hit its time limit after a
walltime stop) leaves its directory with ``pw.in`` prepared by the walltime handler
(``restart_mode='restart'``) and pw.x's restart files in ``out/``. Running the launch again
re-runs the job's Maker, which writes a fresh input over the prepared one. While the worker
runs such a directory, :func:`keep_prepared_pw_input` makes that one write a no-op, so
:func:`htflow.qe.run.run_pw` starts from the prepared input and pw.x reads its checkpoint.

pw.x consumes its scf restart file (``<prefix>.restart_scf``) when it restarts: if that
restarted run is then killed (SLURM TIMEOUT, node failure), the input still says
``restart_mode='restart'`` but the only checkpoint left is the charge density of the last
clean stop. The kept input then starts from that density instead (``startingpot='file'``),
as the ``KilledHandler`` does inside an allocation.

This belongs in the Maker (``BasePwMaker.make``: "keep an input prepared for a restart in
the run directory"); it lives here, scoped to the worker and to one directory, until then.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

PW_INPUT_JSON = "pw_input.json"


def prepared_for_restart(directory: str | Path) -> bool:
    """Whether ``directory`` holds a pw.x input prepared to continue from a checkpoint."""
    path = Path(directory) / PW_INPUT_JSON
    if not path.is_file():
        return False
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return False
    control = data.get("control", {}) if isinstance(data, dict) else {}
    return isinstance(control, dict) and control.get("restart_mode") == "restart"


@contextlib.contextmanager
def keep_prepared_pw_input(directory: str | Path) -> Iterator[bool]:
    """Inside the block, the first ``PwInput.write`` into ``directory`` keeps a prepared input.

    Yields whether a prepared input was found (when not, nothing is changed).
    """
    target = Path(directory).resolve()
    if not prepared_for_restart(target):
        yield False
        return
    from htflow.qe.pwinput import PwInput

    _fall_back_to_charge_density(target)
    original = PwInput.write
    kept = False

    def write(self: PwInput, where: str | Path) -> None:
        nonlocal kept
        if not kept and Path(where).resolve() == target:
            kept = True
            print(f"htflow: {target}: continuing from the prepared restart input", file=sys.stderr)
            return
        original(self, where)

    patched: Any = write
    PwInput.write = patched  # type: ignore[method-assign]
    try:
        yield True
    finally:
        PwInput.write = original  # type: ignore[method-assign]


def _fall_back_to_charge_density(directory: Path) -> None:
    """Use the last charge density when the scf restart file was consumed (see above)."""
    from htflow.qe.handlers.base import charge_density_available, from_charge_density
    from htflow.qe.pwinput import PwInput

    pw_input = PwInput.from_directory(directory)
    outdir = directory / str(pw_input.control.get("outdir", "out"))
    prefix = str(pw_input.control.get("prefix", "pwscf"))
    if (outdir / f"{prefix}.restart_scf").exists():
        return
    if charge_density_available(directory, pw_input):
        changes = from_charge_density(directory, pw_input, wavefunctions=False)
        print(
            f"htflow: {directory}: scf restart file consumed by a killed run: "
            "continuing from the last charge density",
            file=sys.stderr,
        )
        pw_input.updated(**changes).write(directory)
