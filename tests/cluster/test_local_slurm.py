"""The local single-node SLURM: bring-up, status, idempotency, and real jobs through it.

Marked ``slurm``: these start real daemons (as root) and run real pw.x under mpirun.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from htflow.cli.cluster import cluster_app
from htflow.cluster.local_slurm import cluster_down, cluster_status, cluster_up, state_directory
from htflow.cluster.profile import load_profile
from htflow.cluster.render import slurm_job_name, write_job_script
from htflow.cluster.slurm import SlurmUnavailableError, sacct, sbatch, scancel, squeue
from tests.cluster.conftest import slurm_missing_reason

if TYPE_CHECKING:
    from htflow.cluster.local_slurm import ClusterStatus

FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}


def wait_final(job_id: str, conf: Path, timeout: float = 120.0) -> str:
    """Poll squeue until the job reaches a final state; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = squeue([job_id], slurm_conf=conf).get(job_id)
        if state in FINAL_STATES:
            return state
        if state is None:  # purged from the controller: ask accounting
            return sacct([job_id], slurm_conf=conf)[job_id].state
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still not finished after {timeout} s")


def wait_running(job_id: str, conf: Path, timeout: float = 60.0) -> float:
    """Seconds until squeue shows the job RUNNING."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if squeue([job_id], slurm_conf=conf).get(job_id) == "RUNNING":
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} not running after {timeout} s")


def squeue_name(job_id: str, conf: Path) -> str:
    out = subprocess.run(
        ["squeue", "-h", "--states=all", "-j", job_id, "-o", "%j"],
        env={"SLURM_CONF": str(conf), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.rstrip("\n")


@pytest.mark.slurm
def test_status_reports_every_daemon(local_slurm: ClusterStatus) -> None:
    status = cluster_status(local_slurm.state_dir)
    running = {d.name: d.pid for d in status.daemons if d.running}
    assert set(running) == {"munged", "slurmctld", "slurmd"}
    assert all(pid and pid > 1 for pid in running.values())
    assert status.up and not status.accounting
    assert "debug*" in status.sinfo
    assert status.format().endswith(f"export SLURM_CONF={local_slurm.slurm_conf}")
    result = CliRunner().invoke(cluster_app, ["status", "--state-dir", str(status.state_dir)])
    assert result.exit_code == 0, result.output
    assert "slurmctld  running (pid" in result.output
    assert "mysqld     stopped" in result.output


@pytest.mark.slurm
def test_up_again_changes_nothing(local_slurm: ClusterStatus) -> None:
    before = {d.name: d.pid for d in cluster_status(local_slurm.state_dir).daemons}
    again = cluster_up(state_dir=local_slurm.state_dir)
    assert {d.name: d.pid for d in again.daemons} == before


@pytest.mark.slurm
def test_hostile_names_reach_sbatch_inert(local_slurm: ClusterStatus, tmp_path: Path) -> None:
    conf = local_slurm.slurm_conf
    pwned = tmp_path / "pwned"
    names = ['a"; rm -rf ~; "', f"a\n$(touch {pwned})"]
    for index, name in enumerate(names):
        launch = tmp_path / f"job{index}"
        launch.mkdir()
        command = ["bash", "-c", 'printf %s "$HTFLOW_JOB_NAME" > name.txt']
        script = write_job_script(load_profile("local"), command, launch, name)
        job = sbatch(script, launch, slurm_conf=conf)
        assert wait_final(job, conf) == "COMPLETED"
        assert squeue_name(job, conf) == slurm_job_name(name)
        assert (launch / "name.txt").read_text() == name
    # The literal name as one sbatch argv word: squeue shows it exactly.
    literal = names[0]
    job = sbatch(script, tmp_path / "job1", slurm_conf=conf, job_name=literal)
    assert wait_final(job, conf) == "COMPLETED"
    assert squeue_name(job, conf) == literal
    assert not pwned.exists()


@pytest.mark.slurm
@pytest.mark.pw
def test_pw_x_runs_under_mpirun_with_two_ranks(local_slurm: ClusterStatus, tmp_path: Path) -> None:
    from htflow.qe.sets import PwInputGenerator

    a = 5.47
    lattice = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    silicon = Structure(lattice, ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    PwInputGenerator(protocol="fast").get_input(silicon).write(tmp_path)
    # The worker is htflow's own runner; the job script's exports choose mpirun -np 2.
    command = [sys.executable, "-c", "from htflow.qe.run import run_pw; run_pw('.')"]
    script = write_job_script(load_profile("local"), command, tmp_path, "Si2 static")
    conf = local_slurm.slurm_conf
    job = sbatch(script, tmp_path, slurm_conf=conf)
    assert wait_running(job, conf) < 30
    assert wait_final(job, conf) == "COMPLETED", (tmp_path / f"slurm-{job}.err").read_text()
    record = sacct([job], slurm_conf=conf)[job]
    assert (record.state, record.exit_code) == ("COMPLETED", 0)
    assert record.elapsed >= 0
    output = (tmp_path / "pw.out").read_text()
    assert re.search(r"Parallel version \(MPI\), running on\s+2 processors", output)
    log = json.loads((tmp_path / "custodian.json").read_text())
    assert log[-1]["job"]["argv"][:3] == ["mpirun", "-np", "2"]
    assert "JOB DONE." in output
    assert (tmp_path / "pw.exitcode").read_text().strip() == "0"


@pytest.mark.slurm
def test_scancel_and_failed_exit_code(local_slurm: ClusterStatus, tmp_path: Path) -> None:
    conf = local_slurm.slurm_conf
    profile = load_profile("local")
    sleeper = write_job_script(profile, ["sleep", "300"], tmp_path, "sleeper")
    job = sbatch(sleeper, tmp_path, slurm_conf=conf)
    wait_running(job, conf)
    scancel(job, slurm_conf=conf)
    assert wait_final(job, conf) == "CANCELLED"
    scancel(job, slurm_conf=conf)  # cancelling again is harmless
    failing = write_job_script(profile, ["bash", "-c", "exit 3"], tmp_path, "fails")
    job = sbatch(failing, tmp_path, slurm_conf=conf)
    assert wait_final(job, conf) == "FAILED"
    assert sacct([job], slurm_conf=conf)[job].exit_code == 3
    assert squeue(["999999"], slurm_conf=conf) == {}


def test_clients_say_how_to_start_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reason = slurm_missing_reason()
    if reason:
        pytest.skip(reason)
    monkeypatch.delenv("SLURM_CONF", raising=False)
    monkeypatch.setenv("HTFLOW_SLURM_STATE", str(tmp_path / "never-up"))
    with pytest.raises(SlurmUnavailableError, match="run `htflow cluster up`"):
        squeue(profile=load_profile("local"))
    with pytest.raises(SlurmUnavailableError, match="run `htflow cluster up`"):
        sbatch(tmp_path / "x.sh", tmp_path, profile=load_profile("local"))
    assert state_directory() == (tmp_path / "never-up").resolve()


@pytest.mark.slurm
def test_private_cluster_up_down_is_idempotent() -> None:
    """A second cluster on its own ports: up twice, down twice, daemons stopped by pid."""
    reason = slurm_missing_reason()
    if reason:
        pytest.skip(reason)
    # Short path: munge's socket path must fit in 107 bytes.
    state = Path(tempfile.mkdtemp(prefix="htf-updown-", dir="/tmp"))
    try:
        first = cluster_up(state_dir=state, port=17817)
        second = cluster_up(state_dir=state, port=17817)
        assert first.up and second.up
        pids = {d.name: d.pid for d in first.daemons if d.running}
        assert {d.name: d.pid for d in second.daemons if d.running} == pids
        assert (state / "etc" / "slurm.conf").read_text().count("SlurmctldPort=17817") == 1
        down = cluster_down(state_dir=state)
        assert not any(d.running for d in down.daemons)
        for pid in pids.values():
            assert pid is not None
            assert not Path(f"/proc/{pid}").exists() or "Z" in _proc_state(pid)
        again = cluster_down(state_dir=state)
        assert not again.up
        result = CliRunner().invoke(cluster_app, ["status", "--state-dir", str(state)])
        assert result.exit_code == 1
        assert "slurmd     stopped" in result.output
    finally:
        cluster_down(state_dir=state)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"
