"""The sampling of an elastic flow's strained cells, decided after the bulk relaxation.

The bulk relaxes at the protocol's sampling; its band gap then says whether the strained
cells need a metal's or an insulator's k-point density and smearing width
(``properties.yaml``, ``elastic``). Then, only where needed:

- when the cells' mesh is denser than the bulk's, or their cutoffs differ (a property's
  ``min_cutoff_scale`` raised them), the bulk relaxes once more with the cells' mesh and
  basis (with the protocol's smearing width: a wide width biases the volume), so that the
  cells are strained about the equilibrium of the settings they are computed with;
- when the cells' smearing width differs from that relaxation's, one SCF of the relaxed
  cell with the cells' exact settings gives the equilibrium stress the fit subtracts, so
  the width's bias on the absolute stress cancels and only stress differences remain.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from jobflow import Flow, Job, Response, job

from htflow.qe.jobs import StaticMaker, serving, with_mesh_of
from htflow.qe.stress import gpa_to_kbar, stress_gpa_to_kbar

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from htflow.qe.jobs import BasePwMaker

# The bulk relaxed once more on the strained cells' mesh (a material's energy, not strained).
AGAIN_RELAX_NAME = "elastic bulk relax"


@job(name="elastic sampling")
def elastic_sampling(
    structure: Structure,
    is_metal: bool | None,
    bulk_mesh: Any,
    bulk_stress: list[list[float]] | None,
    bulk_system: dict[str, Any] | None = None,
    *,
    relax_maker: BasePwMaker,
    elastic_maker: BasePwMaker,
) -> Response | dict[str, Any]:
    """The strained cells' maker and the equilibrium they are strained about.

    Parameters
    ----------
    structure, is_metal, bulk_mesh, bulk_stress, bulk_system
        The relaxed bulk: structure (Å), metallicity, k mesh, stress (GPa) and its pw.x
        ``&system`` namelist (for the smearing width, Ry).
    relax_maker
        The bulk's vc-relax maker, used again at the elastic mesh when it is denser.
    elastic_maker
        The strained cells' maker.

    Returns
    -------
    dict
        ``maker`` (strained cells, k mesh fixed), ``structure`` and ``stress`` (kbar, the
        unit atomate2's fit expects) of the equilibrium; replaced by a Flow with one more
        vc-relax and/or one reference SCF when the bulk's sampling is not the cells'.
    """
    cells = with_mesh_of(serving(elastic_maker, "elastic", is_metal), structure)
    mesh = cells.input_set_generator.kpoints_mesh
    assert mesh is not None
    system = cells.get_input(structure).system
    width = system.get("degauss")
    relaxed_width = (bulk_system or {}).get("degauss")
    dense_enough = bulk_mesh is not None and all(
        b >= m for b, m in zip(bulk_mesh, mesh, strict=True)
    )
    # a cutoff floor (min_cutoff_scale) moves the basis: relax again with the cells' basis
    cutoff = system.get("ecutwfc")
    same_basis = (bulk_system or {}).get("ecutwfc", cutoff) == cutoff
    dense_enough = dense_enough and same_basis
    if dense_enough and width == relaxed_width:
        return {"maker": cells, "structure": structure, "stress": gpa_to_kbar(bulk_stress)}
    jobs: list[Job | Flow] = []
    equilibrium: Any = structure
    stress_gpa: Any = bulk_stress
    if not dense_enough:
        again = serving(relax_maker, "elastic", is_metal)
        # its own name: not the workflows' shared starting relaxation, but one at this mesh
        again = replace(
            again,
            name=AGAIN_RELAX_NAME,
            input_set_generator=replace(again.input_set_generator, kpoints_mesh=mesh),
        )
        relax = again.make(structure)
        jobs.append(relax)
        equilibrium, stress_gpa = relax.output.structure, relax.output.output.stress
        relaxed_width = again.get_input(structure).system.get("degauss")
    if width != relaxed_width:
        reference = StaticMaker(
            name="elastic reference stress",
            input_set_generator=replace(cells.input_set_generator, calculation="scf"),
        ).make(equilibrium)
        jobs.append(reference)
        stress_gpa = reference.output.output.stress
    stress = stress_gpa_to_kbar(stress_gpa)
    output = {"maker": cells, "structure": equilibrium, "stress": stress.output}
    return Response(replace=Flow([*jobs, stress], output=output))
