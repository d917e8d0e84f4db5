"""Submission: routing and identity in the Firework spec, duplicate detection by structure."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
from jobflow import Flow
from pymatgen.core import Lattice, Structure
from pymatgen.core.operations import SymmOp

from htflow.exceptions import InputError
from htflow.qe.jobs import NscfMaker, RelaxMaker, StaticMaker
from htflow.qe.sets import PwInputGenerator
from htflow.submit import submit_flow
from htflow.submit.identity import same_structure
from htflow.submit.routing import default_job_type
from tests.agent.jobs import add, add_flow

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad

RESOURCES = {"small": {"nodes": 1, "walltime": "00:30:00"}, "large": {"nodes": 2}}


@pytest.fixture
def launchpad(tmp_path: Path) -> LaunchPad:
    from htflow.db import get_launchpad

    return get_launchpad(f"file://{tmp_path}/db")


def silicon(a: float = 5.47) -> Structure:
    lattice = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    return Structure(lattice, ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])


def rotated_translated(structure: Structure) -> Structure:
    """The same crystal, rotated by 30° about z and with every atom shifted."""
    op = SymmOp.from_axis_angle_and_translation([0, 0, 1], 30)
    lattice = Lattice(op.operate_multi(structure.lattice.matrix))
    coords = op.operate_multi(structure.cart_coords) + np.array([0.3, -0.2, 0.7])
    return Structure(lattice, structure.species, coords, coords_are_cartesian=True)


def static_dos(structure: Structure, protocol: str = "fast") -> Flow:
    fast = {"protocol": protocol}
    static = StaticMaker(input_set_generator=PwInputGenerator(calculation="scf", **fast))
    dos = NscfMaker(name="dos", input_set_generator=PwInputGenerator(calculation="nscf", **fast))
    s = static.make(structure)
    d = dos.make(s.output.structure, prev_dir=s.output.dir_name)
    return Flow([s, d], name="static dos")


def relax(structure: Structure, protocol: str = "fast") -> Flow:
    maker = RelaxMaker(
        input_set_generator=PwInputGenerator(calculation="vc-relax", protocol=protocol)
    )
    return Flow([maker.make(structure)])


def test_routing_and_identity_are_in_the_spec(launchpad: LaunchPad) -> None:
    flow = Flow([static_dos(silicon()), relax(silicon())])
    result = submit_flow(flow, launchpad, resources=RESOURCES)
    assert result.submitted and result.n_jobs == 3 and not result.duplicates
    specs = {}
    for fw_id in result.fw_ids.values():
        fw = launchpad.get_fw_by_id(fw_id)
        specs[fw.name] = fw.spec
    assert specs["static"]["_category"] == specs["static"]["htflow_job_type"] == "small"
    assert specs["dos"]["htflow_resources"] == RESOURCES["small"]
    assert specs["relax"]["htflow_job_type"] == "large"
    assert specs["relax"]["htflow_resources"] == {"nodes": 2}
    identity = specs["static"]["htflow_identity"]
    assert identity["formula"] == "Si"
    assert identity["protocol"] == "fast"
    assert identity["code"] == "qe"
    assert identity["task_label"] == "static"
    assert identity["maker"] == "StaticMaker"
    # The dos job's structure is a reference: it is identified by the flow's input structure
    # (FireWorks hands the spec back deserialized).
    assert specs["dos"]["htflow_identity"]["structure"] == silicon()
    assert specs["static"]["htflow_job_uuid"] in result.fw_ids


def test_default_job_types() -> None:
    assert default_job_type(relax(silicon()).jobs[0]) == "large"
    assert [default_job_type(j) for j in static_dos(silicon()).jobs] == ["small", "small"]
    assert default_job_type(add(1, 2)) == "small"


def test_missing_resources_for_a_job_type_is_an_input_error(launchpad: LaunchPad) -> None:
    with pytest.raises(InputError, match=r"'large'.*add 'large' to the profile"):
        submit_flow(relax(silicon()), launchpad, resources={"small": {}})


def test_same_flow_twice_adds_nothing(launchpad: LaunchPad) -> None:
    flow = static_dos(silicon())
    assert submit_flow(flow, launchpad).submitted
    n_fws = launchpad.fireworks.count_documents({})
    again = submit_flow(flow, launchpad)
    assert not again.submitted
    assert {d.job_name for d in again.duplicates} == {"static", "dos"}
    assert {d.by for d in again.duplicates} == {"uuid"}
    assert launchpad.fireworks.count_documents({}) == n_fws


def test_identical_calculation_with_new_uuids_is_a_duplicate(launchpad: LaunchPad) -> None:
    assert submit_flow(static_dos(silicon()), launchpad).submitted
    moved = rotated_translated(silicon())
    assert moved.lattice != silicon().lattice
    again = submit_flow(static_dos(moved), launchpad)
    assert not again.submitted
    assert [d.by for d in again.duplicates] == ["identity", "identity"]
    assert again.duplicates[0].matches[0]["state"] == "READY"
    assert launchpad.fireworks.count_documents({}) == 2


def test_different_protocol_or_volume_is_not_a_duplicate(launchpad: LaunchPad) -> None:
    assert submit_flow(static_dos(silicon()), launchpad).submitted
    assert submit_flow(static_dos(silicon(), protocol="balanced"), launchpad).submitted
    # StructureMatcher alone would match a compressed cell (it rescales volumes).
    assert submit_flow(static_dos(silicon(5.2)), launchpad).submitted
    # A different job type on the same structure is a different calculation too.
    assert submit_flow(relax(silicon()), launchpad).submitted
    assert launchpad.fireworks.count_documents({}) == 7


def test_fizzled_calculation_can_be_submitted_again(launchpad: LaunchPad) -> None:
    first = submit_flow(relax(silicon()), launchpad)
    (fw_id,) = first.fw_ids.values()
    launchpad.fireworks.update_one({"fw_id": fw_id}, {"$set": {"state": "FIZZLED"}})
    assert submit_flow(relax(silicon()), launchpad).submitted


def test_partly_duplicate_flow_is_added_but_its_starting_relax_reused(
    launchpad: LaunchPad,
) -> None:
    first = submit_flow(relax(silicon()), launchpad)
    flow = Flow([relax(silicon()), static_dos(silicon())])
    result = submit_flow(flow, launchpad)
    assert result.submitted
    assert [d.job_name for d in result.duplicates] == ["relax"]
    (reuse,) = result.reused
    assert reuse.original_fw_id == next(iter(first.fw_ids.values()))
    assert launchpad.fireworks.count_documents({}) == 3
    # appended under the original relax: every root of the new workflow waits for it
    static = launchpad.fireworks.find_one({"name": "static"})
    assert static["state"] == "WAITING"


def test_partly_duplicate_flow_without_starting_relax_is_added_whole(
    launchpad: LaunchPad,
) -> None:
    assert submit_flow(static_dos(silicon()), launchpad).submitted
    static = StaticMaker(input_set_generator=PwInputGenerator(calculation="scf", protocol="fast"))
    flow = Flow([static_dos(silicon()), static.make(silicon(5.2))])
    result = submit_flow(flow, launchpad)
    assert result.submitted and not result.reused
    assert {d.job_name for d in result.duplicates} == {"static", "dos"}
    assert launchpad.fireworks.count_documents({}) == 5


def test_dedupe_false_always_adds(launchpad: LaunchPad) -> None:
    assert submit_flow(relax(silicon()), launchpad).submitted
    assert submit_flow(relax(silicon()), launchpad, dedupe=False).submitted
    assert launchpad.fireworks.count_documents({}) == 2


def test_jobs_without_structure_are_never_identity_duplicates(launchpad: LaunchPad) -> None:
    assert submit_flow(add_flow(), launchpad).submitted
    assert submit_flow(add_flow(), launchpad).submitted


def test_flow_partly_on_the_launchpad_by_uuid_is_an_input_error(launchpad: LaunchPad) -> None:
    flow = add_flow()
    submit_flow(flow, launchpad)
    with pytest.raises(InputError, match="make the flow again"):
        submit_flow(Flow([flow, add(flow.output, 1)]), launchpad)


def test_same_structure_checks_volume_and_matcher() -> None:
    si = silicon()
    assert same_structure(si, rotated_translated(si))
    assert same_structure(si, si * (2, 1, 1))
    assert not same_structure(si, silicon(5.0))
    ge = si.copy()
    ge.replace_species({"Si": "Ge"})
    assert not same_structure(si, ge)
