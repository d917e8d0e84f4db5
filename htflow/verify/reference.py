"""The shipped all-electron reference table (ACWF development subset) and system names.

``data/acwf_dev_subset.json`` is a verbatim copy of the project's reference file. Its numbers
come from E. Bosoni et al., Nat. Rev. Phys. 6, 45 (2024), doi:10.1038/s42254-023-00655-3
(aiidateam/acwf-verification-scripts @ e8a0a44); the file's ``citation`` and ``source`` fields
say so and must travel with it.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Element

from htflow.exceptions import InputError
from htflow.verify.metrics import EosParams

DATA_FILE = Path(__file__).parent / "data" / "acwf_dev_subset.json"
CONFIGURATIONS = ("FCC", "BCC", "SC", "Diamond", "XO")
REFERENCE_KEY = "AE-average"


class SystemId(BaseModel):
    """An ACWF system: element and configuration (``XO`` is the rocksalt oxide)."""

    model_config = ConfigDict(frozen=True)

    element: str = Field(description="Element symbol (the cation for XO).")
    configuration: str = Field(description="FCC, BCC, SC, Diamond or XO.")

    @property
    def label(self) -> str:
        """Short display name, e.g. ``Si/Diamond`` or ``MgO/XO``."""
        if self.configuration == "XO":
            return f"{self.element}O/XO"
        return f"{self.element}/{self.configuration}"

    @property
    def acwf_name(self) -> str:
        """The study's name, e.g. ``Si-X/Diamond`` or ``Mg-XO``."""
        if self.configuration == "XO":
            return f"{self.element}-XO"
        return f"{self.element}-X/{self.configuration}"


class ReferenceSystem(BaseModel):
    """Reference and published results for one system (per atom)."""

    system: SystemId = Field(description="The system.")
    reference: EosParams = Field(description="All-electron average (WIEN2k, FLEUR) BM parameters.")
    other_codes: dict[str, EosParams] = Field(
        default_factory=dict, description="Published results of other codes (QE-SSSP, VASP)."
    )
    source: str = Field(description="Where the reference numbers come from.")


def parse_system(text: str) -> SystemId:
    """Parse ``Si/Diamond``, ``Si-X/Diamond``, ``al/fcc``, ``MgO``, ``MgO/XO`` or ``Mg-XO``.

    Raises
    ------
    InputError
        If the name is not ``ELEMENT/CONFIGURATION`` with a known configuration.
    """
    raw = text.strip()
    by_lower = {c.lower(): c for c in CONFIGURATIONS}
    match = re.fullmatch(r"([A-Za-z]{1,2})(?:-X)?/([A-Za-z]+)", raw)
    oxide = re.fullmatch(r"([A-Za-z]{1,2})(?:O(?:/XO)?|-XO|/XO)", raw)
    if oxide and not match:
        symbol, configuration = oxide.group(1), "XO"
    elif match and match.group(2).lower() in by_lower:
        symbol, configuration = match.group(1), by_lower[match.group(2).lower()]
    else:
        raise InputError(
            f"unknown system {text!r}: write ELEMENT/CONFIGURATION with configuration one of "
            f"{', '.join(CONFIGURATIONS)} (e.g. Si/Diamond, Al/FCC, MgO/XO)"
        )
    symbol = symbol.capitalize()
    if not Element.is_valid_symbol(symbol):
        raise InputError(f"unknown element {symbol!r} in system {text!r}: use a chemical symbol")
    return SystemId(element=symbol, configuration=configuration)


@cache
def _data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA_FILE.read_text())
    return data


def citation() -> str:
    """The citation of the shipped reference numbers."""
    return str(_data()["citation"])


def _params(entry: dict[str, Any]) -> EosParams:
    return EosParams(v0=entry["V0_A3_per_atom"], b0=entry["B0_GPa"], b1=entry["B1"])


def reference_systems() -> dict[str, ReferenceSystem]:
    """Every system of the shipped table, by :attr:`SystemId.label`."""
    data = _data()
    systems = {}
    for entry in data["systems"]:
        configuration = "XO" if entry["configuration"] == "XO" else entry["configuration"]
        system = SystemId(element=entry["element"], configuration=configuration)
        systems[system.label] = ReferenceSystem(
            system=system,
            reference=_params(entry["reference"][REFERENCE_KEY]),
            other_codes={k: _params(v) for k, v in entry.get("other_codes", {}).items()},
            source=f"{data['citation']}; {data['source']}",
        )
    return systems


def get_reference(system: SystemId, given: EosParams | None = None) -> ReferenceSystem:
    """The reference of ``system``: ``given`` (user-supplied) or the shipped table's.

    Raises
    ------
    InputError
        If the table lacks ``system`` and no reference is given.
    """
    if given is not None:
        return ReferenceSystem(system=system, reference=given, source="user-supplied")
    known = reference_systems()
    if system.label not in known:
        raise InputError(
            f"no shipped reference for {system.label} (table: {', '.join(known)}): "
            "pass --reference V0,B0,B1 (Å³/atom, GPa, dimensionless)"
        )
    return known[system.label]


def parse_reference(text: str) -> EosParams:
    """Parse ``V0,B0,B1`` (Å³/atom, GPa, dimensionless).

    Raises
    ------
    InputError
        If the text is not three positive numbers (B1 may be any number).
    """
    parts = text.split(",")
    try:
        v0, b0, b1 = (float(p) for p in parts)
    except ValueError as exc:
        raise InputError(
            f"bad --reference {text!r}: give V0,B0,B1 as three numbers (Å³/atom, GPa, -)"
        ) from exc
    if v0 <= 0 or b0 <= 0:
        raise InputError(f"bad --reference {text!r}: V0 and B0 must be positive")
    return EosParams(v0=v0, b0=b0, b1=b1)
