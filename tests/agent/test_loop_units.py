"""Packing, requeue decisions, side-by-side scripts and the worker's walltime rules (no SLURM)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from htflow.agent.packing import pack, resources_of
from htflow.agent.requeue import RequeuePolicy, decide, fizzle_launch_dir
from htflow.cluster import load_profile, render_job_script
from htflow.launch.worker import ATTEMPTS_FILE, launch_state, run_offline, stream_environment
from htflow.qe.restart import input_for_run, prepared_for_restart

if TYPE_CHECKING:
    from pathlib import Path


def _launch(i: int, job_type: str = "static", **extra: Any) -> dict[str, Any]:
    return {"launch_id": i, "fw_id": i, "job_type": job_type, "created": i, **extra}


def test_packing_groups_by_resources_and_fills_allocations() -> None:
    profile = load_profile("local")
    launches = [_launch(i) for i in range(19)] + [_launch(100 + i, "relax") for i in range(3)]
    allocations = pack(profile, launches, max_allocations=10)
    small = [a for a in allocations if a.resources.resource_class == "small"]
    large = [a for a in allocations if a.resources.resource_class == "large"]
    assert [len(a.launches) for a in small] == [8, 8, 3]
    assert [len(a.launches) for a in large] == [2, 1]
    # Only as many allocations as the queue has room for; the fullest first.
    assert [len(a.launches) for a in pack(profile, launches, 2)] == [8, 8]


def test_streams_follow_ranks_per_calculation() -> None:
    profile = load_profile("hpc-srun-modules")
    (alloc,) = pack(profile, [_launch(i) for i in range(10)], 1)
    # 128 tasks on a node, 32 ranks per calculation: 4 calculations side by side.
    assert alloc.streams == 4
    (large,) = pack(profile, [_launch(i, "relax") for i in range(8)], 1)
    assert large.resources.nodes == 4
    assert large.streams == 4  # 4 nodes x 128 tasks / 128 ranks


def test_firework_overrides_and_timeout_walltime() -> None:
    profile = load_profile("local")
    launch = _launch(1, resources={"walltime": "00:02:00", "calculations_per_allocation": 1})
    res = resources_of(profile, launch)
    assert (res.walltime, res.calculations_per_allocation) == (120, 1)
    assert resources_of(profile, {**launch, "walltime": 240}).walltime == 240


def _launch_dir(tmp_path: Path, outcome: str | None, job_id: str = "7") -> Path:
    directory = tmp_path / "fw1-launch1"
    directory.mkdir()
    (directory / "FW_offline.json").write_text(json.dumps({"launch_id": 1, "started_on": "x"}))
    if outcome:
        (directory / ATTEMPTS_FILE).write_text(json.dumps({"job_id": job_id, "outcome": outcome}))
    return directory


@pytest.mark.parametrize(
    ("outcome", "state", "failures", "action"),
    [
        ("walltime", "COMPLETED", 0, "continue"),
        ("no_time", "COMPLETED", 3, "continue"),
        (None, "CANCELLED", 0, "retry"),
        (None, "NODE_FAIL", 2, "retry"),
        (None, "LOST", 3, "fizzle"),
    ],
)
def test_requeue_decisions(
    tmp_path: Path, outcome: str | None, state: str, failures: int, action: str
) -> None:
    directory = _launch_dir(tmp_path, outcome)
    launch = _launch(1, launch_dir=str(directory), failures=failures)
    resources = load_profile("local").resources_for("static")
    assert decide(launch, "7", state, resources, RequeuePolicy()).action == action


def test_timeout_doubles_the_walltime(tmp_path: Path) -> None:
    launch = _launch(1, launch_dir=str(_launch_dir(tmp_path, None)))
    resources = load_profile("local").resources_for("static")
    decision = decide(launch, "7", "TIMEOUT", resources, RequeuePolicy())
    assert (decision.action, decision.walltime) == ("retry", 2 * resources.walltime)


def test_fizzled_launch_dir_carries_the_reason(tmp_path: Path) -> None:
    directory = _launch_dir(tmp_path, None)
    fizzle_launch_dir(directory, "allocation 7 ended NODE_FAIL, after 3 requeues")
    offline = json.loads((directory / "FW_offline.json").read_text())
    assert launch_state(directory) == "FIZZLED"
    assert "NODE_FAIL" in offline["fwaction"]["stored_data"]["_message"]


def test_worker_does_not_start_without_time_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "fw1-launch1"
    directory.mkdir()
    (directory / "FW.json").write_text("{}")
    (directory / "FW_offline.json").write_text(json.dumps({"launch_id": 1}))
    monkeypatch.setenv("HTFLOW_WALLTIME_END", str(time.time() + 20))
    monkeypatch.setenv("HTFLOW_WALLTIME_MARGIN", "30")
    monkeypatch.setenv("SLURM_JOB_ID", "9")
    assert run_offline(directory) == "RESERVED"
    (record,) = [json.loads(line) for line in (directory / ATTEMPTS_FILE).read_text().splitlines()]
    assert (record["job_id"], record["outcome"]) == ("9", "no_time")


def test_srun_streams_are_exclusive_one_node_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTFLOW_MPI_LAUNCHER", "srun")
    monkeypatch.setenv("HTFLOW_MPI_EXTRA_ARGS", '["--cpu-bind=cores"]')
    extra = json.loads(stream_environment(4)["HTFLOW_MPI_EXTRA_ARGS"])
    assert extra[:2] == ["-N1", "--exclusive"] or extra[:2] == ["--exclusive", "-N1"]
    assert "--cpu-bind=cores" in extra
    monkeypatch.setenv("HTFLOW_MPI_LAUNCHER", "mpirun")
    assert stream_environment(4)["HTFLOW_MPI_EXTRA_ARGS"] == '["--cpu-bind=cores"]'


def test_multi_node_script_runs_streams_side_by_side(tmp_path: Path) -> None:
    profile = load_profile("hpc-srun-modules")
    (alloc,) = pack(profile, [_launch(i, "relax") for i in range(8)], 1)
    dirs = [str(tmp_path / f"fw{i}") for i in range(8)]
    command = ["python", "-m", "htflow.launch.worker", "--streams", str(alloc.streams), *dirs]
    script = render_job_script(profile, command, tmp_path, "htflow-a1", resources=alloc.resources)
    assert "#SBATCH --nodes=4" in script
    assert "export HTFLOW_MPI_LAUNCHER=srun" in script
    assert "export HTFLOW_MPI_RANKS=128" in script
    assert f"--streams 4 {dirs[0]}" in script


def test_prepared_restart_input_survives_the_makers_write(tmp_path: Path) -> None:
    from pymatgen.core import Lattice, Structure

    from htflow.qe.pwinput import PwInput
    from htflow.qe.sets import PwInputGenerator

    si = Structure(Lattice.cubic(5.43), ["Si"], [[0, 0, 0]])
    fresh = PwInputGenerator(calculation="scf", protocol="fast").get_input(si)
    prepared = fresh.updated(control={"restart_mode": "restart"})
    prepared.write(tmp_path)
    assert prepared_for_restart(tmp_path)
    # What the Maker does when the requeued job runs again: the prepared input is kept.
    used = input_for_run(tmp_path, fresh)
    assert used.control["restart_mode"] == "restart"
    assert PwInput.from_directory(tmp_path).control["restart_mode"] == "restart"
    # In a fresh directory the Maker's input is written.
    fresh_dir = tmp_path / "fresh"
    assert input_for_run(fresh_dir, fresh) == fresh
    assert "restart_mode" not in PwInput.from_directory(fresh_dir).control
