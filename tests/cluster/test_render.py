"""Job scripts: every value is shell-quoted, #SBATCH lines hold only safe text.

The rendered scripts are executed here with bash (outside SLURM, where #SBATCH lines are
comments) to prove that hostile names and argv words arrive as inert data.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from htflow.cluster.profile import ClusterProfile, load_profile
from htflow.cluster.render import (
    render_job_script,
    shell_word_with_env,
    slurm_job_name,
    write_job_script,
)
from htflow.exceptions import InputError

HOSTILE_NAMES = [
    'a"; rm -rf ~; "',
    "a\n$(touch {pwned})",
    "`touch {pwned}`; '$(touch {pwned})' \\",
]
SBATCH_LINE = re.compile(r"^#SBATCH --[a-z-]+(=[A-Za-z0-9_.,:@+=/%-]+)?$")


def _run_script(path: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # HOME points into the test directory: if quoting failed, `rm -rf ~` would hit only that.
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(path.parent / "home"),
        "HTFLOW_DB_URI": "mongodb://user:secret@db.example/htflow",
        **(extra_env or {}),
    }
    (path.parent / "home").mkdir(exist_ok=True)
    (path.parent / "home" / "canary").write_text("still here")
    return subprocess.run(
        ["bash", str(path)], env=env, capture_output=True, text=True, check=False, timeout=60
    )


def _argv_dumper() -> list[str]:
    return [sys.executable, "-c", "import json,sys; json.dump(sys.argv[1:], open('argv.json','w'))"]


@pytest.mark.parametrize("template", HOSTILE_NAMES)
def test_hostile_job_name_is_inert(tmp_path: Path, template: str) -> None:
    pwned = tmp_path / "pwned"
    name = template.format(pwned=pwned)
    launch = tmp_path / "launch"
    launch.mkdir()
    command = ["bash", "-c", 'printf %s "$HTFLOW_JOB_NAME" > name.txt']
    script = write_job_script(load_profile("local"), command, launch, name)
    text = script.read_text()
    for line in text.splitlines():
        if line.startswith("#SBATCH"):
            assert SBATCH_LINE.match(line), line
    assert f"#SBATCH --job-name={slurm_job_name(name)}\n" in text

    result = _run_script(script)
    assert result.returncode == 0, result.stderr
    assert (launch / "name.txt").read_text() == name
    assert not pwned.exists()
    assert (launch / "home" / "canary").read_text() == "still here"


def test_argv_words_reach_the_program_exactly(tmp_path: Path) -> None:
    words = ["a b", '"; rm -rf ~; "', "$(touch pwned)", "`id`", "line\nbreak", "*", "~", "'"]
    script = write_job_script(load_profile("local"), [*_argv_dumper(), *words], tmp_path, "argv")
    result = _run_script(script)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "argv.json").read_text()) == words
    assert not (tmp_path / "pwned").exists()


def test_job_environment_feeds_htflow_settings(tmp_path: Path) -> None:
    probe = (
        "import json; from htflow.settings import get_settings; s = get_settings(); "
        "json.dump({'launcher': s.mpi_launcher, 'ranks': s.mpi_ranks, 'pw': s.pw_cmd, "
        "'end': s.walltime_end, 'margin': s.walltime_margin, 'db': s.db_uri, "
        "'profile': s.cluster_profile}, open('settings.json', 'w'))"
    )
    profile = load_profile("local")
    start = time.time()
    script = write_job_script(profile, [sys.executable, "-c", probe], tmp_path, "probe")
    result = _run_script(script)
    assert result.returncode == 0, result.stderr
    seen = json.loads((tmp_path / "settings.json").read_text())
    resources = profile.resources_for()
    assert seen["launcher"] == "mpirun"
    assert seen["ranks"] == resources.ranks_per_calculation == 2
    assert seen["pw"] == "pw.x"
    assert seen["margin"] == profile.walltime_margin
    assert seen["profile"] == "local"
    assert seen["db"] is None  # the URI in the submitting environment never reaches the job
    assert start + resources.walltime - 5 <= seen["end"] <= time.time() + resources.walltime + 5


def test_local_profile_allows_mpirun_as_root_and_sites_do_not() -> None:
    local = render_job_script(load_profile("local"), ["true"], "/tmp/x", "x")
    site = render_job_script(load_profile("hpc-srun-modules"), ["true"], "/tmp/x", "x")
    assert "export OMPI_ALLOW_RUN_AS_ROOT=1" in local
    assert "OMPI_ALLOW_RUN_AS_ROOT" not in site
    assert "module load quantum-espresso/7.2" in site
    assert site.startswith("#!/bin/bash -l\n")  # `module` is defined in login shells
    assert "export OPENBLAS_NUM_THREADS=1" in local


def test_scratch_dir_expands_variables_only(tmp_path: Path) -> None:
    word = shell_word_with_env("$SCRATCH/ht;flow $(touch pwned)/${USER}x")
    out = subprocess.run(
        ["bash", "-c", f"printf %s {word}"],
        env={"SCRATCH": "/s", "USER": "me", "PATH": os.environ["PATH"]},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == "/s/ht;flow $(touch pwned)/mex"
    assert not (tmp_path / "pwned").exists()
    home = subprocess.run(
        ["bash", "-c", f"printf %s {shell_word_with_env('~/scr')}"],
        env={"HOME": "/h"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert home == "/h/scr"


def test_inherited_variable_must_be_set_and_is_never_written(tmp_path: Path) -> None:
    profile = load_profile("local").model_copy(update={"inherit_environment": ["LICENCE"]})
    script = write_job_script(profile, ["bash", "-c", "printf %s $LICENCE > l.txt"], tmp_path, "l")
    failed = _run_script(script)
    assert failed.returncode != 0
    assert "LICENCE must be set" in failed.stderr
    assert _run_script(script, {"LICENCE": "token-123"}).returncode == 0
    assert (tmp_path / "l.txt").read_text() == "token-123"
    assert "token-123" not in script.read_text()


@pytest.mark.parametrize(
    ("launch_dir", "message"),
    [
        ("relative/dir", "must be absolute"),
        ("/tmp/with space", "cannot go into an #SBATCH line"),
        ("/tmp/pct%j", "cannot go into an #SBATCH line"),
        ("/tmp/new\nline", "cannot go into an #SBATCH line"),
    ],
)
def test_unsafe_launch_dir_is_rejected(launch_dir: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        render_job_script(load_profile("local"), ["true"], launch_dir, "x")


def test_unsafe_sbatch_values_are_rejected_at_render_time() -> None:
    # model_copy skips validation, as a hand-built JobResources might.
    profile = load_profile("local")
    bad = profile.resources_for().model_copy(update={"partition": "debug\n#SBATCH --uid=0"})
    with pytest.raises(InputError, match=r"partition .* cannot go into an #SBATCH line"):
        render_job_script(profile, ["true"], "/tmp/x", "x", resources=bad)
    with pytest.raises(InputError, match="job command is empty"):
        render_job_script(profile, [], "/tmp/x", "x")


def test_job_name_reduction() -> None:
    assert slurm_job_name("Si2-static_1.0") == "Si2-static_1.0"
    assert slurm_job_name('a"; rm -rf ~; "') == "a_rm_-rf"
    assert slurm_job_name("$(\n)") == "htflow"
    assert len(slurm_job_name("x" * 500)) == 64


def test_resources_override_the_profile() -> None:
    profile = ClusterProfile(name="t", walltime="00:05:00", resources={"big": {"nodes": 3}})
    script = render_job_script(profile, ["true"], "/tmp/x", "x", job_type="big")
    assert "#SBATCH --nodes=3\n" in script
    assert "#SBATCH --time=0-00:05:00\n" in script
    assert "#SBATCH --partition" not in script  # None leaves the site default
