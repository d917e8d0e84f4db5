"""``htflow cluster up --accounting``: MariaDB + slurmdbd, and sacct sees finished jobs.

A private cluster (own state directory and ports 18817-18820) so that starting and
stopping MariaDB never disturbs the shared test cluster. Bring-up takes ~3 s here.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from htflow.cluster.local_slurm import cluster_down, cluster_up
from htflow.cluster.profile import load_profile
from htflow.cluster.render import write_job_script
from htflow.cluster.slurm import sacct, sbatch
from tests.cluster.conftest import slurm_missing_reason
from tests.cluster.test_local_slurm import wait_final


@pytest.mark.slurm
def test_accounting_records_finished_jobs() -> None:
    reason = slurm_missing_reason(accounting=True)
    if reason:
        pytest.skip(reason)
    state = Path(tempfile.mkdtemp(prefix="htf-acct-", dir="/tmp"))
    try:
        start = time.monotonic()
        status = cluster_up(accounting=True, state_dir=state, port=18817)
        up_seconds = time.monotonic() - start
        assert status.up and status.accounting, status.format()
        assert {d.name for d in status.daemons if d.running} == {
            "munged",
            "mysqld",
            "slurmdbd",
            "slurmctld",
            "slurmd",
        }
        dbd_conf = state / "etc" / "slurmdbd.conf"
        assert stat.S_IMODE(dbd_conf.stat().st_mode) == 0o600
        password = re.search(r"^StoragePass=(\S+)$", dbd_conf.read_text(), re.MULTILINE)
        assert password is not None
        assert password.group(1) not in (state / "etc" / "slurm.conf").read_text()

        conf = status.slurm_conf
        launch = state / "launch"
        launch.mkdir()
        profile = load_profile("local")
        ok = sbatch(
            write_job_script(profile, ["sleep", "1"], launch, "ok"), launch, slurm_conf=conf
        )
        bad = sbatch(
            write_job_script(profile, ["bash", "-c", "exit 7"], launch, "bad", filename="b.sh"),
            launch,
            slurm_conf=conf,
        )
        assert wait_final(ok, conf) == "COMPLETED"
        assert wait_final(bad, conf) == "FAILED"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # slurmctld sends job records to slurmdbd async
            records = sacct([ok, bad], slurm_conf=conf)
            if {r.state for r in records.values()} == {"COMPLETED", "FAILED"}:
                break
            time.sleep(0.5)
        assert records[ok].state == "COMPLETED" and records[ok].exit_code == 0
        assert records[ok].elapsed >= 1
        assert (records[bad].state, records[bad].exit_code) == ("FAILED", 7)
        # The real sacct command, not only the wrapper, answers from the database.
        out = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", ok],
            env={**os.environ, "SLURM_CONF": str(conf)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.strip() == f"{ok}|COMPLETED"
        # Up again with accounting is a no-op; the same pids keep running.
        pids = {d.name: d.pid for d in status.daemons}
        assert {d.name: d.pid for d in cluster_up(accounting=True, state_dir=state).daemons} == pids
        print(f"accounting cluster up in {up_seconds:.1f} s")
    finally:
        down = cluster_down(state_dir=state)
        assert not any(d.running for d in down.daemons)
