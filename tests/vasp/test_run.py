"""The VASP command from the cluster profile and the allocation walltime handler."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from monty.json import MontyDecoder, MontyEncoder

from htflow.cluster.profile import ClusterProfile
from htflow.settings import settings_env
from htflow.vasp.run import AllocationWalltimeHandler, vasp_command, vasp_run_kwargs

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_srun_command_with_routed_ranks() -> None:
    profile = ClusterProfile(
        name="site",
        mpi_launcher="srun",
        mpi_extra_args=["--cpu-bind=cores"],
        vasp_cmd="vasp_std",
        vasp_gamma_cmd="vasp_gam",
        tasks_per_node=64,
        resources={"small": {"ranks_per_calculation": 16}},
        routing={"static": "small"},
    )
    assert vasp_command(profile) == "srun -n 64 --cpu-bind=cores vasp_std"
    assert vasp_command(profile, gamma=True, job_type="static") == (
        "srun -n 16 --cpu-bind=cores vasp_gam"
    )


def test_mpirun_and_single_rank() -> None:
    profile = ClusterProfile(name="box", vasp_cmd="/opt/vasp/bin/vasp_std", tasks_per_node=4)
    assert vasp_command(profile) == "mpirun -np 4 /opt/vasp/bin/vasp_std"
    assert vasp_command(profile, gamma=True) == "mpirun -np 4 /opt/vasp/bin/vasp_std"
    one = ClusterProfile(name="one", vasp_cmd="vasp_std")
    assert vasp_command(one) == "vasp_std"


def test_run_kwargs_always_bound_by_walltime() -> None:
    kwargs = vasp_run_kwargs(ClusterProfile(name="box", vasp_cmd="vasp_std"), max_errors=3)
    assert kwargs["max_errors"] == 3
    walltime = [h for h in kwargs["handlers"] if isinstance(h, AllocationWalltimeHandler)]
    assert len(walltime) == 1
    # fresh handler instances per Maker: escalation state must not leak between runs
    again = vasp_run_kwargs(ClusterProfile(name="box", vasp_cmd="vasp_std"))
    assert not {id(h) for h in kwargs["handlers"]} & {id(h) for h in again["handlers"]}


def test_walltime_read_at_check_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLURM_JOB_END_TIME", raising=False)
    handler = AllocationWalltimeHandler()
    assert not handler.check(str(tmp_path))  # no allocation end known: never fires
    with settings_env(walltime_end=time.time() + 3600, walltime_margin=60):
        assert not handler.check(str(tmp_path))
    with settings_env(walltime_end=time.time() + 30, walltime_margin=60):
        assert handler.check(str(tmp_path))
        result = handler.correct(str(tmp_path))
    assert result["errors"] == ["Walltime reached"]
    assert (tmp_path / "STOPCAR").read_text().strip() == "LSTOP = .TRUE."
    monkeypatch.setenv("SLURM_JOB_END_TIME", str(int(time.time()) + 10))
    assert handler.check(str(tmp_path))


def test_walltime_handler_survives_serialization() -> None:
    handler = AllocationWalltimeHandler(buffer_time=120, electronic_step_stop=True)
    text = MontyEncoder().encode(handler)
    clone = MontyDecoder().decode(text)
    assert isinstance(clone, AllocationWalltimeHandler)
    assert (clone.buffer_time, clone.electronic_step_stop) == (120, True)
