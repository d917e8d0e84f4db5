"""ElasticDocuments made from a known tensor, the way atomate2 makes them from runs.

atomate2's own strain set (``generate_elastic_deformations``: ±0.5 %, ±1 % normal, shear
1 % and 2 % engineering, reduced by symmetry) is applied to a structure; each strained cell's
Cauchy stress is the one a tensor ``C`` gives exactly (PK2 = C : E, Cauchy = F·PK2·Fᵀ / det F),
optionally with an error added to one cell; ``ElasticDocument.from_stresses`` then expands by
symmetry and fits, as after real runs. The result is the document as jobflow stores it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from atomate2.common.jobs.elastic import generate_elastic_deformations
from atomate2.common.schemas.elastic import ElasticDocument
from monty.json import jsanitize
from pymatgen.analysis.elasticity import ElasticTensor, Stress
from pymatgen.core import Lattice, Structure

if TYPE_CHECKING:
    from collections.abc import Callable


def diamond(a: float = 5.47) -> Structure:
    """Diamond Si, primitive cell (Å)."""
    lattice = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    return Structure(lattice, ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])


def hcp(a: float = 3.21, c: float = 5.21) -> Structure:
    """hcp Mg (Å)."""
    return Structure.from_spacegroup(
        "P6_3/mmc", Lattice.hexagonal(a, c), ["Mg"], [[1 / 3, 2 / 3, 0.25]]
    )


def cubic_voigt(c11: float, c12: float, c44: float) -> np.ndarray:
    """A cubic 6×6 tensor (GPa)."""
    voigt = np.zeros((6, 6))
    voigt[:3, :3] = c12
    np.fill_diagonal(voigt[:3, :3], c11)
    voigt[3, 3] = voigt[4, 4] = voigt[5, 5] = c44
    return voigt


def hexagonal_voigt(c11: float, c12: float, c13: float, c33: float, c44: float) -> np.ndarray:
    """A hexagonal 6×6 tensor (GPa), c along z."""
    voigt = np.zeros((6, 6))
    voigt[0, 0] = voigt[1, 1] = c11
    voigt[0, 1] = voigt[1, 0] = c12
    voigt[0, 2] = voigt[2, 0] = voigt[1, 2] = voigt[2, 1] = c13
    voigt[2, 2] = c33
    voigt[3, 3] = voigt[4, 4] = c44
    voigt[5, 5] = (c11 - c12) / 2
    return voigt


def elastic_document(
    structure: Structure,
    voigt: np.ndarray,
    error: Callable[[np.ndarray], np.ndarray | None] | None = None,
    eq_stress: np.ndarray | None = None,
) -> dict[str, Any]:
    """The stored ElasticDocument for ``structure`` with the exact response of ``voigt``.

    Parameters
    ----------
    error
        Called with each cell's Voigt strain; returns a Cauchy stress (GPa, tension
        positive) to add to that cell, or None.
    eq_stress
        Stress of the unstrained cell (GPa, tension positive), added to every cell too.
    """
    tensor = ElasticTensor.from_voigt(voigt)
    deformations = generate_elastic_deformations.original(structure)
    zero = np.zeros((3, 3)) if eq_stress is None else np.asarray(eq_stress)
    stresses = []
    for deformation in deformations:
        strain = deformation.green_lagrange_strain
        pk2 = np.asarray(tensor.calculate_stress(strain)) + zero
        f = np.asarray(deformation)
        cauchy = f @ pk2 @ f.T / np.linalg.det(f)
        extra = error(strain.voigt) if error else None
        if extra is not None:
            cauchy = cauchy + extra
        stresses.append(Stress(-10.0 * cauchy))  # atomate2 reads VASP kbar, compressive > 0
    uuids = [f"cell-{n}" for n in range(len(deformations))]
    doc = ElasticDocument.from_stresses(
        structure,
        stresses,
        deformations,
        uuids,
        [f"/runs/{u}" for u in uuids],
        equilibrium_stress=None if eq_stress is None else (-10.0 * zero).tolist(),
    )
    return jsanitize(doc, strict=True, allow_bson=True, enum_values=True)


def strained_task(mesh: tuple[int, int, int], nsites: int, is_metal: bool) -> dict[str, Any]:
    """The parts of a stored PwTaskDoc of a strained cell that the checks read."""
    return {
        "@class": "PwTaskDoc",
        "calculation": "relax",
        "input": {
            "pw_input": {
                "system": {"ecutwfc": 30.0, "ecutrho": 240.0, "occupations": "smearing",
                           "smearing": "cold", "degauss": 0.02},
                "electrons": {"conv_thr": 1e-10},
                "kpoints": {"mode": "automatic", "mesh": list(mesh)},
                "symbols": ["Si"] * nsites,
            }
        },
        "output": {"is_metal": is_metal, "scf_converged": True, "ionic_converged": True},
    }  # fmt: skip
