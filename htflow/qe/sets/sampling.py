"""Property-aware sampling: what each property needs (``properties.yaml``), and the mesh,
smearing and thresholds a protocol must be raised to for it.

The needs are data, measured per property (docs/precision.md). :func:`resolve_sampling`
compares a protocol's settings for one structure with a property's needs and returns what
has to change; the input generator applies it and records it in ``PwInput.sampling``.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from htflow.exceptions import InputError
from htflow.qe.pwinput import SamplingRecord

if TYPE_CHECKING:
    from pymatgen.core import Structure

PROPERTIES_FILE = Path(__file__).parent / "properties.yaml"
Mesh = tuple[int, int, int]


class ClassNeeds(BaseModel):
    """What a property needs for one electronic class (metal or insulator)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kpoints_per_atom: int = Field(
        gt=0, description="Minimum k-points per reciprocal atom (sites × mesh points)."
    )
    max_degauss: float | None = Field(
        None, gt=0, description="Largest smearing width allowed (Ry); None: the protocol's."
    )
    degauss: float | None = Field(
        None,
        gt=0,
        description="Smearing width the property's fixed-cell runs use instead of the "
        "protocol's (Ry, the protocol's smearing kind; a vc-relax keeps the protocol's, since a "
        "wide smearing biases the volume); None: the protocol's. Measured: a wider cold "
        "smearing converges a metal's stress differences on a far coarser mesh.",
    )


class PropertyNeeds(BaseModel):
    """The sampling one property needs, whatever the protocol."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Property name (energy, elastic, eos, dos).")
    description: str = Field(description="What the property is, one line.")
    criterion: str = Field(description="The convergence criterion the minima were measured to.")
    metal: ClassNeeds = Field(description="Needs of a metal (or of a system not yet known).")
    insulator: ClassNeeds = Field(description="Needs of a gapped system.")
    max_forc_conv_thr: float | None = Field(
        None, gt=0, description="Loosest ionic force threshold for its relaxations (Ry/bohr)."
    )
    max_press_conv_thr: float | None = Field(
        None, gt=0, description="Loosest pressure threshold for its vc-relax (kbar)."
    )
    min_cutoff_scale: float | None = Field(
        None,
        gt=0,
        description="Smallest factor on the family's cutoffs (dimensionless): stresses and "
        "E(V) converge with the basis more slowly than total energies.",
    )

    def for_class(self, is_metal: bool | None) -> ClassNeeds:
        """The needs of a metal (``True`` or unknown ``None``) or an insulator (``False``)."""
        return self.insulator if is_metal is False else self.metal


def available_properties() -> list[str]:
    """Names of the properties with declared needs, sorted."""
    return sorted(_table())


def load_property_needs(name: str) -> PropertyNeeds:
    """The needs of property ``name``.

    Raises
    ------
    InputError
        An unknown property name.
    """
    table = _table()
    if name not in table:
        raise InputError(
            f"unknown property {name!r}: choose one of {', '.join(available_properties())}"
        )
    return table[name]


@cache
def _table() -> dict[str, PropertyNeeds]:
    data = yaml.safe_load(PROPERTIES_FILE.read_text()) or {}
    out = {}
    for name, entry in data.items():
        try:
            out[name] = PropertyNeeds.model_validate({"name": name, **entry})
        except ValidationError as exc:  # a broken shipped file is a bug, said in one line
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InputError(f"{PROPERTIES_FILE.name}: {name}.{where}: {first['msg']}") from exc
    return out


def kpoints_per_atom(nsites: int, mesh: Mesh) -> int:
    """k-points per reciprocal atom of a mesh: sites × n1 × n2 × n3."""
    return nsites * mesh[0] * mesh[1] * mesh[2]


def mesh_for_density(structure: Structure, kpoints_per_atom: int) -> Mesh:
    """The smallest Γ-centred mesh with at least ``kpoints_per_atom`` per reciprocal atom.

    Divisions scale with the reciprocal vector lengths as in pymatgen's
    ``Kpoints.automatic_density`` (n_i ∝ 1/a_i), rounded up rather than down so that the
    density is a minimum, then grown along the coarsest direction until it is reached.
    """
    lengths = structure.lattice.abc
    per_cell = kpoints_per_atom / len(structure)
    mult = (per_cell * lengths[0] * lengths[1] * lengths[2]) ** (1 / 3)
    mesh = [max(1, math.ceil(round(mult / length, 6))) for length in lengths]
    # rounding up each axis already reaches the density; a cell with very uneven axes may
    # still need one more division along its coarsest direction
    while kpoints_per_atom_of(structure, mesh) < kpoints_per_atom:
        coarsest = min(range(3), key=lambda i: mesh[i] * lengths[i])
        mesh[coarsest] += 1
    return (mesh[0], mesh[1], mesh[2])


def kpoints_per_atom_of(structure: Structure, mesh: list[int] | Mesh) -> int:
    """k-points per reciprocal atom of ``mesh`` on ``structure``."""
    return kpoints_per_atom(len(structure), (mesh[0], mesh[1], mesh[2]))


def format_mesh(mesh: Mesh) -> str:
    """``6×6×6``."""
    return "×".join(str(n) for n in mesh)


class RaisedSampling(BaseModel):
    """What :func:`raise_to_needs` decided: the mesh, namelist changes and the record."""

    mesh: Mesh = Field(description="The mesh to use.")
    namelists: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Namelist keys to tighten (degauss Ry, thresholds)."
    )
    record: SamplingRecord = Field(description="Provenance for PwInput.sampling.")


def raise_to_needs(
    property_name: str,
    structure: Structure,
    protocol_name: str,
    protocol_mesh: Mesh,
    namelists: dict[str, dict[str, object]],
    *,
    fixed_mesh: Mesh | None = None,
    is_metal: bool | None = None,
    strict: bool = False,
    cutoff_scale: float | None = None,
) -> RaisedSampling:
    """Raise a protocol's sampling to what ``property_name`` needs for ``structure``.

    Parameters
    ----------
    property_name
        A property of ``properties.yaml``.
    structure
        The cell the input is for.
    protocol_name
        For messages only.
    protocol_mesh
        The mesh the protocol gives this cell.
    namelists
        The protocol's namelists (``system``, ``control``, ``cell``) before user overrides.
    fixed_mesh
        A mesh fixed by the flow (EOS and elastic cells share the reference cell's mesh,
        already raised there): used as is, only recorded.
    is_metal
        From an earlier calculation of the workflow; None applies the metal's needs.
    strict
        Refuse instead of raising.
    cutoff_scale
        The protocol's factor on the family's cutoffs, already applied to ``namelists``.

    Raises
    ------
    InputError
        With ``strict``, when the protocol is below the need (one line naming the setting).
    """
    needs = load_property_needs(property_name)
    cls = needs.for_class(is_metal)
    label = "unknown" if is_metal is None else ("metal" if is_metal else "insulator")
    formula = structure.composition.reduced_formula
    changes: list[str] = []
    mesh = protocol_mesh
    if fixed_mesh is not None:
        mesh = fixed_mesh
        if fixed_mesh != protocol_mesh:
            changes.append(f"k mesh {format_mesh(fixed_mesh)} fixed by the flow")
    else:
        have = kpoints_per_atom_of(structure, protocol_mesh)
        if have < cls.kpoints_per_atom:
            dense = mesh_for_density(structure, cls.kpoints_per_atom)
            mesh = (
                max(dense[0], protocol_mesh[0]),
                max(dense[1], protocol_mesh[1]),
                max(dense[2], protocol_mesh[2]),
            )
            what = (
                f"{property_name} needs at least {cls.kpoints_per_atom} k-points per "
                f"reciprocal atom for {'a metal' if is_metal is not False else 'an insulator'}"
                f"{' (class not known yet)' if is_metal is None else ''}; protocol "
                f"{protocol_name!r} gives {have} for {formula} (mesh {format_mesh(protocol_mesh)})"
            )
            if strict:
                raise InputError(f"strict: {what}: choose a denser protocol or set strict: false")
            changes.append(f"{what}: k mesh raised to {format_mesh(mesh)}")
    tightened: dict[str, dict[str, float]] = {}
    system, control, cell = (namelists.get(k) or {} for k in ("system", "control", "cell"))
    floor = needs.min_cutoff_scale
    if floor is not None and cutoff_scale is not None and cutoff_scale < floor:
        what = (
            f"{property_name} needs cutoffs of at least {floor} × the family's; protocol "
            f"{protocol_name!r} uses {cutoff_scale} ×"
        )
        if strict:
            raise InputError(f"strict: {what}: choose a denser protocol or set strict: false")
        for key in ("ecutwfc", "ecutrho"):
            value = system.get(key)
            if isinstance(value, int | float):
                tightened.setdefault("system", {})[key] = float(
                    f"{value * floor / cutoff_scale:.6g}"
                )
        raised = tightened.get("system", {})
        changes.append(
            f"{what}: ecutwfc {system.get('ecutwfc')} → {raised.get('ecutwfc')} Ry, "
            f"ecutrho {system.get('ecutrho')} → {raised.get('ecutrho')} Ry"
        )
    width = system.get("degauss")
    # a width for metals only when the class is known (a semiconductor taken for a metal,
    # nothing run before it, must not have its gap smeared over), and only at fixed cell: a
    # wide smearing biases the equilibrium volume (fcc Cu: +7.7 GPa at cold 0.08 Ry)
    if (
        cls.degauss is not None
        and is_metal is not None
        and control.get("calculation") != "vc-relax"
        and system.get("occupations") == "smearing"
        and isinstance(width, int | float)
        and width != cls.degauss
    ):
        what = (
            f"{property_name} of {'a metal' if is_metal else 'an insulator'} "
            f"is converged with degauss = {cls.degauss} Ry; protocol {protocol_name!r} has "
            f"{width}"
        )
        if strict:
            raise InputError(f"strict: {what}: set degauss or set strict: false")
        tightened.setdefault("system", {})["degauss"] = cls.degauss
        changes.append(f"{what}: set to {cls.degauss}")
        system = {**system, "degauss": cls.degauss}
    for namelist, key, limit, unit in (
        ("system", "degauss", cls.max_degauss, "Ry"),
        ("control", "forc_conv_thr", needs.max_forc_conv_thr, "Ry/bohr"),
        ("cell", "press_conv_thr", needs.max_press_conv_thr, "kbar"),
    ):
        current = {"system": system, "control": control, "cell": cell}[namelist].get(key)
        if limit is None or not isinstance(current, int | float) or current <= limit:
            continue
        what = (
            f"{property_name} needs {key} ≤ {limit} {unit}; "
            f"protocol {protocol_name!r} has {current}"
        )
        if strict:
            raise InputError(f"strict: {what}: choose a tighter protocol or set strict: false")
        tightened.setdefault(namelist, {})[key] = limit
        changes.append(f"{what}: set to {limit}")
    record = SamplingRecord(
        property=property_name,
        electronic_class=label,
        kpoints_per_atom_needed=cls.kpoints_per_atom,
        kpoints_per_atom=kpoints_per_atom_of(structure, mesh),
        protocol_mesh=protocol_mesh,
        mesh=mesh,
        changes=changes,
    )
    return RaisedSampling(mesh=mesh, namelists=tightened, record=record)
