"""Candidate sources: structure files, prototypes × substitutions, Materials Project, OPTIMADE."""

from __future__ import annotations

from typing import TYPE_CHECKING

from htflow.campaign.sources.files import read_structure_file, structures_from_files
from htflow.campaign.sources.prototypes import PROTOTYPE_SITES, prototype_structure, substitutions
from htflow.campaign.sources.remote import from_materials_project, from_optimade

if TYPE_CHECKING:
    from pathlib import Path

    from htflow.campaign.candidate import Candidate
    from htflow.campaign.spec import Sources

__all__ = [
    "PROTOTYPE_SITES",
    "generate_candidates",
    "prototype_structure",
    "read_structure_file",
    "structures_from_files",
    "substitutions",
]


def generate_candidates(
    sources: Sources, base_dir: Path, *, network: bool = True
) -> tuple[list[Candidate], list[str]]:
    """Every candidate of ``sources`` (files relative to ``base_dir``) and notes on skips.

    ``network=False`` skips the Materials Project and OPTIMADE sources (with a note).
    """
    notes: list[str] = []
    candidates = structures_from_files(sources.files, base_dir)
    for index, entry in enumerate(sources.prototypes):
        candidates += substitutions(entry, index)
    if sources.materials_project:
        found, note = from_materials_project(sources.materials_project, network=network)
        candidates += found
        notes += [note] if note else []
    for index, query in enumerate(sources.optimade):
        found, note = from_optimade(query, index, network=network)
        candidates += found
        notes += [note] if note else []
    return candidates, notes
