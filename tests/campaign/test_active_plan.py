"""``strategy: active`` at planning: one-line errors through the CLI (exit 2, nothing
submitted), the pool job instead of the DFT flows, the dry run, and the pool job's
compute side (no database)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from htflow.campaign.active import ACTIVE_WORKFLOW, ActivePoolDoc, featurize_pool
from htflow.campaign.plan import plan_campaign
from htflow.campaign.spec import parse_campaign
from htflow.exceptions import InputError
from htflow.launch.spec import ACTIVE_POOL_KEY, CAMPAIGN_KEY
from tests.campaign.test_cli import assert_bad, run

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from fireworks import LaunchPad

SOURCES = {
    "prototypes": [
        {"prototype": "diamond", "sites": {"A": ["Si", "C"]}},
        {"prototype": "hcp", "sites": {"A": ["Be"]}},
    ]
}
ACTIVE: dict[str, Any] = {
    "objective": {"field": "band_gap", "goal": "target", "target": 1.0},
    "acquisition": {"batch_size": 1},
    "initial": {"size": 2},
    "budget": {"calculations": 3},
}


def active(**changes: Any) -> dict[str, Any]:
    return ACTIVE | changes


@pytest.mark.parametrize(
    ("keys", "fragments"),
    [
        (
            {"active": active(objective={"field": "gap", "goal": "maximize"})},
            ["key 'active.objective'", "unknown objective field 'gap'", "band_gap"],
        ),
        (
            {"active": active(objective={"field": "k_vrh", "goal": "maximize"})},
            ["objective 'k_vrh' needs workflow 'elastic'", "add it to workflow:"],
        ),
        (
            {"active": active(constraints=[{"field": "eos_b0", "min": 50}])},
            ["constraint 'eos_b0' needs workflow 'eos'"],
        ),
        (
            {"active": active(budget={"calculations": 0})},
            ["key 'active.budget'", "budget of 0 calculations", "at least 1"],
        ),
        (
            {"active": active(acquisition={"batch_size": 4})},
            ["key 'active'", "batch_size 4 is larger than the pool of 3 candidates"],
        ),
        (
            {"active": active(initial={"size": 5})},
            ["initial.size 5 is larger than the pool of 3"],
        ),
        ({"active": None}, ["strategy: active needs an active: section"]),
        ({"strategy": "exhaustive"}, ["an active: section needs strategy: active"]),
        ({"funnel": {}}, ["strategy: active with a funnel: is not supported yet"]),
        ({"active": active(acquisiton={})}, ["unknown key 'active.acquisiton'"]),
    ],
)
def test_bad_active_campaigns_are_one_line_and_submit_nothing(
    write_campaign: Callable[..., Path],
    db_uri: str,
    launchpad: LaunchPad,
    keys: dict[str, Any],
    fragments: list[str],
) -> None:
    data = {"strategy": "active", "sources": SOURCES, "active": ACTIVE} | keys
    path = write_campaign(**{k: v for k, v in data.items() if v is not None})
    assert_bad([str(path), "--db", db_uri], *fragments)
    assert launchpad.fireworks.count_documents({}) == 0


def test_the_plan_is_the_pool_job_and_no_dft(write_campaign: Callable[..., Path]) -> None:
    path = write_campaign(strategy="active", sources=SOURCES, active=ACTIVE)
    plan = plan_campaign(path, network=False)
    assert len(plan.candidates) == 3
    (planned,) = plan.flows
    assert planned.workflow == ACTIVE_WORKFLOW
    ((job, _),) = list(planned.flow.iterflow())
    assert job.name == "active pool"
    assert job.config.manager_config[ACTIVE_POOL_KEY] is True
    assert job.config.manager_config[CAMPAIGN_KEY] == "test"
    carried = job.function_args[0]
    assert [c["label"] for c in carried["candidates"]] == ["c0000", "c0001", "c0002"]
    assert carried["candidates"][2]["entry"] == "sources.prototypes[1] hcp A=Be"
    assert parse_campaign(carried["spec"]).active == plan.spec.active  # the spec travels
    assert any("round 0 then runs relax_static_dos on 2 of them" in n for n in plan.notes)
    pool = featurize_pool(carried)
    assert isinstance(pool, ActivePoolDoc)
    assert len(pool.features) == 3 and len(pool.features[0]) == len(pool.feature_names)


def test_a_second_loop_of_the_same_campaign_is_refused(
    write_campaign: Callable[..., Path], db_uri: str, launchpad: LaunchPad
) -> None:
    path = write_campaign(strategy="active", sources=SOURCES, active=ACTIVE)
    code, out, err = run(str(path), "--db", db_uri)
    assert code == 0, err
    assert "submitted 1 flows (1 Fireworks)" in out
    assert_bad([str(path), "--db", db_uri], "already has an active loop", "another name")
    assert launchpad.fireworks.count_documents({}) == 1


def test_dry_run_shows_the_strategy_the_pool_and_round_zero(
    write_campaign: Callable[..., Path], db_uri: str, launchpad: LaunchPad
) -> None:
    path = write_campaign(strategy="active", sources=SOURCES, active=ACTIVE)
    code, out, err = run(str(path), "--dry-run", "--db", db_uri)
    assert code == 0, err
    flat = " ".join(out.split())
    assert "strategy: active, a pool of 3 candidates (band_gap closest to 1 eV)" in flat
    assert "round 0 then runs relax_static_dos on 2 of them" in flat
    assert "until the budget (3 calculations)" in flat
    assert "dry run: nothing submitted" in flat
    assert launchpad.fireworks.count_documents({}) == 0


def test_exhaustive_stays_the_default() -> None:
    spec = parse_campaign({"name": "x", "workflow": ["eos"]})
    assert (spec.strategy, spec.active) == ("exhaustive", None)
    with pytest.raises(InputError, match="strategy: active needs an active: section"):
        parse_campaign({"name": "x", "workflow": ["eos"], "strategy": "active"})


def test_the_pool_job_runs_without_the_database(write_campaign: Callable[..., Path]) -> None:
    """The job's module, imported and run as the worker would, brings no database code."""
    path = write_campaign(strategy="active", sources=SOURCES, active=ACTIVE)
    (planned,) = plan_campaign(path, network=False).flows
    ((job, _),) = list(planned.flow.iterflow())
    script = (
        "import json, sys\n"
        "from monty.json import MontyDecoder\n"
        "from htflow.campaign.active import featurize_pool\n"
        "plan = json.loads(sys.stdin.read(), cls=MontyDecoder)  # as jobflow decodes it\n"
        "assert type(plan['candidates'][0]['structure']).__name__ == 'Structure'\n"
        "doc = featurize_pool(plan)\n"
        "leaked = sorted(m for m in sys.modules if m.startswith(('htflow.db', 'litemongo', "
        "'htflow.agent')))\n"
        "print(len(doc.features), leaked)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(job.function_args[0]),
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "3 []", done.stderr
