"""A candidate: one structure and the source entry it came from (named in every error)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymatgen.core import Structure


@dataclass(frozen=True)
class Candidate:
    """One candidate structure of a campaign.

    Attributes
    ----------
    structure
        The structure (Å).
    entry
        The spec entry that produced it, as errors name it: ``sources.files[0] GaAs.cif``,
        ``sources.prototypes[1] rocksalt A=Na B=Cl``, ``sources.materials_project[0] mp-149``.
    source
        ``files``, ``prototypes``, ``materials_project`` or ``optimade``.
    """

    structure: Structure
    entry: str
    source: str

    @property
    def formula(self) -> str:
        """Reduced formula."""
        return str(self.structure.composition.reduced_formula)
