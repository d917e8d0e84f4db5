"""Workflows per candidate: crystal-system selection, flow shapes, code dispatch."""

from __future__ import annotations

import pytest

from htflow.campaign.build import build_flows, crystal_system, workflow_flow
from htflow.campaign.candidate import Candidate
from htflow.campaign.sources.prototypes import prototype_structure
from htflow.campaign.spec import parse_campaign
from htflow.exceptions import InputError


def test_crystal_system_selection() -> None:
    spec = parse_campaign(
        {
            "name": "x",
            "protocol": "fast",
            "priority": 3,
            "workflow": ["relax_static_dos", {"name": "eos", "crystal_systems": ["cubic"]}],
        }
    )
    al = Candidate(prototype_structure("fcc", ["Al"]), "a", "prototypes")
    mg = Candidate(prototype_structure("hcp", ["Mg"]), "b", "prototypes")
    assert crystal_system(mg.structure) == "hexagonal"
    planned = build_flows([al, mg], spec)
    assert [(p.candidate.entry, p.workflow) for p in planned] == [
        ("a", "relax_static_dos"),
        ("a", "eos"),
        ("b", "relax_static_dos"),
    ]
    job = planned[0].flow.jobs[0]
    assert job.config.manager_config == {"htflow_campaign": "x", "_priority": 3}


@pytest.mark.parametrize(
    ("workflow", "first_jobs"),
    [
        ("relax_static_dos", ["relax", "static", "dos"]),
        ("band_structure", ["relax", "static", "dos", "bands"]),
        ("eos", ["relax", "run_volume_points", "fit eos"]),
        ("elastic", ["relax", "elastic sampling", "generate_elastic_deformations"]),
    ],
)
def test_workflow_shapes(workflow: str, first_jobs: list[str]) -> None:
    flow = workflow_flow(prototype_structure("fcc", ["Al"]), workflow, "fast")
    names = [job.name for job, _ in flow.iterflow()]
    assert names[: len(first_jobs)] == first_jobs


def test_every_workflow_starts_with_the_same_relaxation() -> None:
    """One identity for the first job of every workflow: submission relaxes a material once."""
    from htflow.submit.identity import identities_of

    structure = prototype_structure("fcc", ["Al"])
    firsts = []
    for workflow in ("relax_static_dos", "band_structure", "eos", "elastic"):
        jobs = [job for job, _ in workflow_flow(structure, workflow, "fast").iterflow()]
        firsts.append(identities_of(jobs)[jobs[0].uuid].as_spec())
    assert all(first == firsts[0] for first in firsts)
    assert firsts[0]["task_label"] == "relax"


def test_vasp_not_available_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    from htflow.campaign import build

    monkeypatch.setattr(build.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match="code: vasp is not available yet"):
        workflow_flow(prototype_structure("fcc", ["Al"]), "eos", "fast", code="vasp")
