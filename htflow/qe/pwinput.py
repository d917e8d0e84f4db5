"""A pw.x input as data: namelists, species, structure and k-points.

The run directory holds two views of one :class:`PwInput`: ``pw.in`` (what pw.x reads)
and ``pw_input.json`` (what error handlers load, change and write back). Handlers never
edit ``pw.in`` text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Lattice, Structure

from htflow.qe.rundir import NAMELISTS, PW_INPUT_FILE, PW_INPUT_JSON

NamelistValue = bool | int | float | str


class Species(BaseModel):
    """One ATOMIC_SPECIES line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str = Field(description="Element symbol as it appears in ATOMIC_SPECIES.")
    mass: float = Field(description="Atomic mass (amu).")
    filename: str = Field(description="Pseudopotential file name inside pseudo_dir.")
    md5: str | None = Field(None, description="md5 checksum of the pseudopotential file.")


class KPoints(BaseModel):
    """The K_POINTS card."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["automatic", "gamma", "crystal", "crystal_b", "tpiba"] = Field(
        "automatic", description="K_POINTS option."
    )
    mesh: tuple[int, int, int] = Field((1, 1, 1), description="Monkhorst-Pack grid (automatic).")
    shift: tuple[int, int, int] = Field((0, 0, 0), description="Grid offsets, 0 or 1 (automatic).")
    points: list[tuple[float, float, float, float]] = Field(
        default_factory=list,
        description="Explicit k-points: three coordinates (crystal or 2pi/a) and a weight "
        "(crystal, tpiba) or the number of points to the next vertex (crystal_b).",
    )
    labels: list[str | None] = Field(
        default_factory=list, description="High-symmetry labels of explicit points (crystal_b)."
    )


class SamplingRecord(BaseModel):
    """Provenance: the property a run serves and how its sampling compares with the needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    property: str = Field(description="The property the run serves (energy, elastic, eos, dos).")
    electronic_class: Literal["metal", "insulator", "unknown"] = Field(
        description="Class whose needs applied ('unknown' gets the metal's)."
    )
    kpoints_per_atom_needed: int = Field(description="Minimum k-points per reciprocal atom.")
    kpoints_per_atom: int = Field(description="k-points per reciprocal atom of the mesh used.")
    protocol_mesh: tuple[int, int, int] = Field(
        description="The mesh the protocol alone would have used."
    )
    mesh: tuple[int, int, int] = Field(description="The mesh used.")
    changes: list[str] = Field(
        default_factory=list,
        description="Each setting raised above the protocol, one line each with the values.",
    )


class PwInput(BaseModel):
    """A complete pw.x input. Lengths are in Å, positions are fractional."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    control: dict[str, NamelistValue] = Field(default_factory=dict, description="&CONTROL.")
    system: dict[str, NamelistValue] = Field(
        default_factory=dict,
        description="&SYSTEM without ibrav, nat, ntyp (derived from the structure).",
    )
    electrons: dict[str, NamelistValue] = Field(default_factory=dict, description="&ELECTRONS.")
    ions: dict[str, NamelistValue] = Field(default_factory=dict, description="&IONS.")
    cell: dict[str, NamelistValue] = Field(default_factory=dict, description="&CELL.")
    species: list[Species] = Field(description="One entry per element, in order of first use.")
    lattice: list[list[float]] = Field(description="Lattice vectors as rows (Å).")
    symbols: list[str] = Field(description="Element symbol of each site.")
    frac_coords: list[list[float]] = Field(description="Fractional coordinates of each site.")
    kpoints: KPoints = Field(default_factory=KPoints, description="K-point sampling.")
    protocol: str | None = Field(
        None, description="htflow protocol that generated this input (provenance; not in pw.in)."
    )
    pseudo_family: str | None = Field(
        None, description="Pseudopotential family of the species (provenance; not in pw.in)."
    )
    sampling: SamplingRecord | None = Field(
        None,
        description="The property this run serves and how its k mesh, smearing and thresholds "
        "compare with what the property needs (provenance; not in pw.in).",
    )

    @classmethod
    def from_structure(cls, structure: Structure, **fields: Any) -> PwInput:
        """Build an input for ``structure`` (ordered, one element per site)."""
        return cls(
            lattice=structure.lattice.matrix.tolist(),
            symbols=[site.specie.symbol for site in structure],
            frac_coords=structure.frac_coords.tolist(),
            **fields,
        )

    @property
    def structure(self) -> Structure:
        """The structure as a pymatgen Structure."""
        return Structure(Lattice(self.lattice), self.symbols, self.frac_coords)

    def with_structure(self, structure: Structure) -> PwInput:
        """Return a copy with the cell and positions of ``structure`` (same site order)."""
        symbols = [site.specie.symbol for site in structure]
        if symbols != self.symbols:
            raise ValueError("new structure must keep the species and order of sites")
        return self.model_copy(
            update={
                "lattice": structure.lattice.matrix.tolist(),
                "frac_coords": structure.frac_coords.tolist(),
            }
        )

    def updated(self, **namelists: dict[str, NamelistValue | None]) -> PwInput:
        """Return a copy with namelist keys set; a value of None removes the key."""
        update: dict[str, Any] = {}
        for name, changes in namelists.items():
            if name not in NAMELISTS:
                raise ValueError(f"unknown namelist {name!r}")
            merged = dict(getattr(self, name))
            for key, value in changes.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            update[name] = merged
        return self.model_copy(update=update)

    def to_pwin(self) -> str:
        """Render ``pw.in`` text."""
        system: dict[str, NamelistValue] = {
            "ibrav": 0,
            "nat": len(self.symbols),
            "ntyp": len(self.species),
        }
        system.update(self.system)
        blocks: dict[str, dict[str, NamelistValue]] = {
            "control": self.control,
            "system": system,
            "electrons": self.electrons,
            "ions": self.ions,
            "cell": self.cell,
        }
        calculation = str(self.control.get("calculation", "scf"))
        lines: list[str] = []
        for name, values in blocks.items():
            if name == "ions" and calculation not in ("relax", "md", "vc-relax", "vc-md"):
                continue
            if name == "cell" and calculation not in ("vc-relax", "vc-md"):
                continue
            lines.append(f"&{name.upper()}")
            lines.extend(f"  {key} = {_fortran(value)}" for key, value in values.items())
            lines.append("/")
        lines.append("ATOMIC_SPECIES")
        lines.extend(f"  {s.symbol} {s.mass:.6f} {s.filename}" for s in self.species)
        lines.append("CELL_PARAMETERS angstrom")
        lines.extend("  " + " ".join(f"{x:.10f}" for x in row) for row in self.lattice)
        lines.append("ATOMIC_POSITIONS crystal")
        for symbol, coords in zip(self.symbols, self.frac_coords, strict=True):
            lines.append(f"  {symbol} " + " ".join(f"{x:.10f}" for x in coords))
        lines.extend(_kpoints_card(self.kpoints))
        return "\n".join(lines) + "\n"

    def write(self, directory: str | Path) -> None:
        """Write ``pw.in`` and ``pw_input.json`` into ``directory``."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        (path / PW_INPUT_FILE).write_text(self.to_pwin())
        (path / PW_INPUT_JSON).write_text(self.model_dump_json(indent=1))

    @classmethod
    def from_directory(cls, directory: str | Path) -> PwInput:
        """Load the input that :meth:`write` left in ``directory``."""
        return cls.model_validate(json.loads((Path(directory) / PW_INPUT_JSON).read_text()))


def _fortran(value: NamelistValue) -> str:
    if isinstance(value, bool):
        return ".true." if value else ".false."
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return "'" + value.replace("'", "") + "'"


def _kpoints_card(kpoints: KPoints) -> list[str]:
    if kpoints.mode == "gamma":
        return ["K_POINTS gamma"]
    if kpoints.mode == "automatic":
        return ["K_POINTS automatic", "  " + " ".join(map(str, (*kpoints.mesh, *kpoints.shift)))]
    lines = [f"K_POINTS {kpoints.mode}", f"  {len(kpoints.points)}"]
    for i, point in enumerate(kpoints.points):
        line = "  " + " ".join(f"{x:.10f}" for x in point[:3])
        weight = int(point[3]) if kpoints.mode == "crystal_b" else point[3]
        line += f" {weight}"
        label = kpoints.labels[i] if i < len(kpoints.labels) else None
        if label:
            line += f" !{label}"
        lines.append(line)
    return lines
