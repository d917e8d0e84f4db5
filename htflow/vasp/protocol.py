"""VASP protocols (fast, balanced, stringent): atomate2 generator settings kept as YAML data.

Each protocol names the base input set (``mp_gga``: pymatgen's ``MPRelaxSet`` configuration,
PBE POTCARs and MP's Hubbard U values, so energies stay MP-compatible) and, per job type,
INCAR settings and k-point densities that become the generators' ``user_incar_settings``
and ``user_kpoints_settings``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from htflow.exceptions import InputError

PROTOCOL_DIR = Path(__file__).parent / "protocols"
# Keys atomate2/pymatgen read from user_kpoints_settings (per reciprocal atom, or per atom).
KPOINT_KEYS = frozenset({"reciprocal_density", "grid_density", "length"})


class JobSettings(BaseModel):
    """INCAR and k-point settings for one job type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    incar: dict[str, Any] = Field(
        default_factory=dict,
        description="INCAR tags over the input set (ENCUT in eV, EDIFF and EDIFF_PER_ATOM in "
        "eV, EDIFFG in eV/Å when negative).",
    )
    kpoints: dict[str, float] = Field(
        default_factory=dict,
        description="k-point density: reciprocal_density (k-points per Å⁻³), grid_density "
        "(k-points per atom) or length (Å).",
    )

    @field_validator("incar")
    @classmethod
    def _upper(cls, value: dict[str, Any]) -> dict[str, Any]:
        return {key.upper(): val for key, val in value.items()}

    @field_validator("kpoints")
    @classmethod
    def _kpoint_keys(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - KPOINT_KEYS
        if unknown:
            raise ValueError(f"unknown k-point keys {sorted(unknown)}; use {sorted(KPOINT_KEYS)}")
        return value


class EosSettings(BaseModel):
    """Equation-of-state sampling."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    number_of_frames: int = Field(6, ge=4, description="Strained cells in the fit (count).")
    linear_strain: tuple[float, float] = Field(
        (-0.05, 0.05), description="Smallest and largest linear strain (fraction, not %)."
    )


class VaspProtocol(BaseModel):
    """One VASP protocol: atomate2 generator settings per job type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Protocol name (the YAML file's stem).")
    description: str = Field(description="One line on the precision and cost.")
    input_set: Literal["mp_gga", "atomate2"] = Field(
        "mp_gga",
        description="Base configuration: 'mp_gga' (pymatgen MPRelaxSet: PBE, MP Hubbard U) or "
        "'atomate2' (atomate2's PBEsol base set).",
    )
    double_relax: bool = Field(True, description="Relax twice (Pulay stress) before the static.")
    relax: JobSettings = Field(default_factory=JobSettings, description="Relaxations.")
    static: JobSettings = Field(default_factory=JobSettings, description="Static runs.")
    nscf_uniform_density: int = Field(
        500, ge=1, description="Uniform non-SCF (DOS) k-points per Å⁻³ (reciprocal density)."
    )
    nscf_line_density: int = Field(
        20, ge=1, description="Band-structure line k-points per Å⁻¹ (line density)."
    )
    elastic: JobSettings = Field(
        default_factory=JobSettings, description="Deformed-cell relaxations of the elastic flow."
    )
    eos: EosSettings = Field(default_factory=EosSettings, description="EOS sampling.")
    max_errors: int = Field(
        5, ge=0, description="Most custodian corrections per VASP run before it fails (count)."
    )


def available_protocols() -> list[str]:
    """Names of the shipped VASP protocols, sorted."""
    return sorted(p.stem for p in PROTOCOL_DIR.glob("*.yaml"))


def load_protocol(name: str) -> VaspProtocol:
    """Load and validate the VASP protocol ``name`` (``htflow/vasp/protocols/<name>.yaml``).

    Raises
    ------
    InputError
        Unknown protocol or an invalid file, in one line.
    """
    path = PROTOCOL_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(available_protocols())
        raise InputError(f"unknown VASP protocol {name!r}: use one of {known}")
    data = yaml.safe_load(path.read_text()) or {}
    try:
        return VaspProtocol.model_validate({"name": name, **data})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise InputError(f"{path}: key {key!r}: {first['msg']}") from exc
