"""The multi-node local SLURM: namespaced nodes, pw.x across two of them, no way to a database.

Marked ``multinode``: the tests share one three-node cluster (``multinode_slurm``) on one
xdist worker; each node is a network namespace with its own hostname on a private bridge.
"""

from __future__ import annotations

import json
import re
import socket
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
from htflow.cluster.daemons import LocalClusterError
from htflow.cluster.local_slurm import cluster_down, cluster_status, cluster_up
from htflow.cluster.node_network import (
    NODE_INTERFACE,
    namespace_pids,
    namespaces,
    node_routes,
)
from htflow.cluster.profile import load_profile
from htflow.cluster.render import write_job_script
from htflow.cluster.slurm import sbatch, squeue
from htflow.qe.rundir import PwRunDir
from tests.cluster.conftest import MULTINODE_PORT, multinode_missing_reason

if TYPE_CHECKING:
    from htflow.cluster.local_slurm import ClusterStatus

pytestmark = pytest.mark.multinode

FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}
SECRET_URI_TEMPLATE = "mongodb://htuser:s3cr3t-pw@127.0.0.1:{port}/htflow"


def slurm(status: ClusterStatus, *argv: str) -> str:
    """Run a SLURM client of the multi-node cluster from the host; its stdout."""
    result = subprocess.run(
        argv,
        env={"SLURM_CONF": str(status.slurm_conf), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_final(job_id: str, conf: Path, timeout: float = 300.0) -> str:
    """Poll squeue until the job reaches a final state (the timeout bounds the wait only)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = squeue([job_id], slurm_conf=conf).get(job_id)
        if state in FINAL_STATES:
            return state
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not finished after {timeout} s")


def test_nodes_have_their_own_names_addresses_and_no_default_route(
    multinode_slurm: ClusterStatus,
) -> None:
    status = cluster_status(multinode_slurm.state_dir)
    assert status.up, status.format()
    names = [n.name for n in status.nodes]
    assert names == ["node1", "node2", "node3"]
    assert len({n.address for n in status.nodes}) == 3
    report = CliRunner().invoke(
        cluster_app, ["status", "--state-dir", str(multinode_slurm.state_dir)]
    )
    assert report.exit_code == 0, report.output
    for node in status.nodes:
        assert re.search(rf"{node.name}\s+{re.escape(node.address)}\s+namespace", report.output)
        # Its slurmd runs inside its namespace.
        pid = next(d.pid for d in status.daemons if d.name == f"slurmd@{node.name}")
        assert pid in namespace_pids(node.namespace)
        # One route: the cluster's subnet on its one link. No default route, so nothing
        # outside the subnet (the host's other addresses, a database) is reachable.
        routes = node_routes(node)
        assert routes and all(NODE_INTERFACE in r for r in routes), routes
        assert not any(r.startswith("default") for r in routes), routes
    # Job steps run on the nodes, under the nodes' hostnames.
    assert sorted(slurm(status, "srun", "-N3", "uname", "-n").split()) == names


def test_up_and_down_make_and_remove_exactly_their_namespaces() -> None:
    reason = multinode_missing_reason()
    if reason:
        pytest.skip(reason)
    port = MULTINODE_PORT + 10  # its own two nodes, beside the shared three
    decoy = f"htf{port}-decoy"  # named like the cluster's own: down must still leave it
    subprocess.run(["ip", "netns", "add", decoy], check=True)
    state = Path(tempfile.mkdtemp(prefix="htf-mn-updown-", dir="/tmp"))
    mine = f"htf{port}"  # other clusters (the shared one) may come and go meanwhile
    try:
        before_ns, before_links = _named(namespaces(), mine), _named(_links(), mine)
        assert before_ns == {decoy}
        status = cluster_up(state_dir=state, port=port, nodes=2)
        made = {n.namespace for n in status.nodes}
        assert made == {f"{mine}-node1", f"{mine}-node2"}
        assert _named(namespaces(), mine) - before_ns == made
        assert _named(_links(), mine) - before_links == {f"{mine}br", f"{mine}v1", f"{mine}v2"}
        recorded = json.loads((state / "etc" / "cluster.json").read_text())
        assert [n["namespace"] for n in recorded["network"]["nodes"]] == sorted(made)
        down = cluster_down(state_dir=state)
        assert not down.up and not down.nodes
        assert _named(namespaces(), mine) == before_ns == {decoy}
        assert _named(_links(), mine) == before_links
        assert "network" not in json.loads((state / "etc" / "cluster.json").read_text())
    finally:
        cluster_down(state_dir=state)
        subprocess.run(["ip", "netns", "del", decoy], check=False)


def _named(names: set[str] | list[str], prefix: str) -> set[str]:
    return {name for name in names if name.startswith(prefix)}


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def test_without_namespaces_up_says_why_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from htflow.cli.main import main

    monkeypatch.setattr("htflow.cluster.node_network.os.geteuid", lambda: 1000)
    monkeypatch.setattr("htflow.cluster.local_slurm._check_programs", lambda _accounting: None)
    with pytest.raises(LocalClusterError, match="need root"):
        cluster_up(state_dir=tmp_path / "s", port=19837, nodes=2)
    monkeypatch.setattr(
        sys, "argv", ["htflow", "cluster", "up", "--nodes", "2", "--state-dir", str(tmp_path)]
    )
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "need root (CAP_NET_ADMIN)" in err, err
    assert not (tmp_path / "etc").exists()  # nothing was started or written


def _silicon() -> Structure:
    a = 5.47
    lattice = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    return Structure(lattice, ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])


@pytest.mark.pw
def test_pw_x_over_two_nodes_matches_one_node(
    multinode_slurm: ClusterStatus, tmp_path: Path
) -> None:
    """Two ranks on two nodes (srun --mpi=pmix, and mpirun) give the one-node energy."""
    from htflow.qe.sets import PwInputGenerator

    profile = load_profile("local-multinode")
    mpirun = profile.model_copy(update={"mpi_launcher": "mpirun", "mpi_extra_args": []})
    runs = {
        "srun-one-node": (profile, "one-node"),
        "srun-two-nodes": (profile, "across-nodes"),
        "mpirun-two-nodes": (mpirun, "across-nodes"),
    }
    command = [sys.executable, "-c", "from htflow.qe.run import run_pw; run_pw('.')"]
    jobs = {}
    for name, (run_profile, resource_class) in runs.items():
        directory = tmp_path / name
        directory.mkdir()
        PwInputGenerator(protocol="fast").get_input(_silicon()).write(directory)
        resources = run_profile.resources_for(resource_class)
        script = write_job_script(run_profile, command, directory, name, resources=resources)
        # One after another: six ranks at once would share two real cores.
        jobs[name] = job = sbatch(script, directory, slurm_conf=multinode_slurm.slurm_conf)
        state = wait_final(job, multinode_slurm.slurm_conf)
        assert state == "COMPLETED", (directory / f"slurm-{job}.err").read_text()

    energies = {}
    for name in runs:
        run = PwRunDir(tmp_path / name)
        output = run.output_file.read_text()
        assert "JOB DONE." in output
        assert re.search(r"running on\s+2 processors", output)
        nodes = 1 if name == "srun-one-node" else 2
        assert re.search(rf"MPI processes distributed on\s+{nodes} nodes", output), name
        hosts = [host for host, _ in run.rank_hosts()]
        assert len(hosts) == 2 and len(set(hosts)) == nodes, (name, hosts)
        assert set(hosts) <= {"node1", "node2", "node3"}
        argv = json.loads((tmp_path / name / "custodian.json").read_text())[-1]["job"]["argv"]
        assert argv[0] == name.split("-")[0], argv
        energies[name] = float(re.findall(r"^!\s+total energy\s+=\s+(\S+) Ry", output, re.M)[-1])
    reference = energies["srun-one-node"]
    assert all(abs(energy - reference) < 1e-6 for energy in energies.values()), energies


def test_no_database_uri_and_no_route_from_the_nodes(
    multinode_slurm: ClusterStatus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job on two nodes holds no database URI and cannot reach the agent's database."""
    database = socket.create_server(("127.0.0.1", 0))  # the agent's "database"
    database.settimeout(0.5)
    port = database.getsockname()[1]
    uri = SECRET_URI_TEMPLATE.format(port=port)
    monkeypatch.setenv("HTFLOW_DB_URI", uri)
    monkeypatch.setenv("MONGODB_URI", uri)
    host_address = _host_address()
    probe = tmp_path / "probe.py"
    probe.write_text(_PROBE)
    launch = tmp_path / "probe"
    launch.mkdir()
    command = ["srun", "-N2", "-n2", sys.executable, str(probe), str(port), host_address]
    script = write_job_script(load_profile("local-multinode"), command, launch, "probe")
    job = sbatch(script, launch, slurm_conf=multinode_slurm.slurm_conf)
    assert wait_final(job, multinode_slurm.slurm_conf) == "COMPLETED", (
        launch / f"slurm-{job}.err"
    ).read_text()
    try:
        database.accept()
        reached = True
    except TimeoutError:
        reached = False
    database.close()
    reports = [json.loads(p.read_text()) for p in sorted(launch.glob("probe-*.json"))]
    hosts = [r["host"] for r in reports]
    assert len(set(hosts)) == 2 and set(hosts) <= {"node1", "node2", "node3"}, hosts
    for report in reports:
        assert report["secrets"] == [], report
        assert report["database"] == "ConnectionRefusedError", report  # its own loopback
        assert report["host_address"] == "OSError:101", report  # ENETUNREACH: no route
    assert not reached, "a job reached the agent's database"
    assert "s3cr3t-pw" not in script.read_text()


# Run by every task of the probe job: what a worker on a node could find and reach.
_PROBE = """
import json, os, socket, sys
port, host_address = int(sys.argv[1]), sys.argv[2]
def attempt(address):
    try:
        socket.create_connection(address, timeout=5).close()
        return "connected"
    except OSError as exc:
        return type(exc).__name__ if exc.errno != 101 else f"OSError:{exc.errno}"
environ = open("/proc/self/environ", "rb").read().decode(errors="replace")
report = {
    "host": socket.gethostname(),
    "secrets": [v for v in environ.split("\\0") if "mongodb://" in v or "s3cr3t" in v],
    "database": attempt(("127.0.0.1", port)),
    "host_address": attempt((host_address, port)),
}
with open(f"probe-{os.environ['SLURM_PROCID']}.json", "w") as out:
    json.dump(report, out)
"""


def _host_address() -> str:
    """An address of this host outside the cluster's bridge (its default-route source)."""
    out = subprocess.run(
        ["ip", "-4", "route", "get", "192.0.2.123"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"\bsrc (\S+)", out)
    return match.group(1) if match else "192.0.2.1"
