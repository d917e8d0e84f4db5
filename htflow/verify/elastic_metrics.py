"""Comparing a computed elastic tensor with a reference one, and the acceptance thresholds.

Both tensors are 6×6 Voigt matrices (GPa) in the IEEE frame. Compared are every
symmetry-distinct component (for cubic crystals C11, C12, C44), the largest |ΔC_ij| over the
full matrix, and the Voigt averages K_V and G_V computed from the tensor with pymatgen's
``ElasticTensor`` (against the reference file's K_V and G_V, also Voigt averages).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.analysis.elasticity import ElasticTensor
from pymatgen.core.operations import SymmOp

from htflow.quality.schema import SelfCheck

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from htflow.verify.elastic_reference import ElasticReference

# Relative tolerance below which two components of the symmetrized random tensor are the same
# component (or zero): symmetrization leaves ~1e-15 rounding, distinct components differ by O(1).
_SAME = 1e-6


class ElasticAcceptance(BaseModel):
    """The project's acceptance thresholds for elastic moduli against a reference.

    They are acceptance thresholds, not the reference's precision: the Materials Project's own
    values carry 5–15 % numerical noise for metals (k-point sampling of the strained cells;
    de Jong et al., Sci. Data 2, 150009 (2015)), and shear moduli are the more
    sampling-sensitive, hence the wider shear threshold.
    """

    model_config = ConfigDict(frozen=True)

    bulk_relative: float = Field(
        0.10, gt=0, description="Largest accepted |K_V − K_V,ref| / K_V,ref (fraction)."
    )
    shear_relative: float = Field(
        0.15, gt=0, description="Largest accepted |G_V − G_V,ref| / G_V,ref (fraction)."
    )


ACCEPTANCE = ElasticAcceptance()


class ElasticComponent(BaseModel):
    """One symmetry-distinct component, e.g. C11 = C22 = C33 in a cubic crystal."""

    label: str = Field(description="Voigt label of the first member, e.g. 'C11'.")
    members: list[str] = Field(description="Every Voigt component symmetry makes equal to it.")
    computed: float = Field(description="Computed value, mean over the members (GPa).")
    reference: float = Field(description="Reference value, mean over the members (GPa).")

    @property
    def delta(self) -> float:
        """Computed − reference (GPa)."""
        return self.computed - self.reference


class ElasticComparison(BaseModel):
    """A computed elastic tensor against its reference, and the verdict."""

    components: list[ElasticComponent] = Field(
        description="Symmetry-distinct non-zero components (GPa)."
    )
    max_abs_delta_cij: float = Field(
        description="Largest |C_ij − C_ij,ref| over the full 6×6 Voigt matrices (GPa)."
    )
    k_voigt: float = Field(description="Voigt bulk modulus of the computed tensor (GPa).")
    g_voigt: float = Field(description="Voigt shear modulus of the computed tensor (GPa).")
    k_voigt_reference: float = Field(description="Reference Voigt bulk modulus (GPa).")
    g_voigt_reference: float = Field(description="Reference Voigt shear modulus (GPa).")
    k_relative_error: float = Field(description="|K_V − K_V,ref| / K_V,ref (fraction).")
    g_relative_error: float = Field(description="|G_V − G_V,ref| / G_V,ref (fraction).")
    born_stable: bool = Field(
        description="Every eigenvalue of the computed Voigt matrix is positive (Born stability)."
    )
    verdict: Literal["within", "outside"] = Field(
        description="'within' when both relative errors are within the acceptance thresholds."
    )


def voigt_label(i: int, j: int) -> str:
    """``C11`` … ``C66`` for 0-based Voigt indices."""
    return f"C{i + 1}{j + 1}"


def symmetry_distinct_components(structure: Structure) -> list[list[tuple[int, int]]]:
    """Groups of upper-triangle Voigt indices (0-based) that symmetry makes equal, IEEE frame.

    A generic symmetric tensor is averaged over the point group of ``structure`` rotated into
    the IEEE frame (pymatgen's ``fit_to_structure``): components forced equal come out equal,
    components forced to zero come out zero (and are left out), for any crystal system.
    Linear relations such as C66 = (C11 − C12)/2 (hexagonal) leave their own group.
    """
    ieee = structure.copy()
    rotation = ElasticTensor.get_ieee_rotation(structure)
    ieee.apply_operation(SymmOp.from_rotation_and_translation(rotation), fractional=False)
    generic = np.random.default_rng(0).uniform(1.0, 2.0, (6, 6))
    voigt = ElasticTensor.from_voigt(generic + generic.T).fit_to_structure(ieee).voigt
    scale = float(np.abs(voigt).max())
    groups: list[list[tuple[int, int]]] = []
    for i in range(6):
        for j in range(i, 6):
            value = voigt[i, j]
            if abs(value) < _SAME * scale:
                continue
            for group in groups:
                if abs(voigt[group[0]] - value) < _SAME * scale:
                    group.append((i, j))
                    break
            else:
                groups.append([(i, j)])
    return groups


def compare_elastic(
    computed_voigt: list[list[float]] | np.ndarray,
    reference: ElasticReference,
    structure: Structure,
    acceptance: ElasticAcceptance = ACCEPTANCE,
) -> ElasticComparison:
    """Compare a computed IEEE-frame Voigt tensor (GPa) with ``reference``.

    Parameters
    ----------
    computed_voigt
        The computed 6×6 Voigt tensor in the IEEE frame (GPa).
    reference
        The reference entry (its tensor is IEEE-frame Voigt, GPa).
    structure
        The crystal, for its symmetry-distinct components (any orientation).
    acceptance
        Thresholds on |ΔK_V|/K_V and |ΔG_V|/G_V.
    """
    computed = np.asarray(computed_voigt, dtype=float)
    ref = np.asarray(reference.elastic_tensor, dtype=float)
    components = [
        ElasticComponent(
            label=voigt_label(*group[0]),
            members=[voigt_label(i, j) for i, j in group],
            computed=float(np.mean([computed[ij] for ij in group])),
            reference=float(np.mean([ref[ij] for ij in group])),
        )
        for group in symmetry_distinct_components(structure)
    ]
    tensor = ElasticTensor.from_voigt(computed)
    k_voigt, g_voigt = float(tensor.k_voigt), float(tensor.g_voigt)
    k_error = abs(k_voigt - reference.k_voigt) / reference.k_voigt
    g_error = abs(g_voigt - reference.g_voigt) / reference.g_voigt
    within = k_error <= acceptance.bulk_relative and g_error <= acceptance.shear_relative
    return ElasticComparison(
        components=components,
        max_abs_delta_cij=float(np.abs(computed - ref).max()),
        k_voigt=k_voigt,
        g_voigt=g_voigt,
        k_voigt_reference=reference.k_voigt,
        g_voigt_reference=reference.g_voigt,
        k_relative_error=k_error,
        g_relative_error=g_error,
        born_stable=born_stable(computed),
        verdict="within" if within else "outside",
    )


REFERENCE_CHECKS = ("k_voigt_vs_reference", "g_voigt_vs_reference")


def reference_checks(
    comparison: ElasticComparison, reference_id: str, acceptance: ElasticAcceptance = ACCEPTANCE
) -> list[SelfCheck]:
    """The comparison with the reference as two checks, one per Voigt modulus.

    Added to a verified tensor's own self-checks, a modulus outside the acceptance makes the
    material ``suspect`` with a reason naming the modulus, both values and the threshold. The
    tensor's own checks stay in the list beside them, so the flag says which side to doubt.
    """
    moduli = (
        ("K_V", comparison.k_voigt, comparison.k_voigt_reference, acceptance.bulk_relative),
        ("G_V", comparison.g_voigt, comparison.g_voigt_reference, acceptance.shear_relative),
    )
    checks = []
    for name, (label, value, ref, limit) in zip(REFERENCE_CHECKS, moduli, strict=True):
        error = abs(value - ref) / ref
        checks.append(
            SelfCheck(
                name=name,
                passed=error <= limit,
                value=100 * error,
                limit=100 * limit,
                unit="%",
                detail=f"{label} {value:.1f} GPa is {error:.1%} from {reference_id}'s "
                f"{ref:.1f} GPa (accepted: {limit:.0%})".replace("%", " %"),
            )
        )
    return checks


def born_stable(voigt: list[list[float]] | np.ndarray) -> bool:
    """True when every eigenvalue of the symmetric part of the Voigt matrix is positive.

    The necessary and sufficient Born condition for any crystal system (Mouhat & Coudert,
    Phys. Rev. B 90, 224104 (2014)).
    """
    matrix = np.asarray(voigt, dtype=float)
    return bool(np.linalg.eigvalsh((matrix + matrix.T) / 2).min() > 0)


__all__ = [
    "ACCEPTANCE",
    "REFERENCE_CHECKS",
    "ElasticAcceptance",
    "ElasticComparison",
    "ElasticComponent",
    "born_stable",
    "compare_elastic",
    "reference_checks",
    "symmetry_distinct_components",
    "voigt_label",
]
