"""Task documents for pw.x runs, shaped like atomate2's TaskDoc.

atomate2's code-agnostic flows (``atomate2.common.flows.elastic`` / ``eos``) read
``doc.structure``, ``doc.dir_name``, ``doc.output.energy``, ``doc.output.stress`` and
``doc.output.structure``; those names and meanings match emmet's VASP TaskDoc. Units are
eV, Å, eV/Å, GPa and μB throughout; the parser converts from Ry/Hartree and bohr once.

Data models only: :func:`htflow.qe.outputs.build_task_doc` builds a :class:`PwTaskDoc`
from a run directory.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_serializer
from pymatgen.core import Structure

from htflow.qe.lazy_fields import BandStructureField, DosField
from htflow.qe.pwinput import PwInput

Vector3D = list[float]
Matrix3D = list[list[float]]


class PseudoRecord(BaseModel):
    """One pseudopotential file used by the run."""

    element: str = Field(description="Element symbol.")
    filename: str = Field(description="Pseudopotential file name (no directory).")
    md5: str | None = Field(None, description="md5 checksum of the file, as pw.x printed it.")


class PwInputSummary(BaseModel):
    """What went into the run: the full PwInput and the pseudopotentials."""

    pw_input: PwInput | None = Field(
        None,
        description="The run's PwInput (namelists, species, cell in Å, fractional positions, "
        "k-points) from pw_input.json; None when the directory has no pw_input.json.",
    )
    pseudos: list[PseudoRecord] = Field(
        default_factory=list, description="Pseudopotentials, one per element, with md5."
    )
    pseudo_family: str | None = Field(
        None, description="Name of the pseudopotential family, when pw_input.json records it."
    )


class PwOutput(BaseModel):
    """Results of one pw.x run (the last SCF / ionic step where the run has several)."""

    energy: float | None = Field(
        None,
        description="Total energy of the last completed SCF, pw.x's '!' line (eV). With "
        "smearing this is the free energy F = E - TS.",
    )
    energy_per_atom: float | None = Field(None, description="energy / number of sites (eV/atom).")
    free_energy: float | None = Field(
        None, description="Free energy F = E - TS with smearing, else None (eV)."
    )
    energy_no_smearing: float | None = Field(
        None,
        description="Zero-smearing estimate (F + E) / 2 = F + TS/2 with smearing, else None "
        "(eV); the analogue of VASP's 'energy(sigma->0)'.",
    )
    smearing_contribution: float | None = Field(
        None,
        description="-TS of the last SCF, pw.x's 'smearing contrib. (-TS)' (eV); None "
        "without smearing. 0 for a gapped system whose Fermi level sits inside the gap.",
    )
    ionic_step_energies: list[float] = Field(
        default_factory=list,
        description="The '!' total energy of every completed SCF, in order (eV).",
    )
    forces: list[Vector3D] | None = Field(
        None, description="Cartesian force on each site (eV/Å); None when not computed."
    )
    stress: Matrix3D | None = Field(
        None,
        description="Stress tensor (GPa) in pw.x's sign convention: positive = compressive "
        "(the cell wants to expand), the same sign convention as VASP's (VASP prints kbar); "
        "pressure = trace / 3. None when not computed.",
    )
    pressure: float | None = Field(None, description="trace(stress) / 3 (GPa).")
    structure: Structure | None = Field(
        None, description="Final structure (Å); the last complete ionic step for a relax."
    )
    efermi: float | None = Field(
        None,
        description="Fermi energy (eV); for fixed occupations pw.x reports the highest "
        "occupied level here.",
    )
    homo: float | None = Field(
        None, description="Highest occupied level (eV); None for metals or when unknown."
    )
    lumo: float | None = Field(
        None,
        description="Lowest unoccupied level (eV); None for metals or when no empty band "
        "was computed.",
    )
    band_gap: float | None = Field(
        None,
        description="lumo - homo from the eigenvalues on the run's k-points (eV); 0 for "
        "metals; None when unknown.",
    )
    direct_gap: float | None = Field(
        None, description="Smallest gap at a single k-point (eV); None for metals or unknown."
    )
    is_gap_direct: bool | None = Field(
        None, description="True when band_gap equals direct_gap; None for metals or unknown."
    )
    is_metal: bool | None = Field(
        None, description="True when a band crosses the Fermi level; None when unknown."
    )
    total_magnetization: float | None = Field(
        None, description="Total magnetization (μB per cell); None when not spin-polarized."
    )
    absolute_magnetization: float | None = Field(
        None, description="Absolute magnetization (μB per cell); None when not spin-polarized."
    )
    n_scf_steps: int | None = Field(
        None, description="Number of SCF iterations of the last SCF; None when no SCF ran."
    )
    n_ionic_steps: int = Field(
        0, description="Number of ionic configurations whose SCF completed ('!' lines)."
    )
    scf_converged: bool | None = Field(
        None, description="Whether the last SCF converged; None for nscf/bands runs."
    )
    ionic_converged: bool | None = Field(
        None, description="Whether the relaxation converged; None when not a relaxation."
    )
    n_kpoints: int | None = Field(None, description="Number of irreducible k-points.")
    n_bands: int | None = Field(None, description="Number of Kohn-Sham bands (per spin).")
    wall_time: float | None = Field(None, description="pw.x's total wall time (s).")
    cpu_time: float | None = Field(None, description="pw.x's total CPU time (s).")

    @field_serializer("structure", when_used="json")
    def _structure_as_dict(self, structure: Structure | None) -> dict[str, Any] | None:
        # pymatgen's Structure validates from its as_dict() form but has no JSON serializer.
        return None if structure is None else structure.as_dict()


class PwTaskDoc(BaseModel):
    """Everything about one pw.x run directory; the output of htflow's QE jobs."""

    dir_name: str = Field(description="Absolute path of the run directory.")
    task_label: str | None = Field(None, description="Name of the job that ran.")
    calculation: str | None = Field(
        None, description="pw.x calculation: 'scf', 'nscf', 'bands', 'relax', 'vc-relax', ..."
    )
    structure: Structure | None = Field(
        None, description="Final structure (Å); the input structure if the run made none."
    )
    input: PwInputSummary = Field(default_factory=PwInputSummary, description="The run's input.")
    output: PwOutput = Field(default_factory=PwOutput, description="The run's results.")
    completed: bool = Field(False, description="True when pw.x printed 'JOB DONE.'.")
    exit_code: int | None = Field(
        None, description="pw.x's exit code (pw.exitcode); None when it was killed."
    )
    state: Literal["successful", "failed"] = Field(
        "failed",
        description="'successful' when pw.x completed with exit code 0, its SCF and "
        "relaxation converged and no errors were recorded.",
    )
    qe_version: str | None = Field(None, description="Quantum ESPRESSO version, e.g. '6.7MaX'.")
    errors: list[str] = Field(
        default_factory=list, description="Errors found in the run (filled by the caller)."
    )
    custodian: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Custodian corrections from custodian.json: one dict per correction "
        "with 'errors', 'actions' and 'handler'.",
    )
    blas: str | None = Field(None, description="BLAS library pw.x ran with (set by the caller).")
    nprocs: int | None = Field(None, description="Number of MPI processes.")
    hosts: list[str] = Field(
        default_factory=list,
        description="Host of each MPI rank of the last pw.x run, in start order (pw.hosts).",
    )
    n_pools: int | None = Field(None, description="Number of k-point pools (npool).")
    dos: DosField | None = Field(
        None,
        description="Density of states from dos.x / projwfc.x (energies in eV, states/eV "
        "per cell), set by the caller after an nscf run.",
    )
    band_structure: BandStructureField | None = Field(
        None, description="Line-mode band structure (eV), set by the caller after a bands run."
    )
    last_updated: datetime = Field(
        default_factory=lambda: datetime.now(UTC),
        description="When this document was built (UTC).",
    )

    @field_serializer("structure", "dos", "band_structure", when_used="json")
    def _msonable_as_dict(self, value: Any) -> dict[str, Any] | None:
        # pymatgen objects validate from their as_dict() form but have no JSON serializer.
        return None if value is None else value.as_dict()
