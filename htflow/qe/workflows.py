"""The named QE workflows of a campaign (``relax_static_dos``, ``band_structure``, ``eos``,
``elastic``) as Flows: one builder per name, in a table, so campaigns, ``htflow verify`` and
benchmarks all run exactly the same flows.

Every workflow starts with the same vc-relaxation (:func:`starting_relax`: one name, one
input generator), so submission recognises the relaxations of a material's workflows as one
calculation and runs it once (:mod:`htflow.submit.reuse`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from htflow.exceptions import InputError

if TYPE_CHECKING:
    from collections.abc import Callable

    from jobflow import Flow
    from pymatgen.core import Structure

    from htflow.qe.jobs import RelaxMaker
    from htflow.qe.sets import PwInputGenerator

    GeneratorFactory = Callable[[str], PwInputGenerator]


def starting_relax(gen: GeneratorFactory) -> RelaxMaker:
    """The vc-relaxation every workflow starts with (job name ``relax``).

    One definition for all workflows: equal names and settings give equal identities, which
    is what lets one relaxation serve a material's static/DOS, EOS and elastic flows.
    """
    from htflow.qe.jobs import RelaxMaker

    return RelaxMaker(input_set_generator=gen("vc-relax"))


def _relax_static_dos(structure: Structure, gen: GeneratorFactory) -> Flow:
    from htflow.qe.flows import RelaxStaticDosMaker
    from htflow.qe.jobs import NscfMaker, StaticMaker

    return RelaxStaticDosMaker(
        relax_maker=starting_relax(gen),
        static_maker=StaticMaker(input_set_generator=gen("scf")),
        dos_maker=NscfMaker(name="dos", mode="uniform", input_set_generator=gen("nscf")),
    ).make(structure)


def _band_structure(structure: Structure, gen: GeneratorFactory) -> Flow:
    from jobflow import Flow

    from htflow.qe.flows import BandStructureMaker
    from htflow.qe.jobs import NscfMaker, StaticMaker

    # BandStructureMaker starts with an SCF: relax first, as the other workflows do
    relax = starting_relax(gen).make(structure)
    bands = BandStructureMaker(
        static_maker=StaticMaker(input_set_generator=gen("scf")),
        uniform_maker=NscfMaker(name="dos", input_set_generator=gen("nscf")),
        line_maker=NscfMaker(name="bands", mode="line", input_set_generator=gen("bands")),
    ).make(relax.output.structure)
    return Flow([relax, bands], output=bands.output, name="band structure")


def _eos(structure: Structure, gen: GeneratorFactory) -> Flow:
    from htflow.qe.flows import EosMaker
    from htflow.qe.jobs import StaticMaker

    return EosMaker(
        relax_maker=starting_relax(gen),
        static_maker=StaticMaker(name="eos static", input_set_generator=gen("scf")),
    ).make(structure)


def _elastic(structure: Structure, gen: GeneratorFactory) -> Flow:
    from htflow.qe.flows import ElasticMaker
    from htflow.qe.jobs import RelaxMaker

    return ElasticMaker(
        bulk_relax_maker=starting_relax(gen),
        elastic_relax_maker=RelaxMaker(name="elastic relax", input_set_generator=gen("relax")),
    ).make(structure)


QE_WORKFLOWS: dict[str, Callable[[Structure, GeneratorFactory], Flow]] = {
    "relax_static_dos": _relax_static_dos,
    "band_structure": _band_structure,
    "eos": _eos,
    "elastic": _elastic,
}


# The properties each workflow serves, with the calculation that serves them: what
# ``strict`` campaigns check before submitting (htflow.qe.sets.sampling).
WORKFLOW_NEEDS: dict[str, tuple[tuple[str, str], ...]] = {
    "relax_static_dos": (("scf", "energy"), ("nscf", "dos")),
    "band_structure": (("scf", "energy"), ("nscf", "dos")),
    "eos": (("scf", "eos"),),
    "elastic": (("vc-relax", "elastic"), ("relax", "elastic")),
}


def check_protocol_meets_needs(
    structure: Structure, workflow: str, protocol: str, pseudo_family: str | None = None
) -> None:
    """Refuse a protocol below what the workflow's properties need for ``structure``.

    The metal's needs apply, since whether ``structure`` is a metal is not known before it
    runs.

    Raises
    ------
    InputError
        One line naming the property, the setting it needs and what the protocol gives.
    """
    from htflow.qe.sets import PwInputGenerator

    for calculation, prop in WORKFLOW_NEEDS.get(workflow, ()):
        PwInputGenerator(
            calculation=calculation,  # type: ignore[arg-type]
            protocol=protocol,
            pseudo_family=pseudo_family,
            for_property=prop,
            strict=True,
        ).get_input(structure)


def qe_flow(
    structure: Structure,
    workflow: str,
    protocol: str,
    pseudo_family: str | None = None,
    **generator_fields: Any,
) -> Flow:
    """The Flow of the named workflow on ``structure`` (the QE counterpart of
    :func:`htflow.vasp.vasp_flow`).

    Parameters
    ----------
    structure
        The starting structure (Å); every workflow relaxes it first.
    workflow
        A key of :data:`QE_WORKFLOWS`.
    protocol, pseudo_family
        As for :class:`~htflow.qe.sets.PwInputGenerator`.
    generator_fields
        Further :class:`~htflow.qe.sets.PwInputGenerator` fields for every job.

    Raises
    ------
    InputError
        An unknown workflow name.
    """
    from htflow.qe.sets import PwInputGenerator

    builder = QE_WORKFLOWS.get(workflow)
    if builder is None:
        raise InputError(
            f"unknown workflow {workflow!r}: choose one of {', '.join(sorted(QE_WORKFLOWS))}"
        )

    def gen(calculation: Any) -> PwInputGenerator:
        return PwInputGenerator(
            calculation=calculation,
            protocol=protocol,
            pseudo_family=pseudo_family,
            **generator_fields,
        )

    return builder(structure, gen)
