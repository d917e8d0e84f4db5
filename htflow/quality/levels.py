"""From self-checks to a quality level: suspect if a check failed, verified if a verification
record covers the calculation, checked otherwise."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from htflow.quality.schema import PropertyQuality, SelfCheck
from htflow.quality.verified import find_verification

if TYPE_CHECKING:
    from htflow.quality.task_view import Scalar


@dataclass(frozen=True)
class Calculation:
    """What a verification record is matched against."""

    code: str
    protocol: str
    pseudo_md5: dict[str, str] = field(default_factory=dict)


def property_quality(
    prop: str,
    checks: list[SelfCheck],
    settings: dict[str, Scalar] | None = None,
    calculation: Calculation | None = None,
    extra_reasons: list[str] | None = None,
) -> PropertyQuality:
    """The quality of ``prop`` from its checks.

    Parameters
    ----------
    prop
        Quality key (energy, formation_energy, band_gap, dos, elastic, eos).
    checks
        The self-checks run; any failure makes the property suspect, with the failed
        checks' details as reasons.
    settings
        The settings behind the number (units in the key names: ``_ry``, ``_ev``, …).
    calculation
        Code, protocol and pseudo md5s, for the verification records (None: never verified).
    extra_reasons
        Reasons that do not come from a check of this property (e.g. a suspect reference).
    """
    checks = [_finite(c) for c in checks]
    reasons = [c.detail or c.name for c in checks if not c.passed] + list(extra_reasons or [])
    clean = {k: v for k, v in (settings or {}).items() if not _nan(v)}
    if reasons:
        return PropertyQuality(level="suspect", reasons=reasons, checks=checks, settings=clean)
    record = None
    if calculation is not None:
        record = find_verification(
            prop, calculation.code, calculation.protocol, calculation.pseudo_md5
        )
    return PropertyQuality(
        level="verified" if record else "checked",
        checks=checks,
        settings=clean,
        verified_by=record.label() if record else None,
    )


def _nan(value: object) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _finite(check: SelfCheck) -> SelfCheck:
    """NaN and infinities become None: stored documents must compare equal to themselves."""
    updates = {k: None for k in ("value", "limit") if _nan(getattr(check, k))}
    return check.model_copy(update=updates) if updates else check
