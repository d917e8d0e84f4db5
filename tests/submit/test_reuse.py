"""Job-level reuse of starting relaxations: the rewrite, the FireWorks links, real offline runs.

The offline tests run every job for real through the agent's claim → database-free worker →
ingest path, with a pure-Python relaxation (:mod:`tests.submit.relax_jobs`) standing in for
pw.x, so that the tests are about the wiring: which Fireworks wait, which run, and which
output a rewired job reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from jobflow import Flow, OutputReference
from pymatgen.core import Structure

from htflow.agent.offline import claim, ingest
from htflow.launch.spec import REUSED_KEY
from htflow.qe.workflows import qe_flow
from htflow.submit import submit_flow
from htflow.submit.reuse import is_starting_relaxation, redirect_references, remove_fireworks
from tests.agent.conftest import run_worker
from tests.agent.jobs import add
from tests.submit.relax_jobs import (
    FAIL_ENV,
    ScaleRelaxMaker,
    lattice_a,
    relax_then,
    relaxed_in,
    volume_per_atom,
)
from tests.test_submit import rotated_translated, silicon

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad
    from jobflow import JobStore


def fw_of(launchpad: LaunchPad, uuid: str) -> dict[str, Any]:
    doc = launchpad.fireworks.find_one({"spec.htflow_job_uuid": uuid})
    assert doc is not None, uuid
    return doc


def run_ready(
    launchpad: LaunchPad, jobstore: JobStore, tmp_path: Path, expected: set[str]
) -> dict[int, str]:
    """Claim every READY Firework (their names must be ``expected``), run and ingest them."""
    launches = claim(launchpad, 10, tmp_path / "launches", jobstore=jobstore)
    assert {launch.name for launch in launches} == expected
    if launches:
        run_worker(tmp_path, *(launch.launch_dir for launch in launches))
    return {
        launch.fw_id: ingest(launchpad, jobstore, launch.launch_dir).state for launch in launches
    }


def test_starting_relaxations_are_relax_jobs_on_concrete_structures() -> None:
    relax = ScaleRelaxMaker().make(silicon())
    assert is_starting_relaxation(relax)
    assert not is_starting_relaxation(ScaleRelaxMaker().make(relax.output["structure"]))
    assert not is_starting_relaxation(volume_per_atom(silicon()))
    jobs = [job for job, _ in qe_flow(silicon(), "eos", "fast").iterflow()]
    assert [is_starting_relaxation(job) for job in jobs] == [True, False, False]


def test_redirect_references_at_any_depth() -> None:
    relax = ScaleRelaxMaker().make(silicon())
    other = add(1, 2)
    job = relaxed_in([relax.output, {"x": (relax.output["structure"], other.output)}])
    copy = redirect_references(job, {relax.uuid: "original"})
    assert copy.uuid == job.uuid and copy.name == job.name
    assert {ref.uuid for ref in copy.input_references} == {"original", other.uuid}
    (first, nested) = copy.function_args[0]
    assert isinstance(first, OutputReference) and first.uuid == "original"
    assert [ref.uuid for ref in nested["x"]] == ["original", other.uuid]
    assert [tuple(a) for a in nested["x"][0].attributes] == [("i", "structure")]
    # the job it was made from is untouched
    assert {ref.uuid for ref in job.input_references} == {relax.uuid, other.uuid}


def test_a_materials_qe_workflows_share_one_queued_relaxation(launchpad: LaunchPad) -> None:
    first = submit_flow(qe_flow(silicon(), "relax_static_dos", "fast"), launchpad)
    (relax_uuid,) = [u for u, i in first.fw_ids.items() if fw_of(launchpad, u)["name"] == "relax"]
    relax_fw = first.fw_ids[relax_uuid]
    results = [
        submit_flow(qe_flow(rotated_translated(silicon()), workflow, "fast"), launchpad)
        for workflow in ("eos", "elastic")
    ]
    assert launchpad.fireworks.count_documents({"name": "relax"}) == 1
    for result, rewired in zip(results, ("run_volume_points", "elastic sampling"), strict=True):
        (reuse,) = result.reused
        assert (reuse.original_uuid, reuse.original_fw_id) == (relax_uuid, relax_fw)
        assert reuse.original_state == "READY" and reuse.job_name == "relax"
        assert reuse.job_uuid not in result.fw_ids  # left out
        doc = launchpad.fireworks.find_one(
            {"name": rewired, "fw_id": {"$in": [*result.fw_ids.values()]}}
        )
        assert doc["state"] == "WAITING"
        assert doc["spec"][REUSED_KEY] == [reuse.as_spec()]
        fw = launchpad.get_fw_by_id(doc["fw_id"])
        assert relax_uuid in fw.tasks[0]["job"].input_uuids
        assert reuse.job_uuid not in fw.tasks[0]["job"].input_uuids
    # one FireWorks workflow: the relax is the parent of the three flows' first jobs
    (workflow,) = launchpad.workflows.find({})
    children = {launchpad.get_fw_by_id(i).name for i in workflow["links"][str(relax_fw)]}
    assert children == {"static", "run_volume_points", "elastic sampling"}


def test_a_completed_relaxation_serves_a_new_flow_at_once(
    launchpad: LaunchPad, jobstore: JobStore, tmp_path: Path, agent_env: None
) -> None:
    first = relax_then(silicon(), volume_per_atom)
    assert submit_flow(first, launchpad).submitted
    relax = first.jobs[0]
    assert run_ready(launchpad, jobstore, tmp_path, {"relax"}) == {
        fw_of(launchpad, relax.uuid)["fw_id"]: "COMPLETED"
    }

    second = relax_then(rotated_translated(silicon()), lattice_a)
    result = submit_flow(second, launchpad)
    (reuse,) = result.reused
    assert (reuse.original_uuid, reuse.original_state) == (relax.uuid, "COMPLETED")
    # the new jobs are READY at once, beside the first flow's own
    states = {fw_of(launchpad, u)["name"]: fw_of(launchpad, u)["state"] for u in result.fw_ids}
    assert states == {"lattice_a": "READY", "relaxed_in": "READY"}
    run_ready(
        launchpad,
        jobstore,
        tmp_path,
        {"volume_per_atom", "relaxed_in", "lattice_a"},
    )
    assert {doc["state"] for doc in launchpad.fireworks.find({})} == {"COMPLETED"}
    # exactly one relaxation ran, and the second flow read its output
    (relax_fw,) = launchpad.fireworks.find({"name": "relax"})
    assert len(relax_fw["launches"]) == 1
    relaxed = Structure.from_dict(jobstore.get_output(relax.uuid)["structure"])
    second_jobs = {job.name: job.uuid for job in second.jobs}
    assert jobstore.get_output(second_jobs["lattice_a"]) == pytest.approx(relaxed.lattice.a)
    where = jobstore.get_output(relax.uuid)["launch_dir"]
    assert jobstore.get_output(second_jobs["relaxed_in"]) == where
    assert jobstore.query_one({"uuid": second_jobs["relax"]}) is None

    # rerunning the original reruns what used it, in either flow
    launchpad.rerun_fw(relax_fw["fw_id"], rerun_duplicates=False)
    states = {doc["name"]: doc["state"] for doc in launchpad.fireworks.find({})}
    assert states.pop("relax") == "READY"
    assert set(states.values()) == {"WAITING"}


def test_a_queued_relaxation_is_waited_for_and_a_fizzled_one_holds_its_users(
    launchpad: LaunchPad,
    jobstore: JobStore,
    tmp_path: Path,
    agent_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = relax_then(silicon(), volume_per_atom)
    submit_flow(first, launchpad)
    second = relax_then(silicon(), lattice_a)
    result = submit_flow(second, launchpad)
    assert [r.original_state for r in result.reused] == ["READY"]
    relax_fw = fw_of(launchpad, first.jobs[0].uuid)["fw_id"]

    monkeypatch.setenv(FAIL_ENV, "1")
    assert run_ready(launchpad, jobstore, tmp_path, {"relax"}) == {relax_fw: "FIZZLED"}
    # nothing runs on the missing output: the users in both flows keep waiting
    waiting = {doc["name"] for doc in launchpad.fireworks.find({"state": "WAITING"})}
    assert waiting == {"volume_per_atom", "lattice_a", "relaxed_in"}
    assert not claim(launchpad, 10, tmp_path / "launches", jobstore=jobstore)

    monkeypatch.delenv(FAIL_ENV)
    launchpad.rerun_fw(relax_fw, rerun_duplicates=False)
    assert run_ready(launchpad, jobstore, tmp_path, {"relax"}) == {relax_fw: "COMPLETED"}
    run_ready(launchpad, jobstore, tmp_path, {"volume_per_atom", "lattice_a", "relaxed_in"})
    relaxed = Structure.from_dict(jobstore.get_output(first.jobs[0].uuid)["structure"])
    assert jobstore.get_output(second.jobs[1].uuid) == pytest.approx(relaxed.lattice.a)


def test_a_different_structure_or_maker_setting_is_not_reused(launchpad: LaunchPad) -> None:
    submit_flow(relax_then(silicon(), volume_per_atom), launchpad)
    assert not submit_flow(relax_then(silicon(5.2), lattice_a), launchpad).reused
    other = ScaleRelaxMaker(volume_per_atom=19.0).make(silicon())
    assert not submit_flow(Flow([other, lattice_a(other.output["structure"])]), launchpad).reused
    assert not submit_flow(relax_then(silicon(), lattice_a), launchpad, dedupe=False).reused
    assert launchpad.fireworks.count_documents({"name": "relax"}) == 4


def test_removing_appended_fireworks_leaves_the_original_workflow(launchpad: LaunchPad) -> None:
    first = submit_flow(relax_then(silicon(), volume_per_atom), launchpad)
    before = launchpad.workflows.find_one({})
    second = submit_flow(relax_then(silicon(), lattice_a), launchpad)
    assert second.reused and launchpad.workflows.count_documents({}) == 1

    remove_fireworks(launchpad, second.fw_ids.values())
    assert launchpad.fireworks.count_documents({}) == len(first.fw_ids)
    (after,) = launchpad.workflows.find({})
    for key in ("nodes", "links", "parent_links", "fw_states", "state", "name"):
        assert after[key] == before[key], key
    # and the same flow can be submitted again
    again = submit_flow(relax_then(silicon(), lattice_a), launchpad)
    assert again.reused and launchpad.fireworks.count_documents({}) == 5

    remove_fireworks(launchpad, [*first.fw_ids.values(), *again.fw_ids.values()])
    assert launchpad.fireworks.count_documents({}) == 0
    assert launchpad.workflows.count_documents({}) == 0


def test_a_flow_submitted_with_reuse_is_a_duplicate_when_submitted_again(
    launchpad: LaunchPad,
) -> None:
    """What an inbox file processed twice (an agent killed before moving it) must do."""
    submit_flow(relax_then(silicon(), volume_per_atom), launchpad)
    flow = relax_then(silicon(), lattice_a)
    first = submit_flow(flow, launchpad)
    assert first.reused
    n_fws = launchpad.fireworks.count_documents({})
    again = submit_flow(flow, launchpad)
    assert not again.submitted
    assert {d.by for d in again.duplicates} == {"uuid"}
    (relax,) = [d for d in again.duplicates if d.job_name == "relax"]
    assert relax.matches == [{"fw_id": first.reused[0].original_fw_id, "state": "READY"}]
    assert launchpad.fireworks.count_documents({}) == n_fws
