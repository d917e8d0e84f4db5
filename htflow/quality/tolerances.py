"""The limits of the self-checks, as data (``tolerances.yaml``, each with its source)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from htflow.exceptions import InputError

TOLERANCES_FILE = Path(__file__).parent / "tolerances.yaml"


class ElasticTolerances(BaseModel):
    """Limits of the elastic-tensor checks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    born_min_eigenvalue_gpa: float = Field(
        description="Smallest allowed eigenvalue of the 6×6 Voigt tensor (GPa)."
    )
    agreement_relative: float = Field(
        gt=0, description="Relative part of the fit-agreement limit (fraction, e.g. 0.15)."
    )
    agreement_absolute_gpa: float = Field(
        gt=0, description="Absolute part of the fit-agreement limit (GPa)."
    )
    symmetry_relative: float = Field(
        gt=0, description="Largest symmetry-forbidden or asymmetric part / max |C| (fraction)."
    )
    residual_stress_gpa: float = Field(
        gt=0, description="Largest component of the unstrained cell's stress (GPa)."
    )

    def agreement_limit(self, scale: float) -> float:
        """max(relative × |scale|, absolute) in GPa."""
        return max(self.agreement_relative * abs(scale), self.agreement_absolute_gpa)


class EosTolerances(BaseModel):
    """Limits of the equation-of-state checks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    residual_rms_mev_per_atom: float = Field(
        gt=0, description="Largest RMS of E_i - E_BM(V_i) (meV/atom)."
    )
    b1_min: float = Field(description="Smallest physical B1 (dimensionless).")
    b1_max: float = Field(description="Largest physical B1 (dimensionless).")


class EnergyTolerances(BaseModel):
    """Limits of the energy checks beyond the k-point needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    smearing_entropy_mev_per_atom: float = Field(
        gt=0, description="Largest |-TS| per atom of a gapped smeared SCF (meV/atom)."
    )


class BandGapTolerances(BaseModel):
    """Limits of the Fermi-level and smearing checks of gapped systems."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    efermi_tolerance_ev: float = Field(
        ge=0, description="How far E_F may sit outside [homo, lumo] (eV)."
    )
    smearing_entropy_mev_per_atom: float = Field(
        gt=0, description="Largest |-TS| per atom of a gapped smeared SCF (meV/atom)."
    )


class Tolerances(BaseModel):
    """Every self-check limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    energy: EnergyTolerances = Field(description="Energy checks.")
    elastic: ElasticTolerances = Field(description="Elastic tensor checks.")
    eos: EosTolerances = Field(description="Equation-of-state checks.")
    band_gap: BandGapTolerances = Field(description="Band gap and Fermi-level checks.")


@cache
def load_tolerances() -> Tolerances:
    """The shipped limits.

    Raises
    ------
    InputError
        When ``tolerances.yaml`` is broken (one line naming the key).
    """
    data = yaml.safe_load(TOLERANCES_FILE.read_text()) or {}
    try:
        return Tolerances.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{TOLERANCES_FILE.name}: {where}: {first['msg']}") from exc
