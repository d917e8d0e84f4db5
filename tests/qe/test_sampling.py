"""Property-aware sampling: needs as data, raising a protocol, the record, strict refusal."""

from __future__ import annotations

import warnings

import pytest
from pymatgen.core import Lattice, Structure

from htflow.campaign.sources.prototypes import prototype_structure
from htflow.exceptions import InputError
from htflow.qe.elastic_sampling import elastic_sampling
from htflow.qe.flows import ElasticMaker, EosMaker, RelaxStaticDosMaker
from htflow.qe.jobs import RelaxMaker, StaticMaker, serving
from htflow.qe.sets import PwInputGenerator
from htflow.qe.sets.sampling import (
    available_properties,
    kpoints_per_atom_of,
    load_property_needs,
    mesh_for_density,
)
from htflow.qe.workflows import WORKFLOW_NEEDS, check_protocol_meets_needs


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("HTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HTFLOW_PSEUDO_FAMILY", raising=False)


def al() -> Structure:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prototype_structure("fcc", ["Al"])


def test_every_property_declares_metal_and_insulator_needs():
    assert {"energy", "elastic", "eos", "dos"} <= set(available_properties())
    for name in available_properties():
        needs = load_property_needs(name)
        # a metal never needs less than an insulator: unknown classes get the metal's needs
        assert needs.metal.kpoints_per_atom >= needs.insulator.kpoints_per_atom
        assert needs.for_class(None) == needs.metal
        assert needs.for_class(False) == needs.insulator
        assert needs.criterion


def test_unknown_property_is_one_line():
    with pytest.raises(InputError, match=r"unknown property 'hardness': choose one of .*elastic"):
        load_property_needs("hardness")


@pytest.mark.parametrize("density", [1, 100, 1000, 2999, 7000])
@pytest.mark.parametrize(
    "structure",
    [
        al(),
        Structure(Lattice.orthorhombic(3.0, 5.0, 11.0), ["Si", "Si"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        Structure(
            Lattice.hexagonal(3.2, 5.2), ["Mg", "Mg"], [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]
        ),
    ],
)
def test_mesh_for_density_is_a_minimum(structure, density):
    mesh = mesh_for_density(structure, density)
    assert kpoints_per_atom_of(structure, mesh) >= density
    # and not wastefully more: one division fewer along every axis falls short
    smaller = [max(1, n - 1) for n in mesh]
    if min(mesh) > 1:
        assert kpoints_per_atom_of(structure, smaller) < density


def test_a_coarse_protocol_is_raised_and_the_change_recorded():
    needs = load_property_needs("elastic")
    plain = PwInputGenerator(calculation="relax", protocol="fast").get_input(al())
    raised = PwInputGenerator(
        calculation="relax", protocol="fast", for_property="elastic"
    ).get_input(al())
    assert plain.sampling is None
    record = raised.sampling
    assert record is not None
    assert record.property == "elastic"
    assert record.electronic_class == "unknown"
    assert record.protocol_mesh == plain.kpoints.mesh
    assert raised.kpoints.mesh == record.mesh
    assert record.kpoints_per_atom == kpoints_per_atom_of(al(), raised.kpoints.mesh)
    assert record.kpoints_per_atom >= needs.metal.kpoints_per_atom
    assert record.kpoints_per_atom_needed == needs.metal.kpoints_per_atom
    assert any("k mesh raised" in line for line in record.changes)
    # the protocol's looser force threshold is tightened for the strained cells' relaxation
    if needs.max_forc_conv_thr is not None:
        assert raised.control["forc_conv_thr"] <= needs.max_forc_conv_thr
    # the identity of the calculation stays the protocol's
    assert raised.protocol == "fast"


def test_an_insulator_gets_the_insulator_needs():
    needs = load_property_needs("energy")
    metal = PwInputGenerator(protocol="fast", for_property="energy").get_input(al())
    gapped = PwInputGenerator(protocol="fast", for_property="energy", is_metal=False).get_input(
        al()
    )
    assert gapped.sampling is not None and metal.sampling is not None
    assert gapped.sampling.electronic_class == "insulator"
    assert gapped.sampling.kpoints_per_atom_needed == needs.insulator.kpoints_per_atom
    assert gapped.sampling.kpoints_per_atom <= metal.sampling.kpoints_per_atom


def test_a_dense_protocol_is_left_alone():
    # stringent's mesh already exceeds every declared need for fcc Al
    plain = PwInputGenerator(protocol="stringent").get_input(al())
    for prop in available_properties():
        needs = load_property_needs(prop)
        if kpoints_per_atom_of(al(), plain.kpoints.mesh) < needs.metal.kpoints_per_atom:
            continue
        served = PwInputGenerator(protocol="stringent", for_property=prop).get_input(al())
        assert served.kpoints == plain.kpoints
        assert served.sampling is not None and served.sampling.changes == []


def test_strict_refuses_in_one_line():
    with pytest.raises(InputError) as info:
        PwInputGenerator(protocol="fast", for_property="elastic", strict=True).get_input(al())
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("strict: elastic needs at least")
    assert "protocol 'fast' gives" in message and "set strict: false" in message


def test_fixed_mesh_is_kept_and_recorded():
    generator = PwInputGenerator(protocol="fast", for_property="eos", kpoints_mesh=(7, 7, 7))
    pw_input = generator.get_input(al())
    assert pw_input.kpoints.mesh == (7, 7, 7)
    assert pw_input.sampling is not None and pw_input.sampling.mesh == (7, 7, 7)


def _cells() -> RelaxMaker:
    generator = PwInputGenerator(calculation="relax", protocol="fast")
    return serving(RelaxMaker(input_set_generator=generator), "elastic")


def test_elastic_cells_get_the_relaxed_bulks_class():
    bulk = RelaxMaker(input_set_generator=PwInputGenerator(calculation="vc-relax", protocol="fast"))
    needs = load_property_needs("elastic")
    stress = [[0.1, 0, 0], [0, 0.1, 0], [0, 0, 0.1]]
    fine = (60, 60, 60)  # denser than any need, same smearing: no second relaxation
    system = {"degauss": bulk.get_input(al()).system["degauss"]}
    as_metal = elastic_sampling.original(
        al(), None, fine, stress, system, relax_maker=bulk, elastic_maker=_cells()
    )
    as_insulator = elastic_sampling.original(
        al(), False, fine, stress, system, relax_maker=bulk, elastic_maker=_cells()
    )
    metal_mesh = as_metal["maker"].input_set_generator.kpoints_mesh
    insulator_mesh = as_insulator["maker"].input_set_generator.kpoints_mesh
    assert kpoints_per_atom_of(al(), metal_mesh) >= needs.metal.kpoints_per_atom
    assert kpoints_per_atom_of(al(), insulator_mesh) >= needs.insulator.kpoints_per_atom
    assert kpoints_per_atom_of(al(), insulator_mesh) <= kpoints_per_atom_of(al(), metal_mesh)
    assert as_insulator["maker"].input_set_generator.is_metal is False
    # the equilibrium stress goes to atomate2's fit in kbar
    assert as_metal["stress"][0][0] == pytest.approx(1.0)
    assert as_metal["structure"] is not None


def test_a_bulk_relaxed_on_a_coarser_mesh_relaxes_again_at_the_elastic_mesh():
    bulk = RelaxMaker(input_set_generator=PwInputGenerator(calculation="vc-relax", protocol="fast"))
    response = elastic_sampling.original(
        al(), True, (6, 6, 6), None, relax_maker=bulk, elastic_maker=_cells()
    )
    jobs = list(response.replace.jobs)
    relax_maker = jobs[0].function.__self__
    mesh = response.replace.output["maker"].input_set_generator.kpoints_mesh
    assert relax_maker.input_set_generator.kpoints_mesh == mesh
    assert relax_maker.input_set_generator.for_property == "elastic"
    assert relax_maker.input_set_generator.calculation == "vc-relax"
    assert mesh != (6, 6, 6)
    # not the workflows' shared starting relaxation: a name of its own
    assert jobs[0].name == "elastic bulk relax" != bulk.name


def test_a_metals_reference_stress_comes_from_an_scf_at_the_elastic_width():
    """A known metal's cells take the elastic width; one SCF at it gives the reference stress."""
    bulk = RelaxMaker(input_set_generator=PwInputGenerator(calculation="vc-relax", protocol="fast"))
    width = load_property_needs("elastic").metal.degauss
    assert width is not None
    system = {"degauss": bulk.get_input(al()).system["degauss"]}
    assert system["degauss"] != width
    response = elastic_sampling.original(
        al(), True, (60, 60, 60), None, system, relax_maker=bulk, elastic_maker=_cells()
    )
    reference, to_kbar = response.replace.jobs
    scf = reference.function.__self__.get_input(al())
    cells = response.replace.output["maker"].get_input(al())
    assert reference.name == "elastic reference stress"
    assert scf.control["calculation"] == "scf"
    assert scf.system["degauss"] == cells.system["degauss"] == width
    assert scf.kpoints == cells.kpoints
    assert cells.sampling is not None
    assert any(f"degauss = {width} Ry" in change for change in cells.sampling.changes)
    assert to_kbar.name == "stress_gpa_to_kbar"


def test_a_metal_on_a_coarse_mesh_relaxes_at_the_protocols_width_then_takes_the_reference():
    bulk = RelaxMaker(input_set_generator=PwInputGenerator(calculation="vc-relax", protocol="fast"))
    system = {"degauss": bulk.get_input(al()).system["degauss"]}
    response = elastic_sampling.original(
        al(), True, (6, 6, 6), None, system, relax_maker=bulk, elastic_maker=_cells()
    )
    relax, reference, _ = response.replace.jobs
    again = relax.function.__self__.get_input(al())
    scf = reference.function.__self__.get_input(al())
    # the volume at the protocol's width (a wide width biases it), on the cells' mesh
    assert again.control["calculation"] == "vc-relax"
    assert again.system["degauss"] == system["degauss"]
    assert again.kpoints == scf.kpoints
    assert scf.system["degauss"] == load_property_needs("elastic").metal.degauss


def test_an_unknown_class_keeps_the_protocols_width():
    """A semiconductor taken for a metal (nothing run before it) keeps its gap unsmeared."""
    generator = PwInputGenerator(calculation="relax", protocol="fast")
    plain = generator.get_input(al()).system["degauss"]
    unknown = serving(RelaxMaker(input_set_generator=generator), "elastic", None)
    assert unknown.get_input(al()).system["degauss"] == plain
    metal = serving(RelaxMaker(input_set_generator=generator), "elastic", True)
    assert metal.get_input(al()).system["degauss"] != plain


def test_elastic_without_bulk_relax_fixes_the_cells_mesh():
    cells = RelaxMaker(
        name="elastic relax",
        input_set_generator=PwInputGenerator(calculation="relax", protocol="fast", is_metal=False),
    )
    flow = ElasticMaker(bulk_relax_maker=None, elastic_relax_maker=cells).make(al())
    (run,) = [j for j in flow.iterflow() if j[0].name == "run_elastic_deformations"]
    maker = run[0].function_kwargs["elastic_relax_maker"]
    needs = load_property_needs("elastic")
    assert maker.input_set_generator.is_metal is False
    mesh = maker.input_set_generator.kpoints_mesh
    assert kpoints_per_atom_of(al(), mesh) >= needs.insulator.kpoints_per_atom


def _generators(flow) -> dict[str, PwInputGenerator]:
    out = {}
    for job in flow.iterflow():
        maker = getattr(job[0].function, "__self__", None)
        if maker is not None and hasattr(maker, "input_set_generator"):
            out[job[0].name] = maker.input_set_generator
    return out


def test_flows_declare_the_property_each_job_serves():
    static = StaticMaker(input_set_generator=PwInputGenerator(protocol="fast"))
    flow = RelaxStaticDosMaker(static_maker=static).make(al())
    served = {name: g.for_property for name, g in _generators(flow).items()}
    assert served["relax"] is None
    assert served["static"] == "energy"
    assert served["dos"] == "dos"
    elastic = ElasticMaker().make(al())
    # the bulk relaxes at the protocol's sampling; the elastic sampling is decided after it
    assert _generators(elastic)["relax"].for_property is None
    assert [j for j, _ in elastic.iterflow() if j.name == "elastic sampling"]
    eos = EosMaker(relax_maker=RelaxMaker()).make(al())
    assert [j for j in eos.jobs if j.name == "run_volume_points"]


@pytest.mark.parametrize("workflow", sorted(WORKFLOW_NEEDS))
def test_strict_check_of_a_workflow(workflow):
    with pytest.raises(InputError, match="strict: "):
        check_protocol_meets_needs(al(), workflow, "fast")
    check_protocol_meets_needs(al(), workflow, "stringent")
