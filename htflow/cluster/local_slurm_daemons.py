"""Starting and stopping the local SLURM's daemons: munged, mysqld, slurmdbd, slurmctld, slurmd.

Each start is idempotent (a daemon whose pid is alive is left alone) and waits until the
daemon answers its clients; each stop goes by pid (:mod:`htflow.cluster.daemons`).

- munged refuses a socket whose ancestors are not world-executable (``/root`` is 0700);
  ``--force`` downgrades that to a warning. Only root uses this socket.
- MariaDB's client library reads ``/etc/mysql`` option files, so every client call here
  passes ``--no-defaults`` and bootstraps through the unix socket under ``run/``.
"""

from __future__ import annotations

import subprocess
import time
from typing import TYPE_CHECKING

from htflow.cluster.daemons import LocalClusterError, start_daemon, stop_daemon, wait_for
from htflow.cluster.local_slurm_config import CLUSTER_NAME, DB_NAME, node_names, short_hostname
from htflow.cluster.node_network import in_node

if TYPE_CHECKING:
    from pathlib import Path

    from htflow.cluster.daemons import Daemon
    from htflow.cluster.local_slurm_config import LocalSlurm

READY_NODE_STATES = ("idle", "mixed", "allocated", "completing")


def run_client(
    argv: list[str], cluster: LocalSlurm, stdin: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run a client program (sinfo, scontrol, sacctmgr, mysql, munge) against ``cluster``."""
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
    return run_client(["munge", "-n", "-S", str(cluster.munge_socket)], cluster).returncode == 0


def start_munged(cluster: LocalSlurm, timeout: float) -> None:
    """Start munged (unless it runs and answers) and wait until it encodes a credential."""
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
    return run_client(argv, cluster, stdin=sql)


def start_mysqld(cluster: LocalSlurm, password: str, timeout: float) -> None:
    """Start MariaDB (initialising its datadir once) and give user ``slurm`` ``password``."""
    daemon = cluster.daemons()["mysqld"]
    log = cluster.log / "mysqld.log"
    if daemon.pid() is None:
        if not (cluster.mysql_data / "mysql").is_dir():
            cluster.mysql_data.mkdir(parents=True, exist_ok=True)
            init = run_client(
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


def start_slurmdbd(cluster: LocalSlurm, timeout: float) -> None:
    """Start slurmdbd, wait until ``sacctmgr`` answers, and register the cluster once."""
    daemon = cluster.daemons()["slurmdbd"]
    log = cluster.log / "slurmdbd.log"
    if daemon.pid() is None:
        start_daemon(["slurmdbd"], cluster.environment(), cluster.log / "slurmdbd.out")

    list_clusters = ["sacctmgr", "-n", "-P", "list", "cluster", "format=cluster"]

    def listed() -> bool:
        return run_client(list_clusters, cluster).returncode == 0

    wait_for(listed, timeout, "slurmdbd start", log)
    clusters = run_client(list_clusters, cluster).stdout
    if CLUSTER_NAME not in clusters.split():
        added = run_client(["sacctmgr", "-i", "add", "cluster", CLUSTER_NAME], cluster)
        if added.returncode != 0:
            raise LocalClusterError(f"sacctmgr could not add the cluster: {added.stderr.strip()}")


def _node_states(cluster: LocalSlurm) -> list[str]:
    result = run_client(["sinfo", "-h", "-N", "-o", "%T"], cluster, timeout=10)
    return result.stdout.split() if result.returncode == 0 else []


def _pid_written(pid_file: Path) -> bool:
    try:
        return bool(pid_file.read_text().strip())
    except OSError:
        return False


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


def start_slurm(cluster: LocalSlurm, timeout: float) -> None:
    """Start slurmctld and every slurmd and wait until all nodes are ready in ``sinfo``."""
    ctld = cluster.daemons()["slurmctld"]
    ctld_log = cluster.log / "slurmctld.log"
    if not ctld.running():
        ctld.pid_file.unlink(missing_ok=True)  # a stale file would hide a failed start
        argv = ["slurmctld", "-f", str(cluster.slurm_conf)]
        start_daemon(argv, cluster.environment(), cluster.log / "slurmctld.out")

    def ctld_ready() -> bool:
        # The pid file appears before the port is bound, so a port clash shows up only here.
        # It is created empty and then written: only a pid in it tells that slurmctld died.
        if _pid_written(ctld.pid_file):
            _alive_or_raise(ctld, ctld_log)
        return "is UP" in run_client(["scontrol", "ping"], cluster, timeout=10).stdout

    wait_for(ctld_ready, timeout, "slurmctld answering `scontrol ping`", ctld_log)
    nodes: list[str | None] = [*node_names(cluster)] or [None]
    for node in nodes:
        start_slurmd(cluster, node, timeout)
    resumed = 0.0
    slurmds = cluster.slurmds().values()
    logs = [(d, cluster.slurmd_log(n)) for d, n in zip(slurmds, nodes, strict=True)]

    def node_ready() -> bool:
        nonlocal resumed
        _alive_or_raise(ctld, ctld_log)
        for slurmd, log in logs:
            _alive_or_raise(slurmd, log)
        states = _node_states(cluster)
        if len(states) == len(logs) and all(
            s.rstrip("*~#!%$@^-") in READY_NODE_STATES and not s.endswith("*") for s in states
        ):
            return True
        # A node left DOWN or DRAINED by an earlier run is resumed, at most once a second.
        if any(s.startswith(("down", "drain")) for s in states) and time.monotonic() - resumed > 1:
            resumed = time.monotonic()
            names = ",".join(node_names(cluster)) or short_hostname()
            run_client(["scontrol", "update", f"NodeName={names}", "State=RESUME"], cluster)
        return False

    wait_for(node_ready, timeout, "every node becoming idle in sinfo", logs[0][1])


def start_slurmd(cluster: LocalSlurm, node: str | None, timeout: float) -> None:
    """Start the slurmd of ``node`` (None: the single node on this host) unless it runs.

    A namespaced node's slurmd starts inside its network namespace with a UTS namespace of
    its own, so its hostname, and that of every job step it starts, is the node's name.
    """
    daemon = cluster.slurmds()[f"slurmd@{node}" if node else "slurmd"]
    if daemon.running():
        return
    daemon.pid_file.unlink(missing_ok=True)
    argv = ["slurmd", "-f", str(cluster.slurm_conf)]
    if node is not None and cluster.network is not None:
        argv = in_node(cluster.network.node(node), argv)
    log = cluster.slurmd_log(node)
    start_daemon(argv, cluster.environment(), log.with_suffix(".out"))
    wait_for(daemon.running, timeout, f"slurmd start{f' on {node}' if node else ''}", log)


def stop_all(cluster: LocalSlurm) -> None:
    """Cancel the cluster's jobs, then stop every daemon by pid in reverse start order."""
    daemons = cluster.daemons()
    if daemons["slurmctld"].pid() is not None:
        _cancel_jobs(cluster)
    for slurmd in cluster.slurmds().values():
        stop_daemon(slurmd)
    for name in ("slurmctld", "slurmdbd", "mysqld", "munged"):
        stop_daemon(daemons[name])


def _cancel_jobs(cluster: LocalSlurm, timeout: float = 20.0) -> None:
    """Cancel every job of this cluster so no job step outlives slurmd."""
    listing = run_client(["squeue", "-h", "-o", "%i"], cluster, timeout=10)
    jobs = listing.stdout.split() if listing.returncode == 0 else []
    if not jobs:
        return
    run_client(["scancel", *jobs], cluster)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        remaining = run_client(["squeue", "-h", "-o", "%i"], cluster, timeout=10)
        if remaining.returncode != 0 or not remaining.stdout.split():
            return
        time.sleep(0.2)
