"""Offline execution of pure-Python jobflow jobs: claim → worker with no database → ingest."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from jobflow import Flow

from htflow.agent.offline import (
    IngestError,
    JobCodeImportError,
    claim,
    clear_workflow_locks,
    ingest,
    pending_launch_dirs,
    release_unprepared,
)
from htflow.launch.worker import run_offline
from htflow.submit import submit_flow
from tests.agent.conftest import SECRET_WORDS, run_worker
from tests.agent.jobs import add, add_flow, add_twice_by_replace, fail, fan_out_flow

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad
    from jobflow import JobStore


def _cycle(
    launchpad: LaunchPad,
    jobstore: JobStore,
    tmp_path: Path,
    resources: dict[str, dict[str, int]] | None = None,
) -> list[str]:
    """Claim everything READY, run it in a worker subprocess, ingest it; return the states."""
    launches = claim(launchpad, 10, tmp_path / "launches", jobstore=jobstore)
    if launches:
        run_worker(tmp_path, *(launch.launch_dir for launch in launches))
    return [
        ingest(launchpad, jobstore, launch.launch_dir, resources=resources).state
        for launch in launches
    ]


def test_add_flow_runs_offline_and_each_job_completes_once(
    launchpad: LaunchPad, jobstore: JobStore, tmp_path: Path
) -> None:
    flow = add_flow(1, 2, 3)
    first, second = flow.jobs
    result = submit_flow(flow, launchpad)
    assert result.submitted
    assert launchpad.get_fw_by_id(result.fw_ids[first.uuid]).state == "READY"
    assert launchpad.get_fw_by_id(result.fw_ids[second.uuid]).state == "WAITING"

    assert _cycle(launchpad, jobstore, tmp_path) == ["COMPLETED"]
    # The child is READY and its reference resolves from the agent's store.
    assert launchpad.get_fw_by_id(result.fw_ids[second.uuid]).state == "READY"
    assert jobstore.get_output(first.uuid) == 3

    (launch,) = claim(launchpad, 10, tmp_path / "launches", jobstore=jobstore)
    seeded = json.loads((launch.launch_dir / "htflow_seed.json").read_text())
    assert seeded == {"job": second.uuid, "seeded": [first.uuid]}
    run_worker(tmp_path, launch.launch_dir)
    assert ingest(launchpad, jobstore, launch.launch_dir).state == "COMPLETED"

    assert _cycle(launchpad, jobstore, tmp_path) == []
    for fw_id in result.fw_ids.values():
        fw = launchpad.get_fw_by_id(fw_id)
        assert fw.state == "COMPLETED"
        assert len(fw.launches) == 1
    assert jobstore.get_output(second.uuid) == 6
    assert jobstore.docs_store.count({"uuid": {"$in": [first.uuid, second.uuid]}}) == 2
    assert pending_launch_dirs(launchpad) == []


def test_ingest_twice_changes_nothing(
    launchpad: LaunchPad, jobstore: JobStore, tmp_path: Path
) -> None:
    flow = add_flow(1, 2, 3)
    submit_flow(flow, launchpad)
    (launch,) = claim(launchpad, 10, tmp_path / "launches", jobstore=jobstore)
    assert pending_launch_dirs(launchpad) == [launch.launch_dir]
    before = ingest(launchpad, jobstore, launch.launch_dir)
    assert (before.state, before.applied) == ("RESERVED", False)
    run_worker(tmp_path, launch.launch_dir)

    first = ingest(launchpad, jobstore, launch.launch_dir)
    assert (first.state, first.applied, first.outputs) == ("COMPLETED", True, 1)

    def snapshot() -> tuple[object, ...]:
        fws = sorted(
            (d["fw_id"], d["state"], tuple(d["launches"]))
            for d in launchpad.fireworks.find({}, {"fw_id": 1, "state": 1, "launches": 1})
        )
        launches = sorted(
            (d["launch_id"], d["state"]) for d in launchpad.launches.find({}, {"_id": 0})
        )
        return (fws, launches, jobstore.docs_store.count())

    state = snapshot()
    again = ingest(launchpad, jobstore, launch.launch_dir)
    assert (again.state, again.applied, again.outputs) == ("COMPLETED", False, 0)
    assert snapshot() == state
    # A finished directory is not run again either (a requeued allocation).
    assert run_offline(launch.launch_dir) == "COMPLETED"
    assert snapshot() == state


def test_ingest_after_kill_between_copy_and_recover(
    launchpad: LaunchPad, jobstore: JobStore, tmp_path: Path
) -> None:
    """Outputs copied but the LaunchPad not updated (agent killed): ingesting again finishes."""
    from htflow.launch.launchdir import harvest_outputs

    flow = add_flow(1, 2, 3)
    result = submit_flow(flow, launchpad)
    (launch,) = claim(launchpad, 10, tmp_path / "launches", jobstore=jobstore)
    run_worker(tmp_path, launch.launch_dir)
    assert harvest_outputs(launch.launch_dir, jobstore, [flow.jobs[0].uuid]) == 1
    assert launchpad.get_fw_by_id(launch.fw_id).state == "RESERVED"

    assert ingest(launchpad, jobstore, launch.launch_dir).applied
    assert jobstore.docs_store.count({"uuid": flow.jobs[0].uuid}) == 1
    assert launchpad.get_fw_by_id(result.fw_ids[flow.jobs[1].uuid]).state == "READY"


def test_replace_response_is_applied_and_routed(
    launchpad: LaunchPad, jobstore: JobStore, tmp_path: Path
) -> None:
    job = add_twice_by_replace(10)
    resources = {"small": {"nodes": 1}, "large": {"nodes": 4}}
    submit_flow(job, launchpad, resources=resources)
    for _ in range(4):
        if not _cycle(launchpad, jobstore, tmp_path, resources):
            break
    # The job, the two additions replacing it, and jobflow's job storing the replacement's
    # output under the replaced job's uuid.
    states = [d["state"] for d in launchpad.fireworks.find({}, {"state": 1})]
    assert states == ["COMPLETED"] * 4
    # Fireworks created by the response got routing from the agent.
    for doc in launchpad.fireworks.find({}, {"spec": 1}):
        assert doc["spec"]["htflow_job_type"] == "small"
        assert doc["spec"]["htflow_resources"] == {"nodes": 1}
    # The replaced job's output is the replacement's result: (10 + 1) + 1.
    assert jobstore.get_output(job.uuid) == 12


def test_failing_job_fizzles_and_its_child_waits(
    launchpad: LaunchPad, jobstore: JobStore, tmp_path: Path
) -> None:
    bad = fail("no luck")
    child = add(bad.output, 1)
    result = submit_flow(Flow([bad, child]), launchpad)
    assert _cycle(launchpad, jobstore, tmp_path) == ["FIZZLED"]
    fw = launchpad.get_fw_by_id(result.fw_ids[bad.uuid])
    assert fw.state == "FIZZLED"
    assert "no luck" in fw.launches[0].action.stored_data["_exception"]["_stacktrace"]
    assert launchpad.get_fw_by_id(result.fw_ids[child.uuid]).state == "WAITING"
    assert _cycle(launchpad, jobstore, tmp_path) == []


def test_unimportable_job_code_is_an_explicit_error(
    launchpad: LaunchPad, jobstore: JobStore, tmp_path: Path
) -> None:
    submit_flow(add(1, 2), launchpad)
    (launch,) = claim(launchpad, 10, tmp_path / "launches", jobstore=jobstore)
    run_worker(tmp_path, launch.launch_dir)
    fw_file = launch.launch_dir / "FW.json"
    fw_file.write_text(fw_file.read_text().replace('"tests.agent.jobs"', '"not_installed_jobs"'))

    with pytest.raises(JobCodeImportError, match="cannot import 'not_installed_jobs'"):
        ingest(launchpad, jobstore, launch.launch_dir)
    assert issubclass(JobCodeImportError, IngestError)
    # The launch was not fizzled: it stays pending until the code is installed.
    assert launchpad.get_fw_by_id(launch.fw_id).state == "RESERVED"
    assert pending_launch_dirs(launchpad) == [launch.launch_dir]


def test_launch_dirs_hold_no_database_uri_or_password(
    launchpad: LaunchPad, jobstore: JobStore, tmp_path: Path, db_uri: str, agent_env: None
) -> None:
    flow = add_flow(1, 2, 3)
    submit_flow(flow, launchpad)
    for _ in range(3):
        _cycle(launchpad, jobstore, tmp_path)
    assert launchpad.fireworks.count_documents({"state": "COMPLETED"}) == 2
    forbidden = (*SECRET_WORDS, db_uri, db_uri.removeprefix("file://"))
    files = [p for p in (tmp_path / "launches").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"FW.json", "FW_offline.json", "jobstore.json"}
    for path in files:
        text = path.read_text(errors="replace")
        for word in forbidden:
            assert word not in text, f"{word!r} leaked into {path}"


def test_interrupted_claim_is_released(launchpad: LaunchPad) -> None:
    """A reservation without its offline run (agent killed mid-claim) goes back to READY."""
    from fireworks import FWorker

    submit_flow(add(1, 2), launchpad)
    fw, _ = launchpad.reserve_fw(FWorker(), "/nonexistent")
    assert launchpad.get_fw_by_id(fw.fw_id).state == "RESERVED"
    assert release_unprepared(launchpad) == [fw.fw_id]
    assert launchpad.get_fw_by_id(fw.fw_id).state == "READY"


def test_stale_workflow_lock_is_cleared(launchpad: LaunchPad) -> None:
    submit_flow(add(1, 2), launchpad)
    launchpad.workflows.update_many({}, {"$set": {"locked": True}})
    assert clear_workflow_locks(launchpad) == 1
    assert launchpad.workflows.count_documents({"locked": True}) == 0


def test_worker_refuses_a_directory_the_agent_did_not_prepare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from htflow.launch.worker import main

    assert main([str(tmp_path)]) == 2
    assert "not a prepared launch directory" in capsys.readouterr().err


def test_references_inside_referenced_outputs_are_seeded(
    launchpad: LaunchPad, jobstore: JobStore, tmp_path: Path
) -> None:
    # total() consumes fan_out's output, which is a list of references to the jobs that
    # replaced fan_out: the launch directory must hold those outputs too (EOS/elastic shape).
    flow = fan_out_flow([1.0, 2.0, 3.0])
    submit_flow(flow, launchpad)
    for _ in range(6):
        if not _cycle(launchpad, jobstore, tmp_path):
            break
    states = {d["name"]: d["state"] for d in launchpad.fireworks.find({}, {"name": 1, "state": 1})}
    assert set(states.values()) == {"COMPLETED"}, states
    assert jobstore.get_output(flow.output.uuid) == 9.0


def test_a_result_written_while_ingest_looks_is_harvested(
    launchpad: LaunchPad, jobstore: JobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker writes its result between ingest's read of FW_offline.json and FireWorks'
    own read in recover_offline: FireWorks completes the Firework, so ingest must copy the
    outputs in the same call, before the child (READY now) can be claimed and seeded."""
    flow = add_flow(1, 2, 3)
    result = submit_flow(flow, launchpad)
    (launch,) = claim(launchpad, 10, tmp_path / "launches", jobstore=jobstore)
    run_worker(tmp_path, launch.launch_dir)
    offline_file = launch.launch_dir / "FW_offline.json"
    finished = offline_file.read_text()
    running = json.loads(finished)
    running.pop("fwaction")
    offline_file.write_text(json.dumps(running))  # what ingest reads: started, not finished
    real = launchpad.recover_offline

    def worker_finishes_now(*args: object, **kwargs: object) -> object:
        offline_file.write_text(finished)  # the worker's write lands in the window
        return real(*args, **kwargs)

    monkeypatch.setattr(launchpad, "recover_offline", worker_finishes_now)
    done = ingest(launchpad, jobstore, launch.launch_dir)
    assert launchpad.get_fw_by_id(launch.fw_id).state == "COMPLETED"  # the fault happened
    assert done.state == "COMPLETED" and done.outputs == 1  # and the outputs followed
    assert jobstore.docs_store.count({"uuid": flow.jobs[0].uuid}) == 1
    assert launchpad.get_fw_by_id(result.fw_ids[flow.jobs[1].uuid]).state == "READY"


def _ingest_pass(launchpad: LaunchPad, jobstore: JobStore, launch: Any, alloc_state: str) -> Any:
    """One ingestion step of the agent with ``launch`` in allocation 1 (state ``alloc_state``)."""
    from htflow.agent import records
    from htflow.agent.ingestion import ingest_and_requeue
    from htflow.agent.requeue import RequeuePolicy
    from htflow.cluster import load_profile

    if records.launches(launchpad).find_one({"launch_id": launch.launch_id}) is None:
        records.add_launch(
            launchpad,
            launch_id=launch.launch_id,
            fw_id=launch.fw_id,
            launch_dir=str(launch.launch_dir),
            job_type="small",
            name="",
            resources=None,
        )
        records.launches(launchpad).update_one(
            {"launch_id": launch.launch_id}, {"$set": {"alloc_id": 1}}
        )
    ended = alloc_state == "NODE_FAIL"
    records.allocations(launchpad).update_one(
        {"alloc_id": 1},
        {"$set": {"job_id": "4242", "state": "ended" if ended else "queued"}},
        upsert=True,
    )
    records.allocations(launchpad).update_one(
        {"alloc_id": 1}, {"$set": {"slurm_state": alloc_state}}
    )
    return ingest_and_requeue(
        launchpad, jobstore, load_profile("local"), RequeuePolicy(), stopping=lambda: False
    )


def test_a_failure_while_slurm_ends_the_allocation_is_requeued(
    launchpad: LaunchPad, jobstore: JobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that fails while its allocation is NODE_FAIL is the allocation's failure."""
    from htflow.launch.worker import attempts, launch_state

    result = submit_flow(fail("srun: error: Node failure on node2"), launchpad)
    (launch,) = claim(launchpad, 10, tmp_path / "launches", jobstore=jobstore)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    asked = []
    monkeypatch.setattr(
        "htflow.launch.worker.allocation_ended", lambda: asked.append(1) or "NODE_FAIL"
    )
    assert run_offline(launch.launch_dir) == "RESERVED"
    assert asked and launch_state(launch.launch_dir) == "RESERVED"
    last = attempts(launch.launch_dir)[-1]
    assert (last["outcome"], last["slurm_state"], last["job_id"]) == (
        "allocation_ended",
        "NODE_FAIL",
        "4242",
    )
    counts = _ingest_pass(launchpad, jobstore, launch, "NODE_FAIL")
    assert (counts.ingested, counts.requeued, counts.fizzled) == (0, 1, 0)
    (fw_id,) = result.fw_ids.values()
    assert launchpad.get_fw_by_id(fw_id).state != "FIZZLED"


def test_a_fizzled_run_without_the_workers_outcome_waits_for_its_allocation(
    launchpad: LaunchPad, jobstore: JobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker was killed between FireWorks' FIZZLED and its own outcome line."""
    from htflow.launch.worker import ATTEMPTS_FILE, launch_state, outcome_recorded

    result = submit_flow(fail("killed with its allocation"), launchpad)
    (launch,) = claim(launchpad, 10, tmp_path / "launches", jobstore=jobstore)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setattr("htflow.launch.worker.allocation_ended", lambda: None)
    assert run_offline(launch.launch_dir) == "FIZZLED"
    assert outcome_recorded(launch.launch_dir)
    attempts_file = launch.launch_dir / ATTEMPTS_FILE
    lines = attempts_file.read_text().splitlines()
    attempts_file.write_text("\n".join(lines[:-1]) + "\n")  # the outcome line never came
    assert not outcome_recorded(launch.launch_dir)

    counts = _ingest_pass(launchpad, jobstore, launch, "RUNNING")
    assert (counts.ingested, counts.requeued) == (0, 0)  # not a result while it may change
    (fw_id,) = result.fw_ids.values()
    assert launchpad.get_fw_by_id(fw_id).state != "FIZZLED"
    counts = _ingest_pass(launchpad, jobstore, launch, "NODE_FAIL")
    assert counts.requeued == 1
    assert launch_state(launch.launch_dir) == "RESERVED"
