"""Continue a pw.x calculation from its checkpoint when its job runs again in the same directory.

A run that ran out of allocation time leaves its directory with an input prepared by the
walltime handler (``restart_mode='restart'``) and pw.x's restart files in ``out/``. When the
agent requeues the launch, the job's Maker runs again in that directory: it must keep the
prepared input rather than write a fresh one, so :func:`htflow.qe.run.run_pw` starts pw.x
from its checkpoint.

pw.x consumes its scf restart file (``<prefix>.restart_scf``) when it restarts: if that
restarted run is then killed (SLURM TIMEOUT, node failure), the input still says
``restart_mode='restart'`` but the only checkpoint left is the charge density of the last
clean stop. The kept input then starts from that density instead (``startingpot='file'``),
as the ``KilledHandler`` does inside an allocation.
"""

from __future__ import annotations

import sys
from pathlib import Path

from htflow.qe.pwinput import PwInput
from htflow.qe.rundir import PwRunDir


def prepared_for_restart(directory: str | Path) -> bool:
    """Whether ``directory`` holds a pw.x input prepared to continue from a checkpoint."""
    data = PwRunDir(directory).input_data()
    control = data.get("control", {}) if isinstance(data, dict) else {}
    return isinstance(control, dict) and control.get("restart_mode") == "restart"


def input_for_run(directory: str | Path, fresh: PwInput) -> PwInput:
    """Write ``fresh`` unless a restart input is prepared in ``directory``; return the one used."""
    path = Path(directory)
    if not prepared_for_restart(path):
        fresh.write(path)
        return fresh
    print(f"htflow: {path}: continuing from the prepared restart input", file=sys.stderr)
    return _fall_back_to_charge_density(path)


def _fall_back_to_charge_density(directory: Path) -> PwInput:
    """Use the last charge density when the scf restart file was consumed (see above)."""
    from htflow.qe.handlers.base import from_charge_density

    pw_input = PwInput.from_directory(directory)
    run = PwRunDir(directory)
    if run.scf_restart_file(pw_input.control).exists():
        return pw_input
    if run.has_charge_density(pw_input.control):
        changes = from_charge_density(directory, pw_input, wavefunctions=False)
        print(
            f"htflow: {directory}: scf restart file consumed by a killed run: "
            "continuing from the last charge density",
            file=sys.stderr,
        )
        pw_input = pw_input.updated(**changes)
        pw_input.write(directory)
    return pw_input
