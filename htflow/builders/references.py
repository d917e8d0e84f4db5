"""Elemental references: which a set of materials lacks.

A formation energy needs, for every element, a one-element material computed with the same
code, protocol and pseudo family. The builder reports the missing ones
(:func:`missing_references`); the campaign layer adds calculations of
:func:`htflow.campaign.sources.elements.reference_structures` for them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from htflow.db.materials import MaterialDoc


def missing_references(materials: Iterable[MaterialDoc | dict[str, Any]]) -> list[str]:
    """Elements of ``materials`` that have no one-element material of the same identity.

    Identity is (code, protocol, pseudo family): a Si reference on the fast protocol does not
    serve a balanced-protocol SiC. Returns sorted element symbols (each once).
    """
    present: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    needed: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for m in materials:
        d = (
            m
            if isinstance(m, dict)
            else m.model_dump(include={"code", "protocol", "pseudo_family", "elements"})
        )
        key = (d["code"], d["protocol"], d["pseudo_family"])
        needed[key].update(d["elements"])
        if len(d["elements"]) == 1:
            present[key].add(d["elements"][0])
    return sorted({el for key, els in needed.items() for el in els - present[key]})
