"""The local SLURM's layout on disk and what its configuration files say.

:class:`LocalSlurm` names every path and port of one local cluster; the ``*_text``
functions render slurm.conf and slurmdbd.conf from it; :func:`prepare_directories` and
:func:`write_if_changed` put them on disk with the modes the daemons insist on.

Facts that shaped this (SLURM 22.05, munge 0.5.15, MariaDB 10.11 on Debian 12):

- SLURM reaches munged through ``AuthInfo=socket=...``; the connection to slurmdbd (from
  slurmctld, sacct, sacctmgr) authenticates through ``AccountingStoragePass=<socket>``
  instead, so both are set.
- slurmdbd reads ``slurmdbd.conf`` from the directory of ``SLURM_CONF``.
- MariaDB's client library reads ``/etc/mysql`` option files, so slurmdbd reaches mysqld by
  TCP on 127.0.0.1 (port base+3); the unix socket under ``run/`` is for bootstrap only.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from htflow.cluster.daemons import Daemon, LocalClusterError

if TYPE_CHECKING:
    from htflow.cluster.node_network import NodeNetwork

DEFAULT_PORT = 6817  # slurmctld; slurmd +1, slurmdbd +2, mysqld +3
CLUSTER_NAME = "htflow"
PARTITION = "debug"
DB_NAME = "slurm_acct_db"
NODE_TIMEOUT = 10  # s: SlurmdTimeout of a multi-node local cluster


@dataclass(frozen=True)
class LocalSlurm:
    """Paths and ports of one local cluster rooted at ``root``."""

    root: Path
    port: int = DEFAULT_PORT
    network: NodeNetwork | None = None  # compute nodes in namespaces; None: this host only

    @property
    def etc(self) -> Path:
        """Configuration directory."""
        return self.root / "etc"

    @property
    def run(self) -> Path:
        """Sockets and pid files."""
        return self.root / "run"

    @property
    def log(self) -> Path:
        """Daemon logs and the job-completion file."""
        return self.root / "log"

    @property
    def slurm_conf(self) -> Path:
        """The slurm.conf that daemons and clients read."""
        return self.etc / "slurm.conf"

    @property
    def dbd_conf(self) -> Path:
        """slurmdbd.conf (0600), next to slurm.conf where slurmdbd looks for it."""
        return self.etc / "slurmdbd.conf"

    @property
    def state_file(self) -> Path:
        """JSON record of what ``up`` was asked for."""
        return self.etc / "cluster.json"

    @property
    def munge_key(self) -> Path:
        """The munge key (0600 in a 0700 directory)."""
        return self.root / "munge" / "munge.key"

    @property
    def munge_socket(self) -> Path:
        """munged's socket."""
        return self.run / "munge.socket"

    @property
    def mysql_socket(self) -> Path:
        """mysqld's unix socket (bootstrap only)."""
        return self.run / "mysqld.sock"

    @property
    def mysql_data(self) -> Path:
        """MariaDB datadir."""
        return self.root / "mysql"

    @property
    def jobcomp_file(self) -> Path:
        """One line per finished job (jobcomp/filetxt), the record when accounting is off."""
        return self.log / "jobcomp.txt"

    def daemons(self) -> dict[str, Daemon]:
        """Every daemon in start order."""
        run = self.run
        return {
            "munged": Daemon("munged", run / "munged.pid", ("munged",)),
            "mysqld": Daemon("mysqld", run / "mysqld.pid", ("mysqld", "mariadbd")),
            "slurmdbd": Daemon("slurmdbd", run / "slurmdbd.pid", ("slurmdbd",)),
            "slurmctld": Daemon("slurmctld", run / "slurmctld.pid", ("slurmctld",)),
            **self.slurmds(),
        }

    def slurmds(self) -> dict[str, Daemon]:
        """The slurmd of each node: ``slurmd``, or ``slurmd@<node>`` for namespaced nodes."""
        if self.network is None:
            return {"slurmd": Daemon("slurmd", self.run / "slurmd.pid", ("slurmd",))}
        return {
            f"slurmd@{name}": Daemon(f"slurmd@{name}", self.run / f"slurmd-{name}.pid", ("slurmd",))
            for name in self.network.node_names()
        }

    def slurmd_log(self, node: str | None = None) -> Path:
        """The log of the node's slurmd (the only one when the cluster has no namespaces)."""
        return self.log / (f"slurmd-{node}.log" if node else "slurmd.log")

    def environment(self) -> dict[str, str]:
        """Environment for daemons and SLURM clients of this cluster (no database URIs)."""
        env = {k: v for k, v in os.environ.items() if k not in ("HTFLOW_DB_URI", "MONGODB_URI")}
        env["SLURM_CONF"] = str(self.slurm_conf)
        return env


def node_hardware() -> dict[str, str]:
    """This machine's node line from ``slurmd -C`` (CPUs, sockets, cores, threads, memory)."""
    result = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=False)
    first = result.stdout.splitlines()[0] if result.stdout else ""
    fields = dict(re.findall(r"(\w+)=(\S+)", first))
    if "CPUs" not in fields or "RealMemory" not in fields:
        raise LocalClusterError(f"`slurmd -C` did not describe this node: {result.stderr.strip()}")
    return fields


def short_hostname() -> str:
    """``hostname -s``: slurmctld insists on running on the host named in SlurmctldHost."""
    return socket.gethostname().split(".")[0]


def slurm_conf_text(cluster: LocalSlurm, accounting: bool, hardware: dict[str, str]) -> str:
    """The slurm.conf of the local cluster."""
    host = short_hostname()
    node = " ".join(
        f"{key}={hardware[key]}"
        for key in (
            "CPUs",
            "Boards",
            "SocketsPerBoard",
            "CoresPerSocket",
            "ThreadsPerCore",
            "RealMemory",
        )
        if key in hardware
    )
    if accounting:
        accounting_lines = [
            "AccountingStorageType=accounting_storage/slurmdbd",
            "AccountingStorageHost=127.0.0.1",
            f"AccountingStoragePort={cluster.port + 2}",
            # slurmdbd connections authenticate through this socket, not AuthInfo's.
            f"AccountingStoragePass={cluster.munge_socket}",
            "JobAcctGatherType=jobacct_gather/linux",
        ]
    else:
        accounting_lines = [
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
        ]
    network = cluster.network
    if network is None:
        controller = f"{host}(127.0.0.1)"
        spool, slurmd_pid, slurmd_log = (
            cluster.root / "spool",
            cluster.daemons()["slurmd"].pid_file,
            cluster.slurmd_log(),
        )
        node_lines = [
            f"NodeName={host} NodeAddr=127.0.0.1 {node} State=UNKNOWN",
            f"PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP",
        ]
        node_settings: list[str] = []
    else:
        # Nodes reach slurmctld at the bridge's address; each slurmd fills in %n itself.
        controller = f"{host}({network.gateway})"
        spool, slurmd_pid, slurmd_log = (
            cluster.root / "spool" / "%n",
            cluster.run / "slurmd-%n.pid",
            cluster.log / "slurmd-%n.log",
        )
        names = ",".join(network.node_names())
        node_lines = [
            f"NodeName={n.name} NodeHostname={n.name} NodeAddr={n.address} {node} State=UNKNOWN"
            for n in network.nodes
        ]
        node_lines.append(
            f"PartitionName={PARTITION} Nodes={names} Default=YES MaxTime=INFINITE State=UP"
        )
        # A dead node is DOWN (and its job NODE_FAIL) within seconds rather than the
        # default 5 minutes: slurmctld pings every SlurmdTimeout/3 s.
        node_settings = [f"SlurmdTimeout={NODE_TIMEOUT}", "MessageTimeout=5"]
        # Nodes share /tmp, where each step's PMIx client directory would collide: a
        # node-local temporary directory, as a real node has.
        node_settings.append(f"TmpFS={cluster.root / 'tmp' / '%n'}")
    lines = [
        "# Written by `htflow cluster up`; rewritten on every up. Do not edit.",
        f"ClusterName={CLUSTER_NAME}",
        f"SlurmctldHost={controller}",
        "SlurmUser=root",
        "SlurmdUser=root",
        f"SlurmctldPort={cluster.port}",
        f"SlurmdPort={cluster.port + 1}",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={cluster.munge_socket}",
        f"StateSaveLocation={cluster.root / 'ctld'}",
        f"SlurmdSpoolDir={spool}",
        f"SlurmctldPidFile={cluster.daemons()['slurmctld'].pid_file}",
        f"SlurmdPidFile={slurmd_pid}",
        f"SlurmctldLogFile={cluster.log / 'slurmctld.log'}",
        f"SlurmdLogFile={slurmd_log}",
        # No systemd and no cgroups here: track processes through /proc, bind nothing.
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "SchedulerType=sched/backfill",
        # Schedule a batch job when it is submitted: SLURM's default lets it wait up to 3 s
        # (measured here: 0.45-2.45 s from sbatch to the script running, 0.36-0.40 s with 0).
        "SchedulerParameters=batch_sched_delay=0",
        "MpiDefault=none",
        "ReturnToService=2",
        # Faster scancel and timeouts in tests: SIGKILL 10 s after SIGTERM (default 30 s).
        "KillWait=10",
        *node_settings,
        "JobCompType=jobcomp/filetxt",
        f"JobCompLoc={cluster.jobcomp_file}",
        *accounting_lines,
        *node_lines,
    ]
    return "\n".join(lines) + "\n"


def slurmdbd_conf_text(cluster: LocalSlurm, password: str) -> str:
    """slurmdbd.conf: slurmdbd on 127.0.0.1:base+2, MariaDB by TCP on base+3."""
    return "\n".join(
        [
            "# Written by `htflow cluster up` (mode 0600: holds the local database password).",
            "AuthType=auth/munge",
            f"AuthInfo=socket={cluster.munge_socket}",
            "DbdHost=localhost",
            "DbdAddr=127.0.0.1",
            f"DbdPort={cluster.port + 2}",
            "SlurmUser=root",
            f"PidFile={cluster.daemons()['slurmdbd'].pid_file}",
            f"LogFile={cluster.log / 'slurmdbd.log'}",
            "StorageType=accounting_storage/mysql",
            "StorageHost=127.0.0.1",
            f"StoragePort={cluster.port + 3}",
            "StorageUser=slurm",
            f"StoragePass={password}",
            f"StorageLoc={DB_NAME}",
            "",
        ]
    )


def prepare_directories(cluster: LocalSlurm) -> None:
    """Create the state directories with the modes munged needs, and the munge key once."""
    for path, mode in (
        (cluster.root, 0o755),
        (cluster.etc, 0o755),
        (cluster.run, 0o755),  # munged requires its socket directory world-executable
        (cluster.log, 0o755),
        (cluster.munge_key.parent, 0o700),
        (cluster.root / "ctld", 0o755),
        (cluster.root / "spool", 0o755),
        *((cluster.root / "spool" / name, 0o755) for name in node_names(cluster)),
        *((cluster.root / "tmp" / name, 0o1777) for name in node_names(cluster)),
    ):
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)
    if not cluster.munge_key.is_file():
        # mungekey is munge 0.5.13+; 1024 random bits is what it writes by default.
        cluster.munge_key.write_bytes(secrets.token_bytes(128))
    cluster.munge_key.chmod(0o600)


def node_names(cluster: LocalSlurm) -> list[str]:
    """The SLURM node names of the cluster's namespaced nodes (none for a single-node one)."""
    return cluster.network.node_names() if cluster.network is not None else []


def existing_password(cluster: LocalSlurm) -> str | None:
    """The database password an earlier ``up`` wrote into slurmdbd.conf, if any."""
    try:
        text = cluster.dbd_conf.read_text()
    except OSError:
        return None
    match = re.search(r"^StoragePass=(\S+)$", text, re.MULTILINE)
    return match.group(1) if match else None


def write_if_changed(path: Path, text: str, mode: int) -> bool:
    """Write ``text`` to ``path`` with ``mode`` unless it is already there; True if written."""
    changed = not path.is_file() or path.read_text() != text
    if changed:
        # Write then rename, so a reader never sees half a file and the mode is never wider.
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(mode)
        tmp.replace(path)
    path.chmod(mode)
    return changed
