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

from htflow.cluster.daemons import Daemon, LocalClusterError

DEFAULT_PORT = 6817  # slurmctld; slurmd +1, slurmdbd +2, mysqld +3
CLUSTER_NAME = "htflow"
PARTITION = "debug"
DB_NAME = "slurm_acct_db"


@dataclass(frozen=True)
class LocalSlurm:
    """Paths and ports of one local cluster rooted at ``root``."""

    root: Path
    port: int = DEFAULT_PORT

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
            "slurmd": Daemon("slurmd", run / "slurmd.pid", ("slurmd",)),
        }

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
    lines = [
        "# Written by `htflow cluster up`; rewritten on every up. Do not edit.",
        f"ClusterName={CLUSTER_NAME}",
        f"SlurmctldHost={host}(127.0.0.1)",
        "SlurmUser=root",
        "SlurmdUser=root",
        f"SlurmctldPort={cluster.port}",
        f"SlurmdPort={cluster.port + 1}",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={cluster.munge_socket}",
        f"StateSaveLocation={cluster.root / 'ctld'}",
        f"SlurmdSpoolDir={cluster.root / 'spool'}",
        f"SlurmctldPidFile={cluster.daemons()['slurmctld'].pid_file}",
        f"SlurmdPidFile={cluster.daemons()['slurmd'].pid_file}",
        f"SlurmctldLogFile={cluster.log / 'slurmctld.log'}",
        f"SlurmdLogFile={cluster.log / 'slurmd.log'}",
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
        "JobCompType=jobcomp/filetxt",
        f"JobCompLoc={cluster.jobcomp_file}",
        *accounting_lines,
        f"NodeName={host} NodeAddr=127.0.0.1 {node} State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP",
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
    ):
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)
    if not cluster.munge_key.is_file():
        # mungekey is munge 0.5.13+; 1024 random bits is what it writes by default.
        cluster.munge_key.write_bytes(secrets.token_bytes(128))
    cluster.munge_key.chmod(0o600)


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
