"""The materials document: one per unique material per (code, protocol, pseudo family).

Units: eV, eV/atom, Å, Å³, GPa, g/cm³, states/eV. The full DOS is never in this document: it
stays in the JobStore's data store, and :class:`DosRef` says where (``get_dos`` loads it).
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, Field, field_serializer, field_validator
from pymatgen.core import Structure

from htflow.quality.schema import QUALITY_PROPERTIES, PropertyQuality, QualityLevel

# Collections next to jobflow's "outputs": materials documents and the builder's bookkeeping.
MATERIALS_COLLECTION = "materials"
BUILDER_TASKS_COLLECTION = "materials_builder_tasks"
MATERIAL_ID_PREFIX = "htf-"


def material_id_for(code: str, protocol: str, pseudo_family: str, founding_task: str) -> str:
    """The id of a new material: ``htf-`` + 10 hex digits of a hash of its identity.

    The hash covers the calculation identity and the uuid of the task that founded the
    material (the first of its tasks the builder processed), so ids are deterministic and
    never change once assigned.
    """
    key = f"{code}|{protocol}|{pseudo_family}|{founding_task}".encode()
    return MATERIAL_ID_PREFIX + hashlib.sha1(key, usedforsecurity=False).hexdigest()[:10]


class DosRef(BaseModel):
    """Where the full CompleteDos lives: a blob of the JobStore's ``data`` store."""

    task_uuid: str = Field(description="uuid of the job (nscf task) whose output holds the DOS.")
    task_index: int = Field(1, description="jobflow index of that job's output.")
    blob_uuid: str | None = Field(
        None, description="blob_uuid of the DOS in the data store (None: inline in the task)."
    )


class DosSummary(BaseModel):
    """Numbers read off the full DOS (energies in eV, absolute, as pw.x reports them)."""

    efermi: float | None = Field(None, description="Fermi energy of the DOS run (eV).")
    dos_at_efermi: float | None = Field(
        None, description="Total DOS at the Fermi level, summed over spins (states/eV/cell)."
    )
    vbm: float | None = Field(None, description="Valence band maximum from the DOS (eV).")
    cbm: float | None = Field(None, description="Conduction band minimum from the DOS (eV).")
    gap: float | None = Field(None, description="cbm - vbm from the DOS (eV); 0 for metals.")
    n_energies: int = Field(description="Number of energy points of the DOS.")
    energy_min: float = Field(description="Lowest energy of the DOS grid (eV).")
    energy_max: float = Field(description="Highest energy of the DOS grid (eV).")
    n_projected_sites: int = Field(0, description="Sites with a projected DOS (0: total only).")


class Provenance(BaseModel):
    """Where the numbers of a materials document come from."""

    task_ids: list[str] = Field(
        default_factory=list,
        description="'uuid:index' of every task document the material was built from, sorted.",
    )
    energy_task_id: str | None = Field(
        None, description="The task whose energy and structure the material reports."
    )
    dos_task_id: str | None = Field(None, description="The task that holds the DOS.")
    elastic_task_id: str | None = Field(None, description="The ElasticDocument's task.")
    eos_task_id: str | None = Field(None, description="The EosDoc's task.")
    code_versions: list[str] = Field(
        default_factory=list, description="Versions of the code over the tasks (e.g. '6.7MaX')."
    )
    pseudo_md5: dict[str, str] = Field(
        default_factory=dict, description="md5 of the pseudopotential file per element."
    )
    custodian_corrections: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Custodian corrections of the contributing tasks, each with its 'task_id'.",
    )
    created_at: str | None = Field(
        None, description="completed_at (ISO 8601) of the earliest contributing task."
    )
    last_updated: str | None = Field(
        None, description="completed_at (ISO 8601) of the latest contributing task."
    )


class MLNumbers(BaseModel):
    """What the campaign funnel's ML potential said about the material before DFT ran.

    ML energies are on the model's own scale (CHGNet and SevenNet are trained on Materials
    Project PBE(+U) energies): compare ML and DFT through formation energies and hull
    distances, never through total energies.
    """

    model: str = Field(description="ML potential, e.g. 'chgnet'.")
    model_version: str = Field(description="Package and weights, e.g. 'chgnet 0.4.2, 0.3.0'.")
    energy_per_atom: float | None = Field(
        None, description="ML energy per atom of the ML-relaxed structure (eV/atom)."
    )
    formation_energy_per_atom: float | None = Field(
        None, description="ML formation energy against the model's elemental references (eV/atom)."
    )
    energy_above_hull: float | None = Field(
        None, description="ML energy above the model's own hull (eV/atom)."
    )
    margin: float | None = Field(
        None, description="The screen's margin (eV/atom); None: pre-relaxation only."
    )
    campaign: str = Field(description="The campaign whose funnel computed these numbers.")
    label: str = Field(description="The candidate's label in that campaign (c0000 …).")


class MaterialDoc(BaseModel):
    """One unique material (by structure matching) for one code + protocol + pseudo family.

    Energies from different codes, protocols or pseudo families never mix: those three are
    part of the identity, and formation energies and hulls use only materials of the same
    identity.
    """

    material_id: str = Field(description="Stable id: 'htf-' + 10 hex digits (material_id_for).")
    formula: str = Field(description="Formula of the cell, e.g. 'Si2' (alphabetical).")
    formula_reduced: str = Field(description="Reduced formula, e.g. 'SiC'.")
    chemsys: str = Field(description="Elements sorted and joined by '-', e.g. 'C-Si'.")
    elements: list[str] = Field(description="Element symbols, sorted.")
    nelements: int = Field(description="Number of distinct elements.")
    nsites: int = Field(description="Number of sites in the cell.")
    volume: float = Field(description="Cell volume (Å³).")
    volume_per_atom: float = Field(description="Volume per site (Å³/atom).")
    density: float = Field(description="Mass density (g/cm³).")
    structure: Structure = Field(description="Final structure (Å) of the energy task.")

    code: str = Field(description="Simulation code, e.g. 'qe' (part of the identity).")
    protocol: str = Field(
        description="Protocol name (fast, balanced, stringent), or 'custom-<hash>' for inputs "
        "that match no protocol (part of the identity)."
    )
    pseudo_family: str = Field(
        description="Pseudopotential family, or 'custom-<hash>' of the pseudo md5s (identity)."
    )

    energy_per_atom: float = Field(
        description="Total energy per atom of the energy task (eV/atom)."
    )
    formation_energy_per_atom: float | None = Field(
        None,
        description="Energy per atom relative to the elemental references of the same identity "
        "(eV/atom); None when a reference is missing.",
    )
    energy_above_hull: float | None = Field(
        None,
        description="Distance to the convex hull of the materials of the same identity "
        "(eV/atom); None when a reference is missing.",
    )
    is_stable: bool | None = Field(None, description="energy_above_hull <= 1e-8 eV/atom.")
    reference_ids: dict[str, str] = Field(
        default_factory=dict,
        description="material_id of the elemental reference used for each element.",
    )

    band_gap: float | None = Field(
        None, description="Band gap (eV): from the DOS run's denser grid when there is one."
    )
    is_metal: bool | None = Field(None, description="True when a band crosses the Fermi level.")
    efermi: float | None = Field(None, description="Fermi energy (eV), same source as band_gap.")
    total_magnetization: float | None = Field(
        None, description="Total magnetization (μB per cell); None when not spin-polarized."
    )
    dos: DosSummary | None = Field(None, description="Summary of the DOS (full DOS: dos_ref).")
    dos_ref: DosRef | None = Field(None, description="Where get_dos() finds the CompleteDos.")

    elastic_tensor: list[list[float]] | None = Field(
        None, description="Elastic tensor C_ij, 6×6 Voigt notation, IEEE standard frame (GPa)."
    )
    k_vrh: float | None = Field(None, description="Voigt-Reuss-Hill bulk modulus (GPa).")
    g_vrh: float | None = Field(None, description="Voigt-Reuss-Hill shear modulus (GPa).")
    poisson_ratio: float | None = Field(
        None, description="Homogeneous Poisson ratio (3K - 2G) / (6K + 2G) (dimensionless)."
    )
    universal_anisotropy: float | None = Field(
        None, description="Universal anisotropy index 5 G_V/G_R + K_V/K_R - 6 (dimensionless)."
    )

    eos_v0: float | None = Field(None, description="Birch-Murnaghan equilibrium volume (Å³/atom).")
    eos_b0: float | None = Field(None, description="Birch-Murnaghan bulk modulus (GPa).")
    eos_b1: float | None = Field(None, description="Pressure derivative of B0 (dimensionless).")

    quality: dict[str, QualityLevel] = Field(
        default_factory=dict,
        description="Quality of each derived property present (keys of QUALITY_PROPERTIES: "
        "energy, formation_energy, band_gap, dos, elastic, eos): 'verified', 'checked' or "
        "'suspect'; a property the document lacks has no key. Dimensionless labels.",
    )
    checks: dict[str, PropertyQuality] = Field(
        default_factory=dict,
        description="The evidence behind each quality value: level, reasons, self-checks with "
        "values and limits (units in each check's 'unit'), and the settings behind the "
        "number (k mesh, k-points per reciprocal atom, smearing width Ry, cutoffs Ry, SCF "
        "threshold Ry).",
    )

    ml: MLNumbers | None = Field(
        None,
        description="The funnel's ML numbers for this material (energy eV/atom, formation "
        "energy and energy above the ML hull eV/atom, model); None: it did not pass a funnel.",
    )

    provenance: Provenance = Field(default_factory=Provenance, description="Sources.")

    @field_validator("structure", mode="before")
    @classmethod
    def _structure_from_dict(cls, value: Any) -> Any:
        return Structure.from_dict(value) if isinstance(value, dict) else value

    @field_serializer("structure")
    def _structure_as_dict(self, structure: Structure) -> dict[str, Any]:
        return structure.as_dict()


# Scalar fields ML users filter and project on (indexed; the embedded summary table's columns).
SUMMARY_FIELDS: dict[str, str] = {
    "material_id": "TEXT",
    "formula": "TEXT",
    "formula_reduced": "TEXT",
    "chemsys": "TEXT",
    "elements": "JSON",
    "nelements": "INTEGER",
    "nsites": "INTEGER",
    "volume": "REAL",
    "volume_per_atom": "REAL",
    "density": "REAL",
    "code": "TEXT",
    "protocol": "TEXT",
    "pseudo_family": "TEXT",
    "energy_per_atom": "REAL",
    "formation_energy_per_atom": "REAL",
    "energy_above_hull": "REAL",
    "is_stable": "BOOLEAN",
    "band_gap": "REAL",
    "is_metal": "BOOLEAN",
    "efermi": "REAL",
    "total_magnetization": "REAL",
    "k_vrh": "REAL",
    "g_vrh": "REAL",
    "poisson_ratio": "REAL",
    "universal_anisotropy": "REAL",
    "eos_v0": "REAL",
    "eos_b0": "REAL",
    "eos_b1": "REAL",
    "dos.dos_at_efermi": "REAL",
    "dos.vbm": "REAL",
    "dos.cbm": "REAL",
    "dos.gap": "REAL",
    # quality labels: verified / checked / suspect, NULL when the property is absent
    **{f"quality.{key}": "TEXT" for key in QUALITY_PROPERTIES},
}

# Fields that are not scalars but can be projected (read from the documents themselves).
DOCUMENT_FIELDS = (
    "structure",
    "elastic_tensor",
    "dos",
    "dos_ref",
    "reference_ids",
    "provenance",
    "checks",
    "ml",
)


def known_field(field: str) -> bool:
    """True when ``field`` (possibly dotted) names a field of :class:`MaterialDoc`."""
    head, _, rest = field.partition(".")
    if field in SUMMARY_FIELDS or head in DOCUMENT_FIELDS:
        return True
    if head == "quality":  # quality.<key>: the keys of QUALITY_PROPERTIES only
        return not rest
    return head in MaterialDoc.model_fields and not rest


def field_value(doc: dict[str, Any], field: str) -> Any:
    """The value at dotted ``field`` of a stored document (``quality.elastic.level``), or None."""
    value: Any = doc
    for part in field.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
