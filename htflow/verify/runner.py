"""Run the ACWF equation of state for one system and compare it with the reference.

The flow is :class:`htflow.qe.flows.EosMaker`: seven SCF runs at 0.94 … 1.06 × the reference
V0 on one k-point mesh (that of the V0 cell), PBE, no spin, then a Birch–Murnaghan fit.
It runs in this process with jobflow's ``run_locally``; pw.x uses ``get_settings().mpi_ranks``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from jobflow import run_locally
from pydantic import BaseModel, Field

from htflow.exceptions import CalculationFailedError, InputError
from htflow.qe.eos import EosDoc
from htflow.qe.flows import DEFAULT_VOLUME_SCALES, EosMaker
from htflow.qe.jobs import StaticMaker
from htflow.qe.pseudos import get_pseudo_family
from htflow.qe.rundir import PwRunDir
from htflow.qe.sets import PwInputGenerator
from htflow.qe.stdout_parser import parse_stdout
from htflow.settings import get_settings
from htflow.verify.metrics import EosParams, Metrics, compare
from htflow.verify.reference import ReferenceSystem
from htflow.verify.structures import build_structure

# The study's settings (aiida-common-workflows, protocol verification-PBE-v1 for QE):
# Fermi-Dirac smearing 0.0045 Ry, kpoints_distance 0.06 1/Å, conv_thr 1e-10 Ry/atom.
# AiiDA's kpoints_distance is |b_i|/n_i with |b_i| including 2π (KpointsData.reciprocal_cell
# is 2π inv(cell)ᵀ, mesh = ceil(|b_i|/distance)), the same convention as htflow's
# kpoints_spacing, so 0.06 is used unconverted.
ACWF_KPOINTS_SPACING = 0.06  # 1/Å, including 2π
ACWF_SMEARING = {"smearing": "fd", "degauss": 0.0045}  # Ry
ACWF_CONV_THR_PER_ATOM = 1.0e-10  # Ry/atom


class PointDoc(BaseModel):
    """One E(V) point and its cost."""

    volume_per_atom: float = Field(description="Volume per atom (Å³/atom).")
    energy_per_atom: float = Field(description="Total energy per atom (eV/atom).")
    wall_seconds: float | None = Field(None, description="pw.x wall time (s).")
    cpu_seconds: float | None = Field(None, description="pw.x CPU time of rank 0 (s).")
    n_kpoints: int | None = Field(None, description="Irreducible k-points.")
    dir_name: str = Field(description="Run directory.")


class VerifyResult(BaseModel):
    """The verification of one system with one family and one set of settings."""

    system: str = Field(description="System label, e.g. Si/Diamond.")
    acwf_name: str = Field(description="The study's system name, e.g. Si-X/Diamond.")
    pseudo_family: str = Field(description="Pseudopotential family used.")
    settings: str = Field(description="Protocol name, or 'acwf' for the study's settings.")
    protocol: str = Field(description="Protocol providing cutoffs and thresholds.")
    ecutwfc: float = Field(description="Wavefunction cutoff (Ry).")
    ecutrho: float = Field(description="Density cutoff (Ry).")
    smearing: str | None = Field(None, description="pw.x smearing type.")
    degauss: float | None = Field(None, description="Smearing width (Ry).")
    kpoints_mesh: tuple[int, int, int] = Field(description="Monkhorst-Pack mesh (all volumes).")
    computed: EosParams = Field(description="Fitted Birch–Murnaghan V0 (Å³/atom), B0 (GPa), B1.")
    e0: float = Field(description="Fitted energy at V0 (eV/atom).")
    reference: EosParams = Field(description="Reference V0 (Å³/atom), B0 (GPa), B1.")
    reference_source: str = Field(description="Where the reference comes from.")
    metrics: Metrics = Field(description="ε, ν, Δ (meV/atom) against the reference, verdict.")
    points: list[PointDoc] = Field(description="Every E(V) point, by increasing volume.")
    n_ranks: int = Field(description="MPI ranks per pw.x run.")
    core_seconds: float = Field(
        description="Σ over points of pw.x CPU time × ranks (s); CPU, not wall, time so that a "
        "busy machine does not inflate it (falls back to wall time if CPU time is missing)."
    )
    elapsed_seconds: float = Field(description="Wall time of the whole verification (s).")
    workdir: str = Field(description="Directory holding the run directories.")


def input_generator(
    protocol: str = "balanced",
    pseudo_family: str | None = None,
    acwf_settings: bool = False,
) -> PwInputGenerator:
    """The SCF input generator for the EOS points.

    Parameters
    ----------
    protocol
        Protocol giving cutoffs, thresholds and (unless ``acwf_settings``) smearing and k.
    pseudo_family
        Family name; None means ``get_settings().pseudo_family``.
    acwf_settings
        Replace smearing, k spacing and SCF threshold by the study's.
    """
    if not acwf_settings:
        return PwInputGenerator(calculation="scf", protocol=protocol, pseudo_family=pseudo_family)
    return PwInputGenerator(
        calculation="scf",
        protocol=protocol,
        pseudo_family=pseudo_family,
        overrides={
            "system": dict(ACWF_SMEARING),
            "protocol": {"conv_thr_per_atom": ACWF_CONV_THR_PER_ATOM},
        },
        kpoints_spacing=ACWF_KPOINTS_SPACING,
    )


def check_family(reference: ReferenceSystem, pseudo_family: str | None) -> str:
    """The family's name, after checking that it exists, is PBE and covers the system.

    Raises
    ------
    InputError, PseudoFamilyError
        Unknown family, a non-PBE family, or an element the family lacks.
    """
    family = get_pseudo_family(pseudo_family)
    if family.functional.upper() != "PBE":
        raise InputError(
            f"pseudo family {family.name!r} is {family.functional}, the references are PBE: "
            "choose a PBE family with --pseudo-family"
        )
    elements = {reference.system.element}
    if reference.system.configuration == "XO":
        elements.add("O")
    missing = family.missing(elements)
    if missing:
        raise InputError(
            f"{reference.system.label}: element(s) {missing}: choose another family with "
            "--pseudo-family"
        )
    return family.name


def run_verify(
    reference: ReferenceSystem,
    workdir: str | Path,
    protocol: str = "balanced",
    pseudo_family: str | None = None,
    acwf_settings: bool = False,
) -> VerifyResult:
    """Run the seven-volume EOS of ``reference.system`` and compare it with the reference.

    Parameters
    ----------
    reference
        The system and its reference parameters (:func:`htflow.verify.reference.get_reference`).
    workdir
        Directory for the run directories (created).
    protocol, pseudo_family, acwf_settings
        See :func:`input_generator`.

    Raises
    ------
    InputError, PseudoFamilyError
        Bad protocol, family or system.
    CalculationFailedError
        A pw.x run failed beyond what the error handlers correct.
    """
    family_name = check_family(reference, pseudo_family)
    generator = input_generator(protocol, family_name, acwf_settings)
    structure = build_structure(reference.system, reference.reference.v0)
    pw_input = generator.get_input(structure)  # validates protocol and cutoffs before running
    static = StaticMaker(name="eos static", input_set_generator=generator, keep_wavefunctions=False)
    flow = EosMaker(name=f"verify {reference.system.label}", static_maker=static).make(structure)
    root = Path(workdir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    n_ranks = get_settings().mpi_ranks
    started = time.perf_counter()
    doc = _run(flow, root)
    elapsed = time.perf_counter() - started
    points = [_point(p.volume_per_atom, p.energy_per_atom, d) for p, d in _paired(doc)]
    computed = EosParams(v0=doc.v0, b0=doc.b0, b1=doc.b1)
    system = pw_input.system
    return VerifyResult(
        system=reference.system.label,
        acwf_name=reference.system.acwf_name,
        pseudo_family=family_name,
        settings="acwf" if acwf_settings else protocol,
        protocol=protocol,
        ecutwfc=float(system["ecutwfc"]),
        ecutrho=float(system["ecutrho"]),
        smearing=str(system["smearing"]) if "smearing" in system else None,
        degauss=float(system["degauss"]) if "degauss" in system else None,
        kpoints_mesh=pw_input.kpoints.mesh,
        computed=computed,
        e0=doc.e0,
        reference=reference.reference,
        reference_source=reference.source,
        metrics=compare(computed, reference.reference),
        points=points,
        n_ranks=n_ranks,
        core_seconds=sum(p.cpu_seconds or p.wall_seconds or 0.0 for p in points) * n_ranks,
        elapsed_seconds=elapsed,
        workdir=str(root),
    )


def _run(flow: Any, root: Path) -> EosDoc:
    cwd = os.getcwd()
    try:
        responses = run_locally(flow, root_dir=root, create_folders=True, log=False)
    finally:
        os.chdir(cwd)  # run_locally leaves the process in the last job's directory
    for by_index in responses.values():
        output = by_index[max(by_index)].output
        if isinstance(output, EosDoc):
            return output
    raise CalculationFailedError(
        f"the EOS in {root} did not finish (see the run directories and their pw.out)"
    )


def _paired(doc: EosDoc) -> list[tuple[Any, str]]:
    # EosDoc.points are sorted by volume; dir_names follow the run order (increasing scale),
    # which is also increasing volume
    if len(doc.dir_names) != len(doc.points):
        return [(p, "") for p in doc.points]
    return list(zip(doc.points, doc.dir_names, strict=True))


def _point(volume: float, energy: float, dir_name: str) -> PointDoc:
    timing: dict[str, Any] = {}
    text = PwRunDir(dir_name).output_text() if dir_name else None
    if text is not None:
        data = parse_stdout(text)
        timing = {
            "wall_seconds": data.wall_time,
            "cpu_seconds": data.cpu_time,
            "n_kpoints": data.n_kpoints,
        }
    return PointDoc(volume_per_atom=volume, energy_per_atom=energy, dir_name=dir_name, **timing)


__all__ = [
    "ACWF_KPOINTS_SPACING",
    "DEFAULT_VOLUME_SCALES",
    "PointDoc",
    "VerifyResult",
    "check_family",
    "input_generator",
    "run_verify",
]
