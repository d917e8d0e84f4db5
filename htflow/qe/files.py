"""Copying what one pw.x run leaves for the next (charge density, wavefunctions)."""

from __future__ import annotations

import shutil
from pathlib import Path

from htflow.qe.rundir import OUTDIR


def copy_previous_outputs(prev_dir: str | Path, directory: str | Path = ".") -> None:
    """Copy the previous run's ``out/`` (XML, charge density, wavefunctions) into ``directory``.

    A non-SCF run and the DOS/band post-processing read the SCF charge density from here.
    """
    source = Path(prev_dir) / OUTDIR
    if not source.is_dir():
        raise FileNotFoundError(
            f"previous run {prev_dir} has no {OUTDIR}/ directory to restart from"
        )
    target = Path(directory) / OUTDIR
    shutil.copytree(source, target, dirs_exist_ok=True)


def remove_wavefunctions(directory: str | Path = ".") -> None:
    """Delete wavefunction files, the bulk of a finished run's disk use."""
    for path in Path(directory, OUTDIR).glob("**/wfc*.dat"):
        path.unlink()
    for path in Path(directory, OUTDIR).glob("*.wfc*"):
        path.unlink()
