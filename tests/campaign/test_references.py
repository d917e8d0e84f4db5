"""Elemental references the formation energies need are added to a campaign automatically."""

from __future__ import annotations

from typing import TYPE_CHECKING

from htflow.campaign.candidate import Candidate
from htflow.campaign.plan import plan_campaign
from htflow.campaign.references import REFERENCE_WORKFLOW, missing_elements
from htflow.campaign.sources.prototypes import prototype_structure
from htflow.qe.jobs import BasePwMaker
from htflow.submit.campaign import submit_campaign

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from fireworks import LaunchPad


def binaries(prototype: str, a: list[str], b: list[str]) -> dict[str, object]:
    return {"prototypes": [{"prototype": prototype, "sites": {"A": a, "B": b}}]}


def generators(flow) -> list:
    makers = [getattr(job.function, "__self__", None) for job, _ in flow.iterflow()]
    return [m.input_set_generator for m in makers if isinstance(m, BasePwMaker)]


def test_missing_elements_are_the_ones_without_a_pure_candidate() -> None:
    sic = Candidate(prototype_structure("zincblende", ["Si", "C"]), "a", "prototypes")
    si = Candidate(prototype_structure("diamond", ["Si"]), "b", "prototypes")
    assert missing_elements([sic]) == ["Si", "C"]
    assert missing_elements([sic, si]) == ["C"]


def test_plan_adds_solid_references(write_campaign: Callable[..., Path]) -> None:
    plan = plan_campaign(write_campaign(sources=binaries("zincblende", ["Si"], ["C"])))
    refs = [p for p in plan.flows if p.workflow == REFERENCE_WORKFLOW]
    assert sorted(p.candidate.entry for p in refs) == ["reference C", "reference Si"]
    assert plan.counts()["elemental references added"] == 2
    for planned in refs:
        relax, static = generators(planned.flow)
        assert (relax.calculation, static.calculation) == ("vc-relax", "scf")
        assert relax.protocol == static.protocol == "fast"


def test_molecular_reference_keeps_its_box(write_campaign: Callable[..., Path]) -> None:
    plan = plan_campaign(write_campaign(sources=binaries("rocksalt", ["Mg"], ["O"])))
    (oxygen,) = [p for p in plan.flows if p.candidate.entry == "reference O"]
    relax, static = generators(oxygen.flow)
    # A box must not collapse: fixed-cell relax at Γ, spin-polarised for triplet O2.
    assert relax.calculation == "relax"
    assert relax.kpoints_mesh == static.kpoints_mesh == (1, 1, 1)
    assert relax.spin == static.spin == "collinear"
    assert len(oxygen.candidate.structure) == 2


def test_unsupported_reference_is_a_note_not_an_error(
    write_campaign: Callable[..., Path],
) -> None:
    plan = plan_campaign(write_campaign(sources=binaries("zincblende", ["Ga"], ["As"])))
    entries = {p.candidate.entry for p in plan.flows if p.workflow == REFERENCE_WORKFLOW}
    assert "reference Ga" not in entries
    assert any(note.startswith("no elemental reference added for Ga") for note in plan.notes)


def test_references_already_in_the_database_are_not_added_again(
    write_campaign: Callable[..., Path], launchpad: LaunchPad, db_uri: str, tmp_path: Path
) -> None:
    path = write_campaign(sources=binaries("zincblende", ["Si"], ["C"]))
    first = plan_campaign(path, launchpad=launchpad)
    submit_campaign(first, db_uri=db_uri, agent_dir=tmp_path / "agent")
    again = plan_campaign(path, launchpad=launchpad)
    assert again.flows == []
    assert {p.workflow for p in again.database_duplicates} == {
        "relax_static_dos",
        REFERENCE_WORKFLOW,
    }
