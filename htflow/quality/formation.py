"""The quality of a formation energy (and of the hull distance and stability read from it):
suspect when the material's own energy or any elemental reference's energy is suspect."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from htflow.quality.levels import property_quality
from htflow.quality.schema import PropertyQuality, SelfCheck

if TYPE_CHECKING:
    from htflow.quality.levels import Calculation
    from htflow.quality.task_view import Scalar


def formation_energy_quality(
    material_id: str,
    energy: PropertyQuality | dict[str, Any] | None,
    references: dict[str, tuple[str, PropertyQuality | dict[str, Any] | None]],
    calculation: Calculation | None = None,
) -> PropertyQuality:
    """Quality of a formation energy from the energy qualities it is made of.

    Parameters
    ----------
    material_id
        The material's id (an elemental material may be its own reference).
    energy
        The material's energy quality (a stored dict or a model; None when unknown).
    references
        Element → (material_id of its reference, that reference's energy quality).
    calculation
        For a verification record of ``formation_energy`` (none exists yet).
    """
    checks = [_energy_check("energy_quality", "the material's own energy", energy)]
    settings: dict[str, Scalar] = {}
    for element, (ref_id, quality) in sorted(references.items()):
        settings[f"reference_{element}"] = ref_id
        if ref_id != material_id:
            what = f"reference {element} ({ref_id}) energy"
            checks.append(_energy_check(f"reference_{element}_energy_quality", what, quality))
    found = [c for c in checks if c is not None]
    return property_quality("formation_energy", found, settings, calculation)


def _energy_check(
    name: str, what: str, quality: PropertyQuality | dict[str, Any] | None
) -> SelfCheck | None:
    if quality is None:
        return None
    q = quality if isinstance(quality, PropertyQuality) else PropertyQuality.model_validate(quality)
    passed = q.level != "suspect"
    detail = f"{what} is {q.level}"
    if not passed and q.reasons:
        detail += f": {q.reasons[0]}"
    return SelfCheck(name=name, passed=passed, detail=detail)
