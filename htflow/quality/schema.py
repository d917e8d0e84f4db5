"""What a quality value is: the self-checks behind a derived property and its level.

Levels (weakest first):

- ``suspect``: a self-check failed, or the settings behind the number are below what the
  property needs (``reasons`` says which);
- ``checked``: every self-check passed;
- ``verified``: checked, and this code, protocol and pseudopotential family were measured
  against reference data within a stated tolerance for every element of the material
  (``verified_by`` names the measurement; see ``htflow/quality/verified.yaml``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

QualityLevel = Literal["verified", "checked", "suspect"]
QUALITY_LEVELS: tuple[QualityLevel, ...] = ("suspect", "checked", "verified")

# The derived properties that carry a quality value, and the material fields each covers.
QUALITY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "energy": ("energy_per_atom", "total_magnetization"),
    "formation_energy": ("formation_energy_per_atom", "energy_above_hull", "is_stable"),
    "band_gap": ("band_gap", "is_metal", "efermi"),
    "dos": ("dos",),
    "elastic": ("elastic_tensor", "k_vrh", "g_vrh", "poisson_ratio", "universal_anisotropy"),
    "eos": ("eos_v0", "eos_b0", "eos_b1"),
}


def quality_property(field: str) -> str | None:
    """The quality key (``elastic``, ``eos`` …) that covers a materials field, or None."""
    head = field.split(".", 1)[0]
    for name, fields in QUALITY_PROPERTIES.items():
        if field in fields or head in fields:
            return name
    return None


class SelfCheck(BaseModel):
    """One self-check of a derived property."""

    name: str = Field(description="What was checked, e.g. 'born_stability', 'eos_v0_in_range'.")
    passed: bool = Field(description="True when the value is within the limit.")
    value: float | None = Field(
        None, description="The measured quantity, in the unit given by 'unit' (None: n/a)."
    )
    limit: float | None = Field(
        None, description="The limit the value was held to, in the unit given by 'unit'."
    )
    unit: str = Field("", description="Unit of value and limit, e.g. 'GPa', '%', 'meV/atom'.")
    detail: str = Field("", description="One line saying what was found, with numbers and units.")


class PropertyQuality(BaseModel):
    """The quality of one derived property of a material, with the evidence."""

    level: QualityLevel = Field(description="verified, checked or suspect.")
    reasons: list[str] = Field(
        default_factory=list,
        description="Why the property is suspect (one line each, with numbers and units); "
        "empty otherwise.",
    )
    checks: list[SelfCheck] = Field(default_factory=list, description="The self-checks run.")
    verified_by: str | None = Field(
        None,
        description="The verification record (property, protocol, family, tolerance, source) "
        "that makes the level 'verified'; None otherwise.",
    )
    settings: dict[str, str | float | int | bool | None] = Field(
        default_factory=dict,
        description="The settings behind the number: k mesh, k-points per reciprocal atom, "
        "smearing and width (Ry), cutoffs (Ry), SCF threshold (Ry).",
    )
