"""The agent survives the faults of a real campaign: real SLURM, real pw.x.

Thirteen calculations (twelve small statics and one long one) run through ``htflow agent
run`` in a subprocess, two at a time, while the test:

- scancels a running allocation;
- shrinks the time limit of the long calculation's allocation (``scontrol update
  TimeLimit=1``) after its first checkpoint, so SLURM kills it (TIMEOUT) and the next
  allocation continues from the checkpoint;
- kills -9 a pw.x inside an allocation (Custodian restarts it);
- kills -9 the agent while it ingests, and starts it again;
- submits the same campaign a second time (through the agent's inbox: nothing is added).

Then each calculation is COMPLETED exactly once with one task document in the store, and no
database URI or password is in any launch directory, job script or log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from jobflow import Flow
from pymatgen.core import Lattice, Structure

from htflow.agent import records
from htflow.db import get_jobstore, get_launchpad, writer_lock
from htflow.launch.worker import attempts
from htflow.qe.jobs import StaticMaker
from htflow.qe.sets import PwInputGenerator
from htflow.submit import submit_flow
from htflow.submit.inbox import queue_submission
from tests.agent.agent_helpers import agent_environment, start_agent, write_profile
from tests.cluster.conftest import local_slurm  # noqa: F401 (the shared cluster fixture)

if TYPE_CHECKING:
    from fireworks import LaunchPad

    from htflow.cluster.local_slurm import ClusterStatus

pytestmark = [pytest.mark.slurm, pytest.mark.pw]

SECRET_URI = "mongodb://htuser:s3cr3t-pw@127.0.0.1:1/htflow_secret_db"
SECRET_WORDS = ("s3cr3t-pw", "htuser:", "htflow_secret_db")
DEADLINE = 720.0  # s; a bound on the wait, not a timing check: ~4 minutes on 2 idle cores


def fcc(a: float, symbol: str, basis: list[list[float]]) -> Structure:
    h = a / 2
    return Structure(Lattice([[0, h, h], [h, 0, h], [h, h, 0]]), [symbol] * len(basis), basis)


def small_structures() -> list[Structure]:
    diamond = [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]]
    out = [fcc(a, "Si", diamond) for a in (5.36, 5.40, 5.44, 5.48, 5.52)]
    out += [fcc(a, "C", diamond) for a in (3.53, 3.57, 3.61)]
    out += [fcc(a, "Al", [[0.0, 0.0, 0.0]]) for a in (3.98, 4.02, 4.06, 4.10)]
    return out


def small_flow(structure: Structure) -> Flow:
    maker = StaticMaker(input_set_generator=PwInputGenerator(calculation="scf", protocol="fast"))
    return Flow([maker.make(structure)], name=f"static {structure.composition.reduced_formula}")


def long_flow() -> Flow:
    """Si with a dense mesh and a high cutoff; a checkpoint after 30 s.

    It must outlive the 1-minute time limit the test sets even on an idle machine: with an
    18^3 mesh it finished in 30 + 20 s there, before SLURM could time it out.
    """
    generator = PwInputGenerator(
        calculation="scf",
        protocol="fast",
        kpoints_mesh=(24, 24, 24),
        overrides={
            "control": {"max_seconds": 30},
            "system": {"ecutwfc": 45.0, "ecutrho": 180.0},
            "electrons": {"conv_thr": 1e-12, "mixing_beta": 0.01},
        },
    )
    maker = StaticMaker(name="long static", input_set_generator=generator)
    return Flow([maker.make(fcc(5.43, "Si", [[0, 0, 0], [0.25, 0.25, 0.25]]))], name="long")


def campaign() -> list[tuple[Flow, bool]]:
    """(flow, is the long one) for every calculation; new uuids at each call."""
    return [(small_flow(s), False) for s in small_structures()] + [(long_flow(), True)]


def submit_campaign(lp: LaunchPad, db: str) -> dict[str, int]:
    """Submit once (before the agent runs, so under the writer lock); job uuid → fw_id."""
    fw_ids: dict[str, int] = {}
    with writer_lock(db):
        for flow, is_long in campaign():
            result = submit_flow(flow, lp, job_type_of=(lambda _j: "large") if is_long else _small)
            assert result.submitted
            fw_ids.update(result.fw_ids)
    return fw_ids


def _small(_job: Any) -> str:
    return "small"


class Faults:
    """The faults, each injected once when its moment comes."""

    def __init__(self, lp: LaunchPad, agent_dir: Path, env: dict[str, str], long_fw: int):
        self.lp = lp
        self.agent_dir = agent_dir
        self.env = env
        self.long_fw = long_fw
        self.done: dict[str, Any] = {}

    def slurm(self, *argv: str) -> str:
        return subprocess.run(
            argv, env=self.env, capture_output=True, text=True, check=False, timeout=60
        ).stdout

    def running_allocations(self) -> list[dict[str, Any]]:
        queued = records.allocations(self.lp).find({"state": "queued"}, {"_id": 0})
        return [a for a in queued if a.get("slurm_state") == "RUNNING"]

    def long_launch(self) -> dict[str, Any] | None:
        return records.launches(self.lp).find_one({"fw_id": self.long_fw}, {"_id": 0})

    def scancel_a_running_allocation(self) -> None:
        long = self.long_launch()
        for alloc in self.running_allocations():
            if long and long["launch_id"] in alloc["launch_ids"]:
                continue
            started = [
                d["launch_dir"]
                for d in records.launches(self.lp).find({"alloc_id": alloc["alloc_id"]})
                if any(a.get("job_id") == alloc["job_id"] for a in attempts(d["launch_dir"]))
            ]
            if started:
                self.slurm("scancel", alloc["job_id"])
                self.done["scancel"] = alloc["job_id"]
                return

    def shrink_time_limit_of_the_long_run(self) -> None:
        long = self.long_launch()
        if long is None or not (Path(long["launch_dir"]) / "pw.1.out").exists():
            return  # wait for its first checkpoint
        for alloc in self.running_allocations():
            if long["launch_id"] in alloc["launch_ids"]:
                self.slurm("scontrol", "update", f"JobId={alloc['job_id']}", "TimeLimit=1")
                self.done["timelimit"] = alloc["job_id"]

    def kill_a_pw_x(self, launch_root: Path) -> None:
        long = self.long_launch()
        for pid in _pids_of("pw.x"):
            try:
                cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
            except OSError:
                continue
            busy = (cwd / "pw.out").exists() and (cwd / "pw.out").stat().st_size > 0
            if (
                busy
                and launch_root in cwd.parents
                and (long is None or str(cwd) != long["launch_dir"])
            ):
                os.kill(pid, signal.SIGKILL)
                self.done["pw_kill"] = str(cwd)
                return


def _pids_of(program: str) -> list[int]:
    """Pids whose executable name is ``program`` (read from /proc; nothing is killed here)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == program:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _result_file(request: Path) -> Path:
    """The agent's answer to an inbox request file."""
    return request.parent / "done" / f"{request.stem}.result.json"


def _answered(requests: list[Path] | None) -> bool:
    """Whether the agent answered every request (None: not sent yet)."""
    return requests is not None and all(_result_file(p).exists() for p in requests)


def _wait_for_log_line(log: Path, text: str, after: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace")[after:]:
            return True
        time.sleep(0.01)
    return False


def test_campaign_survives_faults(  # noqa: PLR0915 (one story, told in order)
    local_slurm: ClusterStatus,  # noqa: F811
    tmp_path: Path,
) -> None:
    db = f"file://{tmp_path}/db"
    lp = get_launchpad(db)
    fw_ids = submit_campaign(lp, db)
    long_fw = fw_ids[next(u for u, i in fw_ids.items() if lp.get_fw_by_id(i).name == "long static")]
    profile = write_profile(
        tmp_path,
        tasks_per_node=1,
        ranks_per_calculation=1,
        max_jobs_in_queue=2,
        calculations_per_allocation=4,
        walltime_margin=10,
        resources={
            "small": {"walltime": "00:10:00", "calculations_per_allocation": 4},
            "large": {"walltime": "00:10:00", "calculations_per_allocation": 1},
        },
    )
    agent_dir = tmp_path / "agent"
    secrets = {"HTFLOW_DB_URI": SECRET_URI, "MONGODB_URI": SECRET_URI}
    env = agent_environment(local_slurm.slurm_conf, tmp_path / "home", secrets)
    log = agent_dir / "agent.log"
    agent = start_agent(agent_dir, db, profile, env)
    faults = Faults(lp, agent_dir, env, long_fw)
    launch_root = agent_dir / "launches"
    start = time.monotonic()
    finished = False
    try:
        while time.monotonic() - start < DEADLINE:
            states = [d["state"] for d in lp.fireworks.find({}, {"state": 1})]
            if states.count("COMPLETED") == len(fw_ids) and _answered(faults.done.get("resubmit")):
                finished = True
                break
            if "scancel" not in faults.done:
                faults.scancel_a_running_allocation()
            if "timelimit" not in faults.done:
                faults.shrink_time_limit_of_the_long_run()
            if "pw_kill" not in faults.done and "scancel" in faults.done:
                faults.kill_a_pw_x(launch_root)
            if "agent_kill" not in faults.done and states.count("COMPLETED") >= 3:
                offset = len(log.read_text(errors="replace")) if log.exists() else 0
                if _wait_for_log_line(log, "ingesting launch", offset, timeout=60):
                    agent.kill()  # SIGKILL, mid-ingestion
                    agent.wait()
                    faults.done["agent_kill"] = time.monotonic() - start
                    agent = start_agent(agent_dir, db, profile, env)
            if "agent_kill" in faults.done and "resubmit" not in faults.done:
                faults.done["resubmit"] = [queue_submission(f, agent_dir) for f, _ in campaign()]
            time.sleep(0.2)
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=120)
        except subprocess.TimeoutExpired:
            agent.kill()
    report = f"faults: {faults.done}; log tail:\n" + "\n".join(
        log.read_text(errors="replace").splitlines()[-30:]
    )
    assert set(faults.done) >= {"scancel", "timelimit", "pw_kill", "agent_kill", "resubmit"}, report
    assert finished, f"the campaign did not finish within the {DEADLINE:.0f} s wait; {report}"

    # The second submission went through the inbox: every flow reported as duplicates.
    for path in faults.done["resubmit"]:
        result = json.loads(_result_file(path).read_text())
        assert result["status"] == "applied" and "error" not in result, result
        assert result["submitted"] is False and result["n_fireworks"] == 0, result
        assert result["duplicates"] == result["n_jobs"] == 1, result

    # Every calculation COMPLETED exactly once: one Firework, one launch, one output.
    fws = list(lp.fireworks.find({}, {"fw_id": 1, "state": 1, "launches": 1, "spec": 1}))
    assert len(fws) == len(fw_ids), "the second submission added Fireworks"
    assert {d["state"] for d in fws} == {"COMPLETED"}, report
    assert all(len(d["launches"]) == 1 for d in fws)
    for launch in lp.launches.find({}, {"state": 1}):
        assert launch["state"] == "COMPLETED"
    store = get_jobstore(db)
    store.connect()
    for uuid in fw_ids:
        docs = list(store.docs_store.query({"uuid": uuid}))
        assert len(docs) == 1
        assert docs[0]["output"]["state"] == "successful"
    # Nothing run twice: one converged pw.x run per small calculation.
    for doc in records.launches(lp).find({}):
        finished = [
            p for p in Path(doc["launch_dir"]).glob("pw*.out") if "JOB DONE" in p.read_text()
        ]
        if doc["fw_id"] != long_fw:
            assert len(finished) == 1, (doc["launch_dir"], finished)

    # The scancelled allocation ended CANCELLED and its launches were requeued.
    cancelled = records.allocations(lp).find_one({"job_id": faults.done["scancel"]})
    assert cancelled["slurm_state"] == "CANCELLED"
    # The long run: SLURM killed it (TIMEOUT) and the next allocation continued from the
    # checkpoint it wrote in the first one.
    timed_out = records.allocations(lp).find_one({"job_id": faults.done["timelimit"]})
    assert timed_out["slurm_state"] == "TIMEOUT"
    long = records.launches(lp).find_one({"fw_id": long_fw})
    assert long["failures"] >= 1
    final = (Path(long["launch_dir"]) / "pw.out").read_text()
    # The killed run had consumed pw.x's scf restart file; the density of the clean stop is
    # the checkpoint it continues from.
    assert "Calculation restarted from" in final or "density is read from file" in final, final[
        :3000
    ]
    assert "convergence has been achieved" in final
    # The killed pw.x was restarted by Custodian inside its allocation.
    killed = Path(faults.done["pw_kill"])
    assert list(killed.glob("pw.*.out")), sorted(p.name for p in killed.iterdir())
    assert "KilledHandler" in (killed / "custodian.json").read_text()
    # The agent recovered after kill -9 (two start-ups).
    assert log.read_text().count("recovery:") == 2

    # No database URI or password anywhere the compute side or the logs can see.
    db_path = db.removeprefix("file://")
    for path in agent_dir.rglob("*"):
        if not path.is_file() or path.stat().st_size > 20_000_000:
            continue
        text = path.read_bytes().decode(errors="replace")
        for word in SECRET_WORDS:
            assert word not in text, f"{word!r} leaked into {path}"
        if path.name not in ("agent.log", "agent.stderr"):
            assert db_path not in text, f"the database path leaked into {path}"
