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

Facts that shaped this (SLURM 22.05, munge 0.5.15, MariaDB 10.11 on Debian 12):

- SLURM reaches munged through ``AuthInfo=socket=...``; the connection to slurmdbd (from
  slurmctld, sacct, sacctmgr) authenticates through ``AccountingStoragePass=<socket>``
  instead, so both are set.
- munged refuses a socket whose ancestors are not world-executable (``/root`` is 0700);
  ``--force`` downgrades that to a warning. Only root uses this socket.
- slurmdbd reads ``slurmdbd.conf`` from the directory of ``SLURM_CONF``.
- MariaDB's client library reads ``/etc/mysql`` option files, so slurmdbd reaches mysqld by
  TCP on 127.0.0.1 (port base+3); the unix socket under ``run/`` is for bootstrap only.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from htflow.cluster.daemons import (
    Daemon,
    LocalClusterError,
    file_lock,
    start_daemon,
    stop_daemon,
    wait_for,
)
from htflow.exceptions import InputError

if TYPE_CHECKING:
    from collections.abc import Iterator

STATE_ENV = "HTFLOW_SLURM_STATE"
PORT_ENV = "HTFLOW_SLURM_PORT"
DEFAULT_PORT = 6817  # slurmctld; slurmd +1, slurmdbd +2, mysqld +3
CLUSTER_NAME = "htflow"
PARTITION = "debug"
DB_NAME = "slurm_acct_db"
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes including the terminating NUL
REQUIRED_PROGRAMS = ("munged", "slurmctld", "slurmd", "sinfo")
ACCOUNTING_PROGRAMS = ("slurmdbd", "mysqld", "mysql_install_db", "mysql", "sacctmgr")
DEBIAN_PACKAGES = "slurm-wlm munge (and slurmdbd mariadb-server for --accounting)"
READY_NODE_STATES = ("idle", "mixed", "allocated", "completing")


def state_directory(state_dir: str | Path | None = None) -> Path:
    """The local cluster's state directory: argument, ``$HTFLOW_SLURM_STATE``, or home/slurm."""
    if state_dir is not None:
        return Path(state_dir).expanduser().resolve()
    if os.environ.get(STATE_ENV):
        return Path(os.environ[STATE_ENV]).expanduser().resolve()
    from htflow.settings import get_settings

    return (get_settings().home / "slurm").resolve()


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

    @property
    def up(self) -> bool:
        """True when munged, slurmctld and slurmd (and the accounting daemons) all run."""
        needed = {"munged", "slurmctld", "slurmd"}
        if self.accounting:
            needed |= {"mysqld", "slurmdbd"}
        return all(d.running for d in self.daemons if d.name in needed)

    def format(self) -> str:
        """Human-readable report, ending with the line that points clients at the cluster."""
        lines = [
            f"local SLURM in {self.state_dir} (accounting: {'on' if self.accounting else 'off'})"
        ]
        for daemon in self.daemons:
            state = f"running (pid {daemon.pid})" if daemon.running else "stopped"
            lines.append(f"  {daemon.name:<10} {state}")
        if self.sinfo:
            lines += ["", self.sinfo.rstrip()]
        lines += ["", f"export SLURM_CONF={self.slurm_conf}"]
        return "\n".join(lines)


def _cluster(state_dir: str | Path | None, port: int | None = None) -> LocalSlurm:
    root = state_directory(state_dir)
    recorded = _read_state(root / "etc" / "cluster.json")
    if port is None:
        port = int(os.environ.get(PORT_ENV, recorded.get("port", DEFAULT_PORT)))
    cluster = LocalSlurm(root, port)
    if len(str(cluster.munge_socket)) > MAX_SOCKET_PATH:
        raise InputError(
            f"state directory {root} is too long for a unix socket: set {STATE_ENV} to a "
            "shorter path"
        )
    return cluster


def _read_state(path: Path) -> dict[str, int | bool]:
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


def _prepare_directories(cluster: LocalSlurm) -> None:
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


def _existing_password(cluster: LocalSlurm) -> str | None:
    try:
        text = cluster.dbd_conf.read_text()
    except OSError:
        return None
    match = re.search(r"^StoragePass=(\S+)$", text, re.MULTILINE)
    return match.group(1) if match else None


def _write_if_changed(path: Path, text: str, mode: int) -> bool:
    changed = not path.is_file() or path.read_text() != text
    if changed:
        # Write then rename, so a reader never sees half a file and the mode is never wider.
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(mode)
        tmp.replace(path)
    path.chmod(mode)
    return changed


def _run(
    argv: list[str], cluster: LocalSlurm, stdin: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        input=stdin,
        capture_output=True,
        text=True,
        env=cluster.environment(),
        check=False,
        timeout=timeout,
    )


def _munge_ready(cluster: LocalSlurm) -> bool:
    return _run(["munge", "-n", "-S", str(cluster.munge_socket)], cluster).returncode == 0


def _start_munged(cluster: LocalSlurm, timeout: float) -> None:
    daemon = cluster.daemons()["munged"]
    if daemon.pid() is not None and _munge_ready(cluster):
        return
    argv = [
        "munged",
        "--force",  # the socket's ancestors (/root) need not be world-executable: root only
        "--num-threads=10",  # SLURM asks for 10 threads under load
        f"--socket={cluster.munge_socket}",
        f"--key-file={cluster.munge_key}",
        f"--pid-file={daemon.pid_file}",
        f"--log-file={cluster.log / 'munged.log'}",
        f"--seed-file={cluster.munge_key.parent / 'munged.seed'}",
    ]
    start_daemon(argv, cluster.environment(), cluster.log / "munged.out")
    wait_for(lambda: _munge_ready(cluster), timeout, "munged start", cluster.log / "munged.log")


def _mysql(cluster: LocalSlurm, sql: str) -> subprocess.CompletedProcess[str]:
    argv = ["mysql", "--no-defaults", f"--socket={cluster.mysql_socket}", "-u", "root"]
    return _run(argv, cluster, stdin=sql)


def _start_mysqld(cluster: LocalSlurm, password: str, timeout: float) -> None:
    daemon = cluster.daemons()["mysqld"]
    log = cluster.log / "mysqld.log"
    if daemon.pid() is None:
        if not (cluster.mysql_data / "mysql").is_dir():
            cluster.mysql_data.mkdir(parents=True, exist_ok=True)
            init = _run(
                [
                    "mysql_install_db",
                    "--no-defaults",
                    f"--datadir={cluster.mysql_data}",
                    "--user=root",
                    "--auth-root-authentication-method=socket",
                    "--skip-test-db",
                ],
                cluster,
                timeout=120,
            )
            if init.returncode != 0:
                raise LocalClusterError(
                    f"mysql_install_db failed in {cluster.mysql_data}: {init.stderr.strip()[-300:]}"
                )
        argv = [
            "mysqld",
            "--no-defaults",
            f"--datadir={cluster.mysql_data}",
            "--user=root",
            f"--socket={cluster.mysql_socket}",
            f"--pid-file={daemon.pid_file}",
            f"--port={cluster.port + 3}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            f"--log-error={log}",
            # slurmdbd warns below these values.
            "--innodb-buffer-pool-size=128M",
            "--innodb-lock-wait-timeout=900",
        ]
        start_daemon(argv, cluster.environment(), cluster.log / "mysqld.out", detach=True)
    wait_for(
        lambda: daemon.pid() is not None and _mysql(cluster, "SELECT 1;").returncode == 0,
        timeout,
        "mysqld start",
        log,
    )
    quoted = password.replace("'", "''")
    grant = (
        f"CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '{quoted}';\n"
        f"ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{quoted}';\n"
        f"GRANT ALL ON {DB_NAME}.* TO 'slurm'@'127.0.0.1';\n"
        "FLUSH PRIVILEGES;\n"
    )
    result = _mysql(cluster, grant)
    if result.returncode != 0:
        raise LocalClusterError(
            f"could not create the slurm database user: {result.stderr.strip()}"
        )


def _start_slurmdbd(cluster: LocalSlurm, timeout: float) -> None:
    daemon = cluster.daemons()["slurmdbd"]
    log = cluster.log / "slurmdbd.log"
    if daemon.pid() is None:
        start_daemon(["slurmdbd"], cluster.environment(), cluster.log / "slurmdbd.out")

    def listed() -> bool:
        return (
            _run(["sacctmgr", "-n", "-P", "list", "cluster", "format=cluster"], cluster).returncode
            == 0
        )

    wait_for(listed, timeout, "slurmdbd start", log)
    clusters = _run(["sacctmgr", "-n", "-P", "list", "cluster", "format=cluster"], cluster).stdout
    if CLUSTER_NAME not in clusters.split():
        added = _run(["sacctmgr", "-i", "add", "cluster", CLUSTER_NAME], cluster)
        if added.returncode != 0:
            raise LocalClusterError(f"sacctmgr could not add the cluster: {added.stderr.strip()}")


def _node_states(cluster: LocalSlurm) -> list[str]:
    result = _run(["sinfo", "-h", "-N", "-o", "%T"], cluster, timeout=10)
    return result.stdout.split() if result.returncode == 0 else []


def _alive_or_raise(daemon: Daemon, log: Path) -> None:
    """Raise with the daemon's last fatal log line when it has exited (port taken, bad conf)."""
    if daemon.running():
        return
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    fatal = [ln for ln in lines if "fatal" in ln or "error" in ln.lower()]
    last = fatal[-1].split("] ", 1)[-1] if fatal else "no log line"
    raise LocalClusterError(f"{daemon.name} exited: {last} (see {log})")


def _start_slurm(cluster: LocalSlurm, timeout: float) -> None:
    daemons = cluster.daemons()
    ctld, slurmd = daemons["slurmctld"], daemons["slurmd"]
    ctld_log, slurmd_log = cluster.log / "slurmctld.log", cluster.log / "slurmd.log"
    if not ctld.running():
        ctld.pid_file.unlink(missing_ok=True)  # a stale file would hide a failed start
        argv = ["slurmctld", "-f", str(cluster.slurm_conf)]
        start_daemon(argv, cluster.environment(), cluster.log / "slurmctld.out")

    def ctld_ready() -> bool:
        # The pid file appears before the port is bound, so a port clash shows up only here.
        if ctld.pid_file.exists():
            _alive_or_raise(ctld, ctld_log)
        return "is UP" in _run(["scontrol", "ping"], cluster, timeout=10).stdout

    wait_for(ctld_ready, timeout, "slurmctld answering `scontrol ping`", ctld_log)
    if not slurmd.running():
        argv = ["slurmd", "-f", str(cluster.slurm_conf)]
        start_daemon(argv, cluster.environment(), cluster.log / "slurmd.out")
        wait_for(slurmd.running, timeout, "slurmd start", slurmd_log)
    resumed = 0.0

    def node_ready() -> bool:
        nonlocal resumed
        _alive_or_raise(ctld, ctld_log)
        _alive_or_raise(slurmd, slurmd_log)
        states = _node_states(cluster)
        if states and all(
            s.rstrip("*~#!%$@^-") in READY_NODE_STATES and not s.endswith("*") for s in states
        ):
            return True
        # A node left DOWN or DRAINED by an earlier run is resumed, at most once a second.
        if any(s.startswith(("down", "drain")) for s in states) and time.monotonic() - resumed > 1:
            resumed = time.monotonic()
            _run(["scontrol", "update", f"NodeName={short_hostname()}", "State=RESUME"], cluster)
        return False

    wait_for(node_ready, timeout, "the node becoming idle in sinfo", cluster.log / "slurmd.log")


def _stop_all(cluster: LocalSlurm) -> None:
    daemons = cluster.daemons()
    if daemons["slurmctld"].pid() is not None:
        _cancel_jobs(cluster)
    for name in ("slurmd", "slurmctld", "slurmdbd", "mysqld", "munged"):
        stop_daemon(daemons[name])


def _cancel_jobs(cluster: LocalSlurm, timeout: float = 20.0) -> None:
    """Cancel every job of this cluster so no job step outlives slurmd."""
    listing = _run(["squeue", "-h", "-o", "%i"], cluster, timeout=10)
    jobs = listing.stdout.split() if listing.returncode == 0 else []
    if not jobs:
        return
    _run(["scancel", *jobs], cluster)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        remaining = _run(["squeue", "-h", "-o", "%i"], cluster, timeout=10)
        if remaining.returncode != 0 or not remaining.stdout.split():
            return
        time.sleep(0.2)


def cluster_up(
    accounting: bool = False,
    state_dir: str | Path | None = None,
    port: int | None = None,
    timeout: float = 60.0,
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

    Raises
    ------
    LocalClusterError
        A program is missing or a daemon did not come up (the message names its log).
    """
    _check_programs(accounting)
    cluster = _cluster(state_dir, port)
    with file_lock(cluster.root / "lock"):
        _prepare_directories(cluster)
        hardware = node_hardware()
        conf = slurm_conf_text(cluster, accounting, hardware)
        running = any(d.pid() is not None for d in cluster.daemons().values())
        recorded = _read_state(cluster.state_file)
        changed = not cluster.slurm_conf.is_file() or cluster.slurm_conf.read_text() != conf
        if running and (changed or recorded.get("accounting") != accounting):
            _stop_all(cluster)
        _write_if_changed(cluster.slurm_conf, conf, 0o644)
        cluster.state_file.write_text(json.dumps({"accounting": accounting, "port": cluster.port}))
        _start_munged(cluster, timeout)
        if accounting:
            password = _existing_password(cluster) or secrets.token_urlsafe(24)
            _write_if_changed(cluster.dbd_conf, slurmdbd_conf_text(cluster, password), 0o600)
            _start_mysqld(cluster, password, timeout)
            _start_slurmdbd(cluster, timeout)
        _start_slurm(cluster, timeout)
        return _status(cluster)


def cluster_down(state_dir: str | Path | None = None) -> ClusterStatus:
    """Cancel the cluster's jobs and stop its daemons by pid; a no-op when it is down."""
    cluster = _cluster(state_dir)
    if not cluster.root.is_dir():
        return _status(cluster)
    with file_lock(cluster.root / "lock"):
        _stop_all(cluster)
        return _status(cluster)


def cluster_status(state_dir: str | Path | None = None) -> ClusterStatus:
    """Each daemon's pid (or stopped) and the ``sinfo`` summary."""
    return _status(_cluster(state_dir))


def _status(cluster: LocalSlurm) -> ClusterStatus:
    recorded = _read_state(cluster.state_file)
    daemons = [DaemonStatus(name, d.pid()) for name, d in cluster.daemons().items()]
    summary = ""
    if any(d.running for d in daemons if d.name == "slurmctld"):
        result = _run(["sinfo"], cluster, timeout=10)
        summary = result.stdout if result.returncode == 0 else result.stderr
    return ClusterStatus(
        state_dir=cluster.root,
        slurm_conf=cluster.slurm_conf,
        accounting=bool(recorded.get("accounting", False)),
        daemons=daemons,
        sinfo=summary,
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
            accounting=accounting, state_dir=cluster_dir, port=port, timeout=timeout
        )
    try:
        yield status
    finally:
        with file_lock(cluster_dir / "users.lock"):
            me.unlink(missing_ok=True)
            alive = [p for p in users.iterdir() if p.name.isdigit() and _pid_alive(int(p.name))]
            for stale in set(users.iterdir()) - set(alive):
                stale.unlink(missing_ok=True)
            if not alive:
                cluster_down(cluster_dir)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
