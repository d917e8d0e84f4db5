"""Checks run before any input is generated: structure sanity and namelist overrides."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from htflow.exceptions import InputError
from htflow.qe.rundir import NAMELISTS

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from htflow.qe.pseudos import PseudoFamily

MIN_DISTANCE = 0.5  # Å: closer sites are a broken structure, never a real material
PW_KEYS_FILE = Path(__file__).parent / "pw_keys.yaml"
_INDEX_RE = re.compile(r"\(.*\)$")


def check_structure(structure: Structure) -> None:
    """Refuse empty, disordered or overlapping structures (InputError, one line)."""
    if len(structure) == 0:
        raise InputError("the structure has no sites: give a structure with atoms")
    if not structure.is_ordered:
        formula = structure.composition.reduced_formula
        raise InputError(
            f"structure {formula} is disordered (partial occupancies): "
            "order it first, e.g. with pymatgen's OrderDisorderedStructureTransformation"
        )
    # the neighbour list includes periodic images, so a tiny cell overlapping itself is caught
    centers, neighbors, _, distances = structure.get_neighbor_list(MIN_DISTANCE)
    if len(distances):
        k = int(distances.argmin())
        i, j = int(centers[k]), int(neighbors[k])
        raise InputError(
            f"sites {i} ({structure[i].specie}) and {j} ({structure[j].specie}) are "
            f"{distances[k]:.3f} Å apart (minimum {MIN_DISTANCE} Å): fix the structure"
        )


def check_elements(structure: Structure, family: PseudoFamily) -> None:
    """Every element of ``structure`` must have a pseudopotential in ``family``."""
    missing = family.missing(s.specie.symbol for s in structure)
    if missing:
        raise InputError(
            f"element(s) {missing}: choose another family (pseudo_family=...) or register "
            "one that covers them with `htflow pseudos add`"
        )


@cache
def accepted_keys() -> dict[str, frozenset[str]]:
    """pw.x 6.7 namelist variables per namelist (lower case, no index), plus ``derived``."""
    data: dict[str, list[str]] = yaml.safe_load(PW_KEYS_FILE.read_text())
    return {name: frozenset(keys) for name, keys in data.items()}


def normalize_overrides(overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Check namelist overrides against pw.x 6.7 and return them with lower-case names.

    Keys keep their index (``starting_magnetization(1)``); the index is ignored for the check.
    """
    keys = accepted_keys()
    normalized: dict[str, dict[str, Any]] = {}
    for namelist, values in overrides.items():
        name = namelist.lower()
        if name not in NAMELISTS:
            raise InputError(
                f"unknown override section {namelist!r}: use one of "
                f"{', '.join(NAMELISTS)} (or 'protocol' for protocol fields)"
            )
        if not isinstance(values, dict):
            raise InputError(f"override {namelist!r} must be a mapping of pw.x keys to values")
        section: dict[str, Any] = {}
        for key, value in values.items():
            lowered = key.lower()
            base = _INDEX_RE.sub("", lowered)
            if base in keys["derived"]:
                raise InputError(
                    f"override {name}.{key} is derived from the structure: change the structure"
                )
            if base not in keys[name]:
                raise InputError(
                    f"unknown key {key!r} in &{name.upper()} (pw.x 6.7): check the spelling "
                    "or the namelist it belongs to"
                )
            section[lowered] = value
        normalized[name] = section
    return normalized
