"""The allocation queue: the agent tops up a running worker, and the worker closes the queue."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import TYPE_CHECKING

from jobflow import Flow

from htflow.agent import records, topup
from htflow.agent.offline import claim, ingest
from htflow.agent.packing import Allocation
from htflow.cluster.profile import ClusterProfile
from htflow.launch import feed
from htflow.submit import submit_flow
from tests.agent.conftest import worker_env
from tests.agent.jobs import add, add_flow

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad
    from jobflow import JobStore


def test_append_and_close_agree_on_every_line(tmp_path: Path) -> None:
    assert feed.queued(tmp_path) == []
    assert feed.append(tmp_path, ["/a", "/b"])
    assert feed.queued(tmp_path) == ["/a", "/b"]
    assert not feed.close(tmp_path, ["/a"])  # /b is unseen: the worker must read on
    assert not feed.is_closed(tmp_path)
    assert feed.close(tmp_path, ["/a", "/b"])
    assert feed.is_closed(tmp_path)
    assert not feed.append(tmp_path, ["/c"])  # too late: the agent keeps /c for another one
    assert feed.queued(tmp_path) == ["/a", "/b"]


def test_a_torn_last_line_is_not_read(tmp_path: Path) -> None:
    (tmp_path / feed.QUEUE_FILE).write_text("/a\n/b-half")
    assert feed.queued(tmp_path) == ["/a"]


def test_only_the_last_reader_closes_the_queue(tmp_path: Path) -> None:
    feed.append(tmp_path, ["/a"])
    first, second = feed.Reader(tmp_path), feed.Reader(tmp_path)
    assert first.leave(["/a"])  # the second stream still reads: nothing closes
    assert not feed.is_closed(tmp_path)
    feed.append(tmp_path, ["/b"])
    assert not second.leave(["/a"])  # last reader, but /b arrived: it reads on
    assert second.leave(["/a", "/b"])
    assert feed.is_closed(tmp_path)


def test_hold_marker(tmp_path: Path) -> None:
    feed.set_hold(tmp_path, True)
    assert feed.held(tmp_path)
    feed.set_hold(tmp_path, False)
    feed.set_hold(tmp_path, False)
    assert not feed.held(tmp_path)


def test_a_single_launch_allocation_may_still_start_every_stream() -> None:
    profile = ClusterProfile(name="p", tasks_per_node=4, ranks_per_calculation=2)
    alloc = Allocation(profile.resources_for("static"), [{"launch_id": 1}])
    assert (alloc.streams, alloc.max_streams) == (1, 2)


def test_launches_fit_allocations_of_the_same_shape_whatever_their_walltime() -> None:
    profile = ClusterProfile(
        name="p",
        tasks_per_node=2,
        resources={"small": {"walltime": 600}, "big": {"walltime": 600, "nodes": 2}},
        routing={"static": "small", "relax": "big"},
    )
    default = profile.resources_for("other")
    assert topup.fits(profile.resources_for("static"), default)
    assert not topup.fits(profile.resources_for("relax"), default)


def test_worker_takes_work_appended_while_it_runs_then_closes(
    launchpad: LaunchPad, jobstore: JobStore, tmp_path: Path
) -> None:
    """A held worker waits for the child the agent prepares after ingesting its parent."""
    flow = add_flow(1, 2, 3)
    submit_flow(flow, launchpad)
    alloc_dir = tmp_path / "alloc"
    alloc_dir.mkdir()
    (parent,) = claim(launchpad, 5, tmp_path / "launches", jobstore=jobstore)
    feed.append(alloc_dir, [parent.launch_dir])
    feed.set_hold(alloc_dir, True)
    env = worker_env(tmp_path) | {feed.IDLE_WAIT_ENV: "120"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "htflow.launch.worker", "--queue", str(alloc_dir)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while ingest(launchpad, jobstore, parent.launch_dir).state != "COMPLETED":
            assert time.monotonic() < deadline, "the parent never finished"
            time.sleep(0.2)
        time.sleep(1)
        assert worker.poll() is None, "the held worker left although more work was coming"
        (child,) = claim(launchpad, 5, tmp_path / "launches", jobstore=jobstore)
        assert feed.append(alloc_dir, [child.launch_dir])
        feed.set_hold(alloc_dir, False)
        out, err = worker.communicate(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, out + err
    assert ingest(launchpad, jobstore, child.launch_dir).state == "COMPLETED"
    assert feed.is_closed(alloc_dir)
    reports = [line for line in out.splitlines() if line.startswith(str(tmp_path / "launches"))]
    assert reports == [f"{parent.launch_dir} COMPLETED", f"{child.launch_dir} COMPLETED"]
    # One activity line per finished launch: what wakes a napping agent.
    noted = (alloc_dir / feed.ACTIVITY_FILE).read_text().splitlines()
    assert [line.split()[-1] for line in noted] == [str(parent.launch_dir), str(child.launch_dir)]
    assert jobstore.get_output(flow.jobs[1].uuid) == 6


def test_unheld_worker_leaves_at_once(
    launchpad: LaunchPad, jobstore: JobStore, tmp_path: Path
) -> None:
    submit_flow(Flow([add(1, 1)]), launchpad)
    (launch,) = claim(launchpad, 5, tmp_path / "launches", jobstore=jobstore)
    feed.append(tmp_path, [launch.launch_dir])
    env = worker_env(tmp_path) | {feed.IDLE_WAIT_ENV: "600"}
    proc = subprocess.run(
        [sys.executable, "-m", "htflow.launch.worker", "--queue", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert feed.is_closed(tmp_path)


def test_top_up_fills_each_open_allocation_up_to_its_streams(
    launchpad: LaunchPad, jobstore: JobStore, tmp_path: Path
) -> None:
    for i in range(3):
        submit_flow(Flow([add(i, 1)]), launchpad)
    launches = claim(launchpad, 5, tmp_path / "launches", jobstore=jobstore)
    profile = ClusterProfile(name="p", tasks_per_node=2, ranks_per_calculation=1)
    for launch in launches:
        records.add_launch(
            launchpad,
            launch_id=launch.launch_id,
            fw_id=launch.fw_id,
            launch_dir=str(launch.launch_dir),
            job_type=launch.job_type,
            name=launch.name,
        )
    alloc_dir = tmp_path / "a1"
    alloc_dir.mkdir()
    feed.append(alloc_dir, [])
    resources = profile.resources_for("static")
    records.allocations(launchpad).insert_one(
        {
            "alloc_id": 1,
            "job_id": "7",
            "state": "queued",
            "slurm_state": "RUNNING",
            "started": time.time(),
            "launch_ids": [],
            "dir": str(alloc_dir),
            "streams": 2,
            "resources": resources.model_dump(mode="json"),
        }
    )
    (open_alloc,) = topup.open_allocations(launchpad, profile)
    assert open_alloc.room == 2
    waiting = list(records.launches(launchpad).find({"alloc_id": None}))
    assert topup.top_up(launchpad, profile, [open_alloc], waiting) == [
        (1, [launches[0].launch_id, launches[1].launch_id])
    ]
    assert feed.queued(alloc_dir) == [str(launches[0].launch_dir), str(launches[1].launch_dir)]
    assert records.allocations(launchpad).find_one({"alloc_id": 1})["launch_ids"] == [
        launches[0].launch_id,
        launches[1].launch_id,
    ]
    # Two unstarted launches fill both streams: no more room until the worker starts them.
    assert topup.open_allocations(launchpad, profile) == []
    # A closed queue takes nothing; the launch stays waiting for a new allocation.
    feed.close(alloc_dir, feed.queued(alloc_dir))
    assert topup.top_up(launchpad, profile, [open_alloc], waiting[2:]) == []
    assert (
        records.launches(launchpad).find_one({"launch_id": launches[2].launch_id})["alloc_id"]
        is None
    )
    assert topup.more_work_expected(launchpad)


def test_activity_changes_with_each_finished_launch_and_a_closing_queue(tmp_path: Path) -> None:
    import os

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    before = feed.activity([a, b])
    assert before == feed.activity([a, b])  # nothing happened: the agent naps on
    feed.note_activity(a, "finished /x")
    after = feed.activity([a, b])
    assert after is not None and after != before
    feed.close(b, [])
    assert feed.activity([a, b]) is None  # b is ending: the agent looks until SLURM agrees
    old = time.time() - 2 * feed.ENDING_WINDOW
    os.utime(b / feed.CLOSED_FILE, (old, old))
    assert feed.activity([a, b]) == after  # long closed: left to the regular poll


def test_the_agent_wakes_from_a_long_nap_on_activity_or_an_inbox_file(tmp_path: Path) -> None:
    import threading

    from htflow.agent.inbox import INBOX
    from htflow.agent.loop import Agent, AgentConfig

    alloc = tmp_path / "alloc"
    alloc.mkdir()
    config = AgentConfig(
        profile=ClusterProfile(name="t"), agent_dir=tmp_path / "agent", db_uri="unused"
    )
    agent = Agent(config)  # not entered: napping needs no database
    agent._watched = [str(alloc)]

    def nap_while(poke: object) -> bool:
        nap = threading.Thread(target=agent._nap, args=(600.0,), daemon=True)
        nap.start()
        time.sleep(0.5)
        assert nap.is_alive()  # nothing new yet: still asleep
        poke()  # type: ignore[operator]
        nap.join(timeout=60)
        return not nap.is_alive()

    assert nap_while(lambda: feed.note_activity(alloc, "finished /x"))
    inbox = config.agent_dir / INBOX
    inbox.mkdir(parents=True)
    assert nap_while(lambda: (inbox / "flow.json").write_text("{}"))
