"""A single-node SLURM on this machine: ``htflow cluster up | down | status``.

No systemd and no cgroups: every daemon runs as root from a config under one state
directory (``$HTFLOW_SLURM_STATE``, default ``<htflow home>/slurm``), writes its pid file
there and is stopped by that pid. The layout::

    <state>/etc/slurm.conf        clients: export SLURM_CONF=<state>/etc/slurm.conf
    <state>/etc/slurmdbd.conf     0600, holds the generated MariaDB password (accounting)
    <state>/etc/cluster.json      what `up` was asked for (accounting, base port)
    <state>/munge/munge.key       0600 key, 0700 directory
    <state>/run/                  munge.socket, mysqld.sock and every daemon's pid file
    <state>/log/                  daemon logs and jobcomp.txt (one line per finished job)
    <state>/ctld/, <state>/spool/ slurmctld state and slurmd spool
    <state>/mysql/                MariaDB datadir (accounting only)

Paths and what the config files say: :mod:`htflow.cluster.local_slurm_config`; starting
and stopping each daemon: :mod:`htflow.cluster.local_slurm_daemons`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from htflow.cluster.daemons import LocalClusterError, file_lock, pid_alive
from htflow.cluster.local_slurm_config import (
    DEFAULT_PORT,
    LocalSlurm,
    existing_password,
    node_hardware,
    prepare_directories,
    slurm_conf_text,
    slurmdbd_conf_text,
    write_if_changed,
)
from htflow.cluster.local_slurm_daemons import (
    run_client,
    start_munged,
    start_mysqld,
    start_slurm,
    start_slurmd,
    start_slurmdbd,
    stop_all,
)
from htflow.cluster.node_network import (
    Node,
    NodeNetwork,
    create_network,
    names_for,
    namespace_problem,
    plan_network,
    remove_network,
)
from htflow.exceptions import InputError
from htflow.settings import get_settings

if TYPE_CHECKING:
    from collections.abc import Iterator

STATE_ENV = "HTFLOW_SLURM_STATE"  # the setting slurm_state
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes including the terminating NUL
REQUIRED_PROGRAMS = ("munged", "slurmctld", "slurmd", "sinfo")
ACCOUNTING_PROGRAMS = ("slurmdbd", "mysqld", "mysql_install_db", "mysql", "sacctmgr")
DEBIAN_PACKAGES = "slurm-wlm munge (and slurmdbd mariadb-server for --accounting)"


def state_directory(state_dir: str | Path | None = None) -> Path:
    """The local cluster's state directory: argument, ``$HTFLOW_SLURM_STATE``, or home/slurm."""
    if state_dir is not None:
        return Path(state_dir).expanduser().resolve()
    settings = get_settings()
    if settings.slurm_state is not None:
        return settings.slurm_state.expanduser().resolve()
    return (settings.home / "slurm").resolve()


@dataclass
class DaemonStatus:
    """One daemon's state."""

    name: str
    pid: int | None

    @property
    def running(self) -> bool:
        """True while the daemon's pid is alive."""
        return self.pid is not None


@dataclass
class ClusterStatus:
    """What ``htflow cluster status`` reports."""

    state_dir: Path
    slurm_conf: Path
    accounting: bool
    daemons: list[DaemonStatus] = field(default_factory=list)
    sinfo: str = ""
    network: NodeNetwork | None = None

    @property
    def up(self) -> bool:
        """True when munged, slurmctld and every slurmd (and the accounting daemons) run."""
        needed = {"munged", "slurmctld", "slurmd"}
        if self.accounting:
            needed |= {"mysqld", "slurmdbd"}
        return all(d.running for d in self.daemons if d.name.split("@")[0] in needed)

    @property
    def nodes(self) -> list[Node]:
        """The namespaced compute nodes (none when slurmd runs on this host)."""
        return list(self.network.nodes) if self.network is not None else []

    def format(self) -> str:
        """Human-readable report, ending with the line that points clients at the cluster."""
        lines = [
            f"local SLURM in {self.state_dir} (accounting: {'on' if self.accounting else 'off'})"
        ]
        width = max([10, *(len(d.name) for d in self.daemons)])
        for daemon in self.daemons:
            state = f"running (pid {daemon.pid})" if daemon.running else "stopped"
            lines.append(f"  {daemon.name:<{width}} {state}")
        if self.network is not None:
            lines += ["", f"nodes on bridge {self.network.bridge} ({self.network.subnet}):"]
            lines += [
                f"  {n.name:<10} {n.address:<15} namespace {n.namespace}"
                for n in self.network.nodes
            ]
        if self.sinfo:
            lines += ["", self.sinfo.rstrip()]
        lines += ["", f"export SLURM_CONF={self.slurm_conf}"]
        return "\n".join(lines)


def _cluster(state_dir: str | Path | None, port: int | None = None) -> LocalSlurm:
    """The cluster as its last ``up`` recorded it (its port, its namespaced nodes)."""
    root = state_directory(state_dir)
    recorded = _read_state(root / "etc" / "cluster.json")
    if port is None:
        configured = get_settings().slurm_port
        port = configured if configured is not None else int(recorded.get("port", DEFAULT_PORT))
    network = recorded.get("network")
    cluster = LocalSlurm(
        root, port, NodeNetwork.from_json(network) if isinstance(network, dict) else None
    )
    if len(str(cluster.munge_socket)) > MAX_SOCKET_PATH:
        raise InputError(
            f"state directory {root} is too long for a unix socket: set {STATE_ENV} to a "
            "shorter path"
        )
    return cluster


def _read_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _check_programs(accounting: bool) -> None:
    needed = REQUIRED_PROGRAMS + (ACCOUNTING_PROGRAMS if accounting else ())
    missing = [p for p in needed if shutil.which(p) is None]
    if missing:
        raise LocalClusterError(
            f"{', '.join(missing)} not found: install the Debian packages {DEBIAN_PACKAGES}"
        )


def cluster_up(
    accounting: bool = False,
    state_dir: str | Path | None = None,
    port: int | None = None,
    timeout: float = 60.0,
    nodes: int = 1,
) -> ClusterStatus:
    """Start (or confirm) the local SLURM; idempotent and safe to call from several processes.

    Parameters
    ----------
    accounting
        Also run MariaDB and slurmdbd so that ``sacct`` works. Switching this on or off on
        a running cluster restarts it.
    state_dir
        Where everything lives; default ``$HTFLOW_SLURM_STATE`` or ``<htflow home>/slurm``.
    port
        slurmctld's port; slurmd, slurmdbd and mysqld use the next three. Default
        ``$HTFLOW_SLURM_PORT``, the port recorded by the last ``up``, or 6817.
    timeout
        Seconds to wait for each daemon to become ready.
    nodes
        Compute nodes (count). 1: slurmd runs on this host. More: each slurmd runs in a
        network namespace of its own on a private bridge (:mod:`htflow.cluster.node_network`;
        needs root). Changing the count on a running cluster restarts it.

    Raises
    ------
    LocalClusterError
        A program is missing, namespaces cannot be made, or a daemon did not come up (the
        message names its log).
    """
    if nodes < 1:
        raise InputError(f"--nodes {nodes}: a cluster needs at least one node")
    _check_programs(accounting)
    if nodes > 1 and (problem := namespace_problem()) is not None:
        raise LocalClusterError(problem)
    cluster = _cluster(state_dir, port)
    with file_lock(cluster.root / "lock"):
        cluster = _cluster(state_dir, port)  # what the last up recorded, read under the lock
        recorded = _read_state(cluster.state_file)
        network = _network_for(cluster, nodes)
        wanted = LocalSlurm(cluster.root, cluster.port, network)
        prepare_directories(wanted)
        conf = slurm_conf_text(wanted, accounting, node_hardware())
        running = any(d.pid() is not None for d in cluster.daemons().values())
        changed = not cluster.slurm_conf.is_file() or cluster.slurm_conf.read_text() != conf
        if running and (changed or recorded.get("accounting") != accounting):
            stop_all(cluster)
        if cluster.network is not None and cluster.network != network:
            remove_network(cluster.network)
        cluster = wanted
        write_if_changed(cluster.slurm_conf, conf, 0o644)
        # Recorded before anything is created, so `down` removes a half-made network too.
        state: dict[str, Any] = {"accounting": accounting, "port": cluster.port}
        if network is not None:
            state["network"] = network.to_json()
        cluster.state_file.write_text(json.dumps(state))
        if network is not None:
            create_network(network)
        start_munged(cluster, timeout)
        if accounting:
            password = existing_password(cluster) or secrets.token_urlsafe(24)
            write_if_changed(cluster.dbd_conf, slurmdbd_conf_text(cluster, password), 0o600)
            start_mysqld(cluster, password, timeout)
            start_slurmdbd(cluster, timeout)
        start_slurm(cluster, timeout)
        return _status(cluster)


def _network_for(cluster: LocalSlurm, nodes: int) -> NodeNetwork | None:
    """The recorded network when it has ``nodes`` nodes on this port, else a new plan."""
    if nodes == 1:
        return None
    recorded = cluster.network
    bridge, _ = names_for(cluster.port, nodes)
    if recorded is not None and len(recorded.nodes) == nodes and recorded.bridge == bridge:
        return recorded
    # The recorded network goes only after its daemons stopped (the caller removes it).
    return plan_network(cluster.port, nodes)


def cluster_down(state_dir: str | Path | None = None) -> ClusterStatus:
    """Cancel the cluster's jobs, stop its daemons by pid and remove its namespaced nodes.

    A no-op when it is down. Only the namespaces, veths and bridge recorded by ``up`` go.
    """
    cluster = _cluster(state_dir)
    if not cluster.root.is_dir():
        return _status(cluster)
    with file_lock(cluster.root / "lock"):
        cluster = _cluster(state_dir)
        stop_all(cluster)
        if cluster.network is not None:
            remove_network(cluster.network)
            state = _read_state(cluster.state_file)
            state.pop("network", None)
            cluster.state_file.write_text(json.dumps(state))
            cluster = LocalSlurm(cluster.root, cluster.port)
        return _status(cluster)


def start_node(node: str, state_dir: str | Path | None = None, timeout: float = 60.0) -> None:
    """Start a namespaced node's slurmd again (after it died): SLURM returns the node to use.

    Raises
    ------
    InputError
        The cluster has no namespaced nodes, or none called ``node``.
    """
    cluster = _cluster(state_dir)
    if cluster.network is None or node not in cluster.network.node_names():
        raise InputError(
            f"no namespaced node {node!r} in {cluster.root}: see `htflow cluster status`"
        )
    start_slurmd(cluster, node, timeout)


def cluster_status(state_dir: str | Path | None = None) -> ClusterStatus:
    """Each daemon's pid (or stopped) and the ``sinfo`` summary."""
    return _status(_cluster(state_dir))


def _status(cluster: LocalSlurm) -> ClusterStatus:
    recorded = _read_state(cluster.state_file)
    daemons = [DaemonStatus(name, d.pid()) for name, d in cluster.daemons().items()]
    summary = ""
    if any(d.running for d in daemons if d.name == "slurmctld"):
        result = run_client(["sinfo"], cluster, timeout=10)
        summary = result.stdout if result.returncode == 0 else result.stderr
    return ClusterStatus(
        state_dir=cluster.root,
        slurm_conf=cluster.slurm_conf,
        accounting=bool(recorded.get("accounting", False)),
        daemons=daemons,
        sinfo=summary,
        network=cluster.network,
    )


def local_slurm_conf(state_dir: str | Path | None = None) -> Path:
    """The slurm.conf SLURM clients of the local cluster use (whether or not it is up)."""
    return _cluster(state_dir).slurm_conf


@contextmanager
def shared_cluster(
    state_dir: str | Path | None = None,
    accounting: bool = False,
    port: int | None = None,
    timeout: float = 60.0,
    nodes: int = 1,
) -> Iterator[ClusterStatus]:
    """Use the local cluster from several processes (pytest-xdist workers) at once.

    Each user registers its pid under ``<state>/users``; the cluster comes up under the
    state directory's lock, and the last user to leave (dead users are pruned) takes it
    down. A crashed user at worst leaves the cluster running for the next ``up``.
    """
    cluster_dir = state_directory(state_dir)
    users = cluster_dir / "users"
    users.mkdir(parents=True, exist_ok=True)
    me = users / str(os.getpid())
    # Registering and bringing up, like leaving and taking down, happen under one lock, so
    # a leaving user never stops the cluster another user has just been given.
    with file_lock(cluster_dir / "users.lock"):
        me.touch()
        status = cluster_up(
            accounting=accounting, state_dir=cluster_dir, port=port, timeout=timeout, nodes=nodes
        )
    try:
        yield status
    finally:
        with file_lock(cluster_dir / "users.lock"):
            me.unlink(missing_ok=True)
            alive = [p for p in users.iterdir() if p.name.isdigit() and pid_alive(int(p.name))]
            for stale in set(users.iterdir()) - set(alive):
                stale.unlink(missing_ok=True)
            if not alive:
                cluster_down(cluster_dir)
