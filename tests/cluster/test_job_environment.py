"""A compute job's environment is an allowlist: no secret of the submitting process reaches it.

The SLURM test submits through htflow's own path (``write_job_script`` + ``slurm.sbatch``,
what the agent's dispatch calls) with secret-looking variables in this process's
environment, and looks for their values everywhere the job and SLURM write.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from htflow.cluster.job_environment import (
    DENIED_VARIABLES,
    JOB_SETTINGS,
    job_environment,
    submit_environment,
)
from htflow.cluster.profile import load_profile
from htflow.cluster.render import write_job_script
from htflow.cluster.slurm import sbatch
from htflow.exceptions import InputError
from htflow.settings import HtflowSettings
from tests.cluster.test_local_slurm import wait_final

if TYPE_CHECKING:
    from htflow.cluster.local_slurm import ClusterStatus

REPO = Path(__file__).resolve().parents[2]
SECRET_NAMES = (
    "HTFLOW_DASHBOARD_PASSWORD",
    "MP_API_KEY",
    "PMG_MAPI_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "SOME_TOKEN",
    "HTFLOW_DB_URI",
    "MONGODB_URI",
)
# The job dumps its environment as the worker's interpreter sees it, and where htflow came from.
_DUMP = (
    "import json, os, htflow.launch.worker as w; "
    "json.dump({'env': dict(os.environ), 'worker': w.__file__}, open('env.json', 'w'))"
)


def test_allowlist_keeps_what_the_worker_needs_and_nothing_else() -> None:
    profile = load_profile("hpc-offline-nodes")  # inherit_environment: [LM_LICENSE_FILE]
    environ = {
        "PATH": "/bin",
        "HOME": "/h",
        "LC_ALL": "C",
        "OMPI_MCA_btl": "self",
        "HTFLOW_HOME": "/h/.htflow",
        "HTFLOW_PSEUDO_FAMILY": "sssp",
        "HTFLOW_CONFIG_FILE": "/h/c.yaml",
        "LM_LICENSE_FILE": "27000@licence",
        "SLURM_CONF": "/etc/slurm/slurm.conf",
        "SBATCH_RESERVATION": "dft",
        "SLURM_JOB_ID": "12",
        "EDITOR": "vi",
        **dict.fromkeys(SECRET_NAMES, "s3cret"),
    }
    job = job_environment(profile, environ)
    assert set(job) == {
        "PATH",
        "HOME",
        "LC_ALL",
        "OMPI_MCA_btl",
        "HTFLOW_HOME",
        "HTFLOW_PSEUDO_FAMILY",
        "HTFLOW_CONFIG_FILE",
        "LM_LICENSE_FILE",
    }
    submit = submit_environment(profile, environ)
    assert set(submit) == {*job, "SLURM_CONF", "SBATCH_RESERVATION"}
    assert "LM_LICENSE_FILE" not in job_environment(None, environ)


def test_job_settings_are_settings_and_no_secret_is_allowed() -> None:
    fields = set(HtflowSettings.model_fields)
    assert set(JOB_SETTINGS) <= fields
    assert not {"db_uri", "dashboard_password", "dashboard_user"} & set(JOB_SETTINGS)
    # Even a prefix or a profile cannot let a denied name through.
    environ = {"OMPI_MCA_PASSWORD": "x", "LC_TOKEN": "y", **dict.fromkeys(DENIED_VARIABLES, "z")}
    assert job_environment(None, environ) == {}


@pytest.mark.parametrize("name", ["MP_API_KEY", "VASP_LICENCE_TOKEN", "HTFLOW_DB_URI", "DB_PASS"])
def test_profile_refuses_to_pass_secret_names(tmp_path: Path, name: str) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(f"name: site\ninherit_environment: [{name}]\n")
    with pytest.raises(InputError, match="looks like a secret") as info:
        load_profile(path)
    assert "\n" not in str(info.value)


def _readable_files(root: Path) -> list[Path]:
    files = []
    for path in root.rglob("*"):
        try:
            if stat.S_ISREG(path.lstat().st_mode):
                files.append(path)
        except OSError:  # removed while walking (other tests' jobs)
            continue
    return files


@pytest.mark.slurm
def test_no_secret_reaches_a_submitted_job(
    local_slurm: ClusterStatus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = {name: f"leak-{name.lower()}-{secrets.token_hex(8)}" for name in SECRET_NAMES}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    unlisted = f"not-allowlisted-{secrets.token_hex(8)}"
    monkeypatch.setenv("HTFLOW_TEST_UNLISTED", unlisted)
    licence = f"27000@licence-{secrets.token_hex(4)}"
    monkeypatch.setenv("HTFLOW_TEST_LICENCE", licence)
    monkeypatch.setenv("HTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    profile = load_profile("local").model_copy(
        update={"inherit_environment": ["HTFLOW_TEST_LICENCE"]}
    )
    launch = tmp_path / "launch"
    launch.mkdir()
    script = write_job_script(profile, [sys.executable, "-c", _DUMP], launch, "env dump")
    conf = local_slurm.slurm_conf
    job = sbatch(script, launch, profile=profile, slurm_conf=conf)
    assert wait_final(job, conf) == "COMPLETED", (launch / f"slurm-{job}.err").read_text()

    dumped = json.loads((launch / "env.json").read_text())
    env = dumped["env"]
    # What the worker needs is there: it ran this checkout's htflow, with the profile's settings.
    assert Path(dumped["worker"]).is_relative_to(REPO)
    for name in ("PATH", "HOME", "PYTHONPATH", "SLURM_JOB_ID", "HTFLOW_WALLTIME_END"):
        assert env.get(name), name
    assert env["HTFLOW_HOME"] == str(tmp_path / "home")
    assert env["HTFLOW_PW_CMD"] == profile.pw_cmd
    assert env["OMPI_ALLOW_RUN_AS_ROOT"] == "1"
    assert env["HTFLOW_TEST_LICENCE"] == licence
    # Nothing else of the submitting environment, and no secret anywhere.
    assert not set(SECRET_NAMES) & set(env)
    assert "HTFLOW_TEST_UNLISTED" not in env
    watched = [*values.values(), unlisted]
    places = _readable_files(launch) + _readable_files(Path(local_slurm.state_dir))
    assert script in places and launch / f"slurm-{job}.out" in places
    for path in places:
        text = path.read_bytes().decode(errors="replace")
        leaked = [value for value in watched if value in text]
        assert not leaked, f"{path} holds {leaked}"
