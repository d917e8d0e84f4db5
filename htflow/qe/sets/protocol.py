"""Protocols as data: ``protocols/defaults.yaml`` merged with ``protocols/<name>.yaml``.

The merge order is defaults → protocol → user overrides, key by key (nested mappings merge).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from htflow.exceptions import InputError

PROTOCOL_DIR = Path(__file__).parent / "protocols"
DEFAULTS = "defaults"


class NscfSettings(BaseModel):
    """Non-self-consistent (DOS) settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kpoints_spacing: float = Field(gt=0, description="k-point spacing for the DOS grid (1/Å, 2π).")
    occupations: str = Field(description="pw.x occupations for the DOS run, e.g. tetrahedra_opt.")
    nbnd_factor: float = Field(ge=1, description="nbnd = factor × nelec/2 (at least nelec/2 + 4).")


class BandsSettings(BaseModel):
    """Band-structure (k-path) settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kpoints_spacing: float = Field(
        gt=0, description="Distance between k-points along the high-symmetry path (1/Å, 2π)."
    )
    nbnd_factor: float = Field(ge=1, description="nbnd = factor × nelec/2 (at least nelec/2 + 4).")


class Protocol(BaseModel):
    """A complete, merged protocol. Energies in Ry, forces in Ry/bohr, pressure in kbar."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Protocol name (fast, balanced, stringent).")
    description: str = Field(description="One line on what the protocol is for.")
    kpoints_spacing: float = Field(
        gt=0, description="Reciprocal-space spacing (1/Å, incl. 2π): mesh_i = ceil(|b_i|/spacing)."
    )
    cutoff_scale: float = Field(gt=0, description="Factor on the family's per-element cutoffs.")
    occupations: Literal["smearing", "fixed", "tetrahedra", "tetrahedra_opt"] = Field(
        description="pw.x occupations for scf and relaxations."
    )
    smearing: str = Field(description="pw.x smearing type (cold, gaussian, mv, fd …).")
    degauss: float = Field(ge=0, description="Smearing width (Ry).")
    conv_thr_per_atom: float = Field(gt=0, description="SCF threshold per atom (Ry/atom).")
    mixing_beta: float = Field(gt=0, le=1, description="Charge-density mixing factor.")
    electron_maxstep: int = Field(gt=0, description="Maximum SCF iterations.")
    etot_conv_thr_per_atom: float = Field(
        gt=0, description="Ionic energy threshold per atom (Ry/atom)."
    )
    forc_conv_thr: float = Field(gt=0, description="Ionic force threshold (Ry/bohr).")
    press_conv_thr: float = Field(gt=0, description="Cell pressure threshold (kbar).")
    ion_dynamics: str = Field(description="pw.x ion_dynamics for relaxations.")
    cell_dynamics: str = Field(description="pw.x cell_dynamics for vc-relax.")
    nscf: NscfSettings = Field(description="Settings for nscf (DOS) runs.")
    bands: BandsSettings = Field(description="Settings for band-structure runs.")


def available_protocols() -> list[str]:
    """Names of the protocols shipped with htflow, sorted."""
    return sorted(p.stem for p in PROTOCOL_DIR.glob("*.yaml") if p.stem != DEFAULTS)


def load_protocol(name: str, overrides: dict[str, Any] | None = None) -> Protocol:
    """Merge defaults → protocol ``name`` → ``overrides`` and validate the result.

    Raises
    ------
    InputError
        If the protocol is unknown or an override is not a protocol field or has a bad value.
    """
    known = available_protocols()
    if name not in known:
        raise InputError(f"unknown protocol {name!r}: choose one of {', '.join(known)}")
    data = _merge(_read(DEFAULTS), _read(name))
    data = _merge(data, overrides or {})
    data["name"] = name
    try:
        return Protocol.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(
            f"protocol {name!r}: {where}: {first['msg']}; fix the override or the YAML"
        ) from exc


@cache
def _read(stem: str) -> dict[str, Any]:
    data = yaml.safe_load((PROTOCOL_DIR / f"{stem}.yaml").read_text()) or {}
    if not isinstance(data, dict):
        raise InputError(f"protocols/{stem}.yaml must hold a mapping")
    return data


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    # returns a new dict: the cached YAML data must never be mutated
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
