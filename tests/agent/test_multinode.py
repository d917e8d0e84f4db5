"""The agent on the multi-node local SLURM: streams side by side on real nodes, and node loss.

Both tests run ``htflow agent run`` in a subprocess with real pw.x on the shared three-node
cluster (``multinode_slurm``: namespaced nodes with their own hostnames). Where each
calculation ran is its own record: every MPI rank writes its host and start time to
``pw.hosts`` (earlier attempts are kept as ``pw.<n>.hosts``).

- Streams: one packed allocation of three nodes runs its calculations as ``srun
  --exclusive -N1`` steps; the records show work on every node at the same moment, and no
  process on any node holds the database URI of the agent's environment.
- Node loss: one node of a running allocation dies (every process in its namespace is
  killed, as in a power cut) while a two-rank calculation runs across both; SLURM marks it
  DOWN and the job NODE_FAIL; the agent requeues the lost launches (the long one from its
  checkpoint) onto the other two nodes, every Firework finishes exactly once, and the dead
  node runs nothing until it returns. The node killed is not the batch host: the worker
  there lives on and sees the step fail, which must not count as the calculation's failure.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from jobflow import Flow
from pymatgen.core import Lattice, Structure

from htflow.agent import records
from htflow.cluster.local_slurm import start_node
from htflow.cluster.node_network import kill_namespace_processes, namespace_pids
from htflow.db import get_jobstore, get_launchpad, writer_lock
from htflow.launch.worker import attempts
from htflow.qe.jobs import StaticMaker
from htflow.qe.rundir import PwRunDir
from htflow.qe.sets import PwInputGenerator
from htflow.submit import submit_flow
from tests.agent.agent_helpers import agent_environment, start_agent, write_profile
from tests.cluster.conftest import multinode_slurm  # noqa: F401 (the shared cluster fixture)

if TYPE_CHECKING:
    from fireworks import LaunchPad

    from htflow.cluster.local_slurm import ClusterStatus

pytestmark = [pytest.mark.multinode, pytest.mark.pw]

DEADLINE = 600.0  # s; a bound on the waits, not a timing check


def fcc(a: float, symbol: str, basis: list[list[float]]) -> Structure:
    h = a / 2
    return Structure(Lattice([[0, h, h], [h, 0, h], [h, h, 0]]), [symbol] * len(basis), basis)


def static(structure: Structure, **generator: Any) -> Flow:
    generator.setdefault("protocol", "fast")
    maker = StaticMaker(input_set_generator=PwInputGenerator(calculation="scf", **generator))
    return Flow([maker.make(structure)], name=f"static {structure.composition.reduced_formula}")


def long_static() -> Flow:
    """Si on a dense mesh: a clean stop (checkpoint) after 5 s, then it runs on."""
    generator = PwInputGenerator(
        calculation="scf",
        protocol="fast",
        kpoints_mesh=(14, 14, 14),
        overrides={"control": {"max_seconds": 5}, "electrons": {"conv_thr": 1e-11}},
    )
    maker = StaticMaker(name="long static", input_set_generator=generator)
    return Flow([maker.make(fcc(5.43, "Si", [[0, 0, 0], [0.25, 0.25, 0.25]]))], name="long")


def submit(lp: LaunchPad, db: str, flows: list[Flow]) -> dict[str, int]:
    """Submit before the agent runs (under the writer lock); job uuid → fw_id."""
    fw_ids: dict[str, int] = {}
    with writer_lock(db):
        for flow in flows:
            result = submit_flow(flow, lp, job_type_of=lambda _job: "small")
            assert result.submitted
            fw_ids.update(result.fw_ids)
    return fw_ids


def completed(lp: LaunchPad, count: int) -> bool:
    return [d["state"] for d in lp.fireworks.find({}, {"state": 1})].count("COMPLETED") == count


def stop(agent: subprocess.Popen[bytes]) -> None:
    agent.send_signal(signal.SIGTERM)
    try:
        agent.wait(timeout=120)
    except subprocess.TimeoutExpired:
        agent.kill()


def assert_exactly_once(lp: LaunchPad, db: str, fw_ids: dict[str, int]) -> None:
    """Every Firework COMPLETED with one launch, and one successful task document."""
    fws = list(lp.fireworks.find({}, {"state": 1, "launches": 1}))
    assert len(fws) == len(fw_ids)
    assert {d["state"] for d in fws} == {"COMPLETED"}
    assert all(len(d["launches"]) == 1 for d in fws)
    assert {d["state"] for d in lp.launches.find({}, {"state": 1})} == {"COMPLETED"}
    store = get_jobstore(db)
    store.connect()
    for uuid in fw_ids:
        docs = list(store.docs_store.query({"uuid": uuid}))
        assert len(docs) == 1 and docs[0]["output"]["state"] == "successful"


def rank_starts(launch_dir: str) -> list[tuple[str, float]]:
    """(host, start) of every rank of every attempt in a launch directory."""
    out = PwRunDir(launch_dir).rank_hosts()
    for older in Path(launch_dir).glob("pw.*.hosts"):
        out += PwRunDir(launch_dir).rank_hosts(older)
    return out


def node_states(status: ClusterStatus) -> dict[str, str]:
    out = subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%N %T"],
        env={"SLURM_CONF": str(status.slurm_conf), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return dict(line.split() for line in out.splitlines() if len(line.split()) == 2)


def test_streams_run_side_by_side_on_every_node(
    multinode_slurm: ClusterStatus,  # noqa: F811
    tmp_path: Path,
) -> None:
    database = socket.create_server(("127.0.0.1", 0))  # what the agent's URI points at
    database.settimeout(0.1)
    uri = f"mongodb://htuser:s3cr3t-pw@127.0.0.1:{database.getsockname()[1]}/htflow"
    db = f"file://{tmp_path}/db"
    lp = get_launchpad(db)
    diamond = [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]]
    structures = [fcc(a, "Si", diamond) for a in (5.38, 5.43, 5.48)]
    structures += [fcc(a, "Al", [[0.0, 0.0, 0.0]]) for a in (4.00, 4.05, 4.10)]
    fw_ids = submit(lp, db, [static(s, kpoints_mesh=(6, 6, 6)) for s in structures])
    profile = write_profile(tmp_path, base="local-multinode", nodes=3)
    agent_dir = tmp_path / "agent"
    env = agent_environment(
        multinode_slurm.slurm_conf, tmp_path / "home", {"HTFLOW_DB_URI": uri, "MONGODB_URI": uri}
    )
    agent = start_agent(agent_dir, db, profile, env)
    seen: dict[str, set[str]] = {n.name: set() for n in multinode_slurm.nodes}
    leaked: list[str] = []
    start = time.monotonic()
    try:
        while not completed(lp, len(fw_ids)) and time.monotonic() - start < DEADLINE:
            for node in multinode_slurm.nodes:  # every process on every node, as it runs
                for pid in namespace_pids(node.namespace):
                    comm, environ = _process(pid)
                    seen[node.name].add(comm)
                    if "s3cr3t-pw" in environ or "mongodb://" in environ:
                        leaked.append(f"{node.name} {pid} {comm}")
            time.sleep(0.2)
    finally:
        stop(agent)
    log = (agent_dir / "agent.log").read_text(errors="replace")
    assert completed(lp, len(fw_ids)), log[-3000:]
    assert_exactly_once(lp, db, fw_ids)

    assert_side_by_side_on_every_node(lp, db)

    # No process on any node held the agent's database URI, and none reached its address.
    assert all("pw.x" in comms for comms in seen.values()), seen
    assert leaked == []
    with pytest.raises(TimeoutError):
        database.accept()
    database.close()


def assert_side_by_side_on_every_node(lp: LaunchPad, db: str) -> None:
    """One allocation of three streams ran srun steps on all three nodes at one moment."""
    # One allocation of three nodes, three streams; each calculation an srun step.
    allocs = list(records.allocations(lp).find({}))
    assert len(allocs) == 1 and allocs[0]["streams"] == 3, allocs
    busy: dict[str, list[tuple[float, float]]] = {}
    for launch in records.launches(lp).find({}):
        (host, began), *others = PwRunDir(launch["launch_dir"]).rank_hosts()
        assert not others  # one rank
        ended = max(a["time"] for a in attempts(launch["launch_dir"]) if "outcome" in a)
        busy.setdefault(host, []).append((began, ended))
        log = json.loads((Path(launch["launch_dir"]) / "custodian.json").read_text())
        argv = log[-1]["job"]["argv"]
        assert argv[0] == "srun" and {"--exclusive", "-N1"} <= set(argv), argv
    assert sorted(busy) == ["node1", "node2", "node3"], busy
    # A moment at which every node was running a calculation.
    moments = [began for spans in busy.values() for began, _ in spans]
    assert any(
        all(any(b <= t < e for b, e in spans) for spans in busy.values()) for t in moments
    ), busy
    # The task documents say where they ran.
    store = get_jobstore(db)
    store.connect()
    hosts = {d["output"]["hosts"][0] for d in store.docs_store.query({}) if d["output"]["hosts"]}
    assert hosts == {"node1", "node2", "node3"}


def _process(pid: int) -> tuple[str, str]:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:
        return "", ""
    return comm, environ


def test_node_loss_requeues_onto_the_other_nodes(
    multinode_slurm: ClusterStatus,  # noqa: F811
    tmp_path: Path,
) -> None:
    db = f"file://{tmp_path}/db"
    lp = get_launchpad(db)
    diamond = [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]]
    smalls = [static(fcc(a, "Si", diamond)) for a in (5.40, 5.48)]
    smalls += [static(fcc(a, "C", diamond)) for a in (3.55,)]
    fw_ids = submit(lp, db, [long_static(), *smalls])  # the long one runs first
    long_fw = fw_ids[next(u for u, i in fw_ids.items() if lp.get_fw_by_id(i).name == "long static")]
    # Allocations of two of the three nodes, and every calculation on both (two ranks, one
    # per node), so the node that dies, whichever it is, runs the long calculation's rank.
    profile = write_profile(tmp_path, base="local-multinode", ranks_per_calculation=2)
    agent_dir = tmp_path / "agent"
    env = agent_environment(multinode_slurm.slurm_conf, tmp_path / "home")
    agent = start_agent(agent_dir, db, profile, env)
    killed: dict[str, Any] = {}
    down_seen = False
    start = time.monotonic()
    try:
        while not completed(lp, len(fw_ids)) and time.monotonic() - start < DEADLINE:
            if not killed:
                killed = _kill_the_other_node(lp, long_fw, multinode_slurm)
            elif not down_seen:
                down_seen = node_states(multinode_slurm).get(killed["node"], "").startswith("down")
            time.sleep(0.2)
        states_at_end = node_states(multinode_slurm)
    finally:
        stop(agent)
        if killed:  # the node returns: its slurmd starts again and registers
            start_node(killed["node"], multinode_slurm.state_dir)
    log = (agent_dir / "agent.log").read_text(errors="replace")
    assert killed, f"the long run never reached its checkpoint; {log[-3000:]}"
    assert completed(lp, len(fw_ids)), log[-3000:]
    assert_exactly_once(lp, db, fw_ids)

    # SLURM saw the node die: DOWN, and the allocation NODE_FAIL (not requeued by SLURM).
    assert down_seen
    failed = records.allocations(lp).find_one({"job_id": killed["job_id"]})
    assert failed["slurm_state"] == "NODE_FAIL", failed
    assert records.allocations(lp).count_documents({}) >= 2
    # The node stayed out until it returned: nothing ran there after its death, and it
    # was still DOWN when the work was done.
    for launch in records.launches(lp).find({}):
        after = [h for h, t in rank_starts(launch["launch_dir"]) if t > killed["time"]]
        assert killed["node"] not in after, (launch["launch_dir"], after)
    assert states_at_end[killed["node"]].startswith("down"), states_at_end
    # The long calculation was requeued as a failure of its allocation (the worker either
    # recorded that its allocation was ending or was stopped before it could say anything)
    # and continued from its checkpoint on the two nodes left.
    long = records.launches(lp).find_one({"fw_id": long_fw})
    assert long["failures"] == 1, long
    in_failed = [a for a in attempts(long["launch_dir"]) if a.get("job_id") == killed["job_id"]]
    assert [a.get("outcome") for a in in_failed if "outcome" in a] in ([], ["allocation_ended"])
    final = (Path(long["launch_dir"]) / "pw.out").read_text()
    assert "Calculation restarted from" in final or "density is read from file" in final
    assert "convergence has been achieved" in final
    assert re.search(r"MPI processes distributed on\s+2 nodes", final)
    # Back in service once its slurmd registered again.
    wait_until_idle(multinode_slurm, killed["node"])


def wait_until_idle(status: ClusterStatus, node: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while node_states(status)[node] != "idle":
        assert time.monotonic() < deadline, node_states(status)
        time.sleep(0.5)


def _kill_the_other_node(lp: LaunchPad, long_fw: int, status: ClusterStatus) -> dict[str, Any]:
    """Once the long run is past its first checkpoint, kill the node that is not the batch host.

    A rank of the long run's ``srun`` step runs there; the worker on the batch host lives
    on, sees the step fail ("Node failure") and must not take that for the calculation's.
    """
    long = records.launches(lp).find_one({"fw_id": long_fw})
    if long is None or long.get("alloc_id") is None:
        return {}
    directory = Path(long["launch_dir"])
    hosts = {host for host, _ in PwRunDir(directory).rank_hosts()}
    if not (directory / "pw.1.out").exists() or len(hosts) < 2:
        return {}  # not past its first clean stop yet
    batch_host = [a for a in attempts(directory) if a.get("event") == "start"][-1]["host"]
    (node,) = hosts - {batch_host}
    alloc = records.allocations(lp).find_one({"alloc_id": long["alloc_id"]})
    namespace = next(n.namespace for n in status.nodes if n.name == node)
    kill_namespace_processes(namespace)
    return {"node": node, "time": time.time(), "job_id": alloc["job_id"]}
