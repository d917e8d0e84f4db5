"""Stress unit helpers shared by the elastic flow."""

from __future__ import annotations

from jobflow import job

GPA_TO_KBAR = 10.0


def gpa_to_kbar(stress: list[list[float]] | None) -> list[list[float]] | None:
    """A 3×3 stress from GPa to kbar (the unit atomate2's elastic fit expects)."""
    if stress is None:
        return None
    return [[GPA_TO_KBAR * value for value in row] for row in stress]


@job
def stress_gpa_to_kbar(stress: list[list[float]] | None) -> list[list[float]] | None:
    """Job form of :func:`gpa_to_kbar`, for a stress a previous job produces."""
    return gpa_to_kbar(stress)
