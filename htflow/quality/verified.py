"""Verification records (``verified.yaml``): which code, protocol and pseudopotential files
were measured against reference data, for which property, within which tolerance."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from htflow.exceptions import InputError

VERIFIED_FILE = Path(__file__).parent / "verified.yaml"


class VerificationRecord(BaseModel):
    """One measurement that makes a property 'verified' for materials it covers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    property: str = Field(description="Quality key it verifies (eos, elastic, …).")
    code: str = Field(description="Simulation code, e.g. 'qe'.")
    protocol: str = Field(description="Protocol name, e.g. 'balanced'.")
    family: str = Field(description="Pseudopotential family label (for people; md5s decide).")
    tolerance: str = Field(description="The tolerance met, in words with its numbers.")
    source: str = Field(description="Where the measurement is reported and how to rerun it.")
    elements: dict[str, str] = Field(
        description="Element → md5 (hex) of the pseudopotential file measured within tolerance."
    )

    def covers(self, prop: str, code: str, protocol: str, pseudo_md5: dict[str, str]) -> bool:
        """True when ``prop``, code and protocol match and every element's md5 is measured."""
        if (prop, code, protocol) != (self.property, self.code, self.protocol) or not pseudo_md5:
            return False
        measured = {el: md5.lower() for el, md5 in self.elements.items()}
        return all((md5 or "").lower() == measured.get(el) for el, md5 in pseudo_md5.items())

    def label(self) -> str:
        """One line for ``PropertyQuality.verified_by``."""
        return (
            f"{self.property} with {self.code} '{self.protocol}' and {self.family} "
            f"({', '.join(sorted(self.elements))}): {self.tolerance}; {self.source}"
        )


@cache
def load_verification_records() -> tuple[VerificationRecord, ...]:
    """The shipped records.

    Raises
    ------
    InputError
        When ``verified.yaml`` is broken (one line naming the record and key).
    """
    data = yaml.safe_load(VERIFIED_FILE.read_text()) or []
    records = []
    for n, entry in enumerate(data):
        try:
            records.append(VerificationRecord.model_validate(entry))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            message = f"{VERIFIED_FILE.name}: record {n + 1}: {where}: {first['msg']}"
            raise InputError(message) from exc
    return tuple(records)


def find_verification(
    prop: str, code: str, protocol: str, pseudo_md5: dict[str, str]
) -> VerificationRecord | None:
    """The first record that covers this property, code, protocol and every pseudo md5."""
    return next(
        (r for r in load_verification_records() if r.covers(prop, code, protocol, pseudo_md5)),
        None,
    )
