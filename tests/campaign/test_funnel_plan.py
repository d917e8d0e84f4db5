"""The campaign ``funnel:`` section: one-line errors, the ML flow at planning, the dry run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from htflow.campaign.funnel import FUNNEL_WORKFLOW
from htflow.campaign.plan import plan_campaign
from htflow.campaign.spec import parse_campaign
from htflow.exceptions import InputError
from htflow.launch.spec import CAMPAIGN_KEY, FUNNEL_KEY
from tests.campaign.test_cli import assert_bad, run

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from fireworks import LaunchPad

SOURCES = {
    "prototypes": [
        {"prototype": "diamond", "sites": {"A": ["Si"]}},
        {"prototype": "fcc", "sites": {"A": ["Si"]}},
        {"prototype": "zincblende", "sites": {"A": ["Si"], "B": ["C"]}},
    ]
}


def test_defaults_and_stage_subsets() -> None:
    spec = parse_campaign({"name": "x", "workflow": ["eos"], "funnel": {}})
    assert spec.funnel is not None
    assert spec.funnel.stages == ["ml_relax", "ml_screen", "dft"]
    assert (spec.funnel.model, spec.funnel.margin) == ("chgnet", 0.1)
    assert (spec.funnel.fmax, spec.funnel.max_steps) == (0.05, 500)  # Matbench Discovery
    pre = parse_campaign(
        {"name": "x", "workflow": ["eos"], "funnel": {"stages": ["ml_relax", "dft"]}}
    ).funnel
    assert pre is not None and not pre.screens and pre.runs_dft
    only = parse_campaign(
        {"name": "x", "workflow": ["eos"], "funnel": {"stages": ["ml_relax", "ml_screen"]}}
    ).funnel
    assert only is not None and only.screens and not only.runs_dft


@pytest.mark.parametrize(
    ("funnel", "fragments"),
    [
        ({"model": "mace"}, ["key 'funnel.model'", "unknown ML model 'mace'", "chgnet"]),
        ({"stages": ["ml_screen", "ml_relax", "dft"]}, ["'ml_relax' comes after 'ml_screen'"]),
        ({"stages": ["dft", "ml_relax"]}, ["comes after 'dft'", "ml_relax, ml_screen, dft"]),
        ({"stages": ["ml_screen", "dft"]}, ["needs ml_relax before it"]),
        ({"stages": ["ml_relax", "ml_relax"]}, ["listed twice"]),
        ({"stages": ["ml_relax", "train"]}, ["key 'funnel.stages.1'"]),
        ({"margin": "small"}, ["key 'funnel.margin'", "valid number"]),
        ({"margin": -0.1}, ["key 'funnel.margin'"]),
        ({"modle": "chgnet"}, ["unknown key 'funnel.modle'"]),
    ],
)
def test_bad_funnels_are_one_line_and_submit_nothing(
    write_campaign: Callable[..., Path],
    db_uri: str,
    launchpad: LaunchPad,
    funnel: dict[str, object],
    fragments: list[str],
) -> None:
    path = write_campaign(sources=SOURCES, funnel=funnel)
    assert_bad([str(path), "--db", db_uri], *fragments)
    assert launchpad.fireworks.count_documents({}) == 0
    with pytest.raises(InputError):
        parse_campaign({"name": "x", "workflow": ["eos"], "funnel": funnel})


def test_missing_ml_extra_is_one_line(
    write_campaign: Callable[..., Path],
    db_uri: str,
    launchpad: LaunchPad,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import htflow.ml.models

    real = htflow.ml.models.find_spec

    def no_torch(name: str, *args: object) -> object:
        return (
            None if name.split(".", maxsplit=1)[0] in ("torch", "chgnet", "sevenn") else real(name)
        )

    monkeypatch.setattr(htflow.ml.models, "find_spec", no_torch)
    path = write_campaign(sources=SOURCES, funnel={"model": "chgnet"})
    assert_bad([str(path), "--db", db_uri], "key 'funnel'", "htflow[ml]")
    assert launchpad.fireworks.count_documents({}) == 0


def test_the_plan_is_one_ml_flow_and_no_dft(write_campaign: Callable[..., Path]) -> None:
    path = write_campaign(sources=SOURCES, funnel={"margin": 0.2})
    plan = plan_campaign(path, network=False)
    assert len(plan.candidates) == 3
    (planned,) = plan.flows  # the DFT stage (references included) waits for the screen
    assert planned.workflow == FUNNEL_WORKFLOW
    jobs = [job for job, _ in planned.flow.iterflow()]
    names = [job.name for job in jobs]
    assert names[:3] == ["ml relax Si c0000", "ml relax Si c0001", "ml relax SiC c0002"]
    assert "ml relax Si reference 0" in names and "ml relax C reference 0" in names
    assert names[-1] == "ml screen"
    screen = jobs[-1]
    assert screen.config.manager_config[FUNNEL_KEY] is True
    assert all(job.config.manager_config[CAMPAIGN_KEY] == "test" for job in jobs)
    assert screen.function_kwargs["margin"] == 0.2
    plan_dict = screen.function_kwargs["plan"]
    assert plan_dict["campaign"] == "test"
    assert plan_dict["entries"]["c0001"] == "sources.prototypes[1] fcc A=Si"
    assert parse_campaign(plan_dict["spec"]).funnel == plan.spec.funnel  # the spec travels
    assert any("funnel: 3 candidates are relaxed by chgnet" in note for note in plan.notes)


def test_pre_relaxation_only_keeps_everything(write_campaign: Callable[..., Path]) -> None:
    path = write_campaign(sources=SOURCES, funnel={"stages": ["ml_relax", "dft"]})
    (planned,) = plan_campaign(path, network=False).flows
    screen = [job for job, _ in planned.flow.iterflow()][-1]
    assert screen.function_kwargs["margin"] is None  # no screen: every candidate goes on


def test_known_phases_join_the_hull(write_campaign: Callable[..., Path]) -> None:
    from tests.campaign.conftest import silicon

    asked: list[set[str]] = []

    def known(elements: set[str]) -> list[tuple[str, object]]:
        asked.append(elements)
        return [("htf-0000000001", silicon(5.5))]

    path = write_campaign(sources=SOURCES, funnel={})
    (planned,) = plan_campaign(path, network=False, known_phases=known).flows  # type: ignore[arg-type]
    assert asked == [{"Si", "C"}]
    names = [job.name for job, _ in planned.flow.iterflow()]
    assert "ml relax htf-0000000001 known" in names


def test_dry_run_shows_the_funnel(write_campaign: Callable[..., Path], db_uri: str) -> None:
    path = write_campaign(sources=SOURCES, funnel={})
    code, out, err = run(str(path), "--db", db_uri, "--dry-run")
    assert code == 0, err
    assert "funnel (ml_relax → ml_screen → dft)" in out
    assert "funnel: 3 candidates are relaxed by chgnet first" in out
    assert "dry run" in out
