"""Thin typed wrappers over sbatch, squeue, sacct and scancel.

Every call runs the SLURM client with an argv (never a shell) and an environment that
points at the right cluster: an explicit ``slurm_conf``, else ``$SLURM_CONF``, else the
local cluster's ``slurm.conf`` when the profile is the local one, else the site default.
Database URIs are removed from that environment. ``sbatch`` goes further: it runs with
only the allowlisted variables of :mod:`htflow.cluster.job_environment` and
``--export=ALL``, so a submitted job inherits no secret of the submitting process.

``sacct`` needs accounting (``htflow cluster up --accounting`` locally). Without it,
:func:`sacct` falls back to the job-completion file (``JobCompType=jobcomp/filetxt``)
named in slurm.conf, and to ``scontrol show job`` for jobs the controller still holds;
``elapsed`` then comes from the start and end times.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from htflow.cluster.job_environment import submit_environment
from htflow.exceptions import HtflowError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from htflow.cluster.profile import ClusterProfile

SCRUBBED_VARIABLES = ("HTFLOW_DB_URI", "MONGODB_URI")
_NOT_UP = (
    "Unable to contact slurm controller",
    "Connection refused",
    "Munge encode failed",
    "Could not open configuration file",
    "Problem talking to the database",
    "Zero Bytes were transmitted",
)


class SlurmUnavailableError(HtflowError):
    """SLURM cannot be reached (not installed, not up, or a client failed)."""


class JobRecord(NamedTuple):
    """A finished (or running) job as accounting sees it."""

    state: str
    """SLURM state without qualifiers: COMPLETED, FAILED, TIMEOUT, CANCELLED, NODE_FAIL…"""
    exit_code: int
    """The batch script's exit status; 128 + signal when a signal ended it."""
    elapsed: float
    """Run time (s)."""


def slurm_environment(
    profile: ClusterProfile | None = None, slurm_conf: str | Path | None = None
) -> dict[str, str]:
    """Environment for SLURM clients: the chosen ``SLURM_CONF``, no database URIs."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_VARIABLES}
    if slurm_conf is not None:
        env["SLURM_CONF"] = str(slurm_conf)
    elif "SLURM_CONF" not in env and _is_local(profile):
        from htflow.cluster.local_slurm import local_slurm_conf

        conf = local_slurm_conf()
        if not conf.is_file():
            raise SlurmUnavailableError(f"the local SLURM has no {conf}: run `htflow cluster up`")
        env["SLURM_CONF"] = str(conf)
    return env


def _is_local(profile: ClusterProfile | None) -> bool:
    if profile is None:
        from htflow.cluster.profile import load_profile

        profile = load_profile()
    return profile.local_cluster


def _run(
    argv: list[str],
    env: dict[str, str],
    cwd: str | Path | None = None,
    ok_errors: tuple[str, ...] = (),
) -> str:
    if shutil.which(argv[0]) is None:
        raise SlurmUnavailableError(
            f"{argv[0]} not found: install slurm-client, or run where SLURM is available"
        )
    try:
        result = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=120
        )
    except subprocess.TimeoutExpired as exc:
        raise SlurmUnavailableError(f"{argv[0]} did not answer in 120 s: is SLURM up?") from exc
    if result.returncode == 0:
        return result.stdout
    error = " ".join(result.stderr.split())
    if any(marker in error for marker in ok_errors):
        return ""
    if any(marker in error for marker in _NOT_UP):
        conf = env.get("SLURM_CONF", "the default slurm.conf")
        raise SlurmUnavailableError(
            f"{argv[0]} cannot reach SLURM ({conf}): run `htflow cluster up` ({error[:160]})"
        )
    raise SlurmUnavailableError(f"{argv[0]} failed: {error[:300] or f'exit {result.returncode}'}")


def sbatch(
    script_path: str | Path,
    cwd: str | Path,
    *,
    profile: ClusterProfile | None = None,
    slurm_conf: str | Path | None = None,
    extra_args: Iterable[str] = (),
    job_name: str | None = None,
) -> str:
    """Submit ``script_path`` from ``cwd``; return the job id.

    ``extra_args`` are sbatch options (argv words, never parsed by a shell), e.g.
    ``["--dependency=afterok:12"]``. ``job_name`` overrides the script's reduced
    ``#SBATCH --job-name`` with the literal text: it travels as one argv word, so squeue
    shows it exactly (slurmdbd stores quotes as backquotes, so sacct shows those).

    The job's environment is :func:`~htflow.cluster.job_environment.submit_environment`
    (the allowlist, ``profile.inherit_environment`` when a profile is given, ``SLURM_CONF``
    and ``SBATCH_*``), exported with ``--export=ALL``; nothing else of this process.
    """
    env = submit_environment(profile, slurm_environment(profile, slurm_conf))
    name = [f"--job-name={job_name}"] if job_name is not None else []
    argv = ["sbatch", "--parsable", "--export=ALL", *name, *extra_args, str(script_path)]
    out = _run(argv, env, cwd=cwd)
    job_id = out.strip().split(";")[0]
    if not job_id:
        raise SlurmUnavailableError(f"sbatch printed no job id for {script_path}")
    return job_id


def squeue(
    job_ids: Iterable[str] | None = None,
    *,
    profile: ClusterProfile | None = None,
    slurm_conf: str | Path | None = None,
) -> dict[str, str]:
    """Job id → state (PENDING, RUNNING, COMPLETING, or a final state shortly after the end).

    With ``job_ids``, only those jobs (ids the controller forgot are absent); without, the
    current user's jobs.
    """
    env = slurm_environment(profile, slurm_conf)
    argv = ["squeue", "-h", "--states=all", "-o", "%i|%T"]
    ids = [str(j) for j in job_ids] if job_ids is not None else None
    if ids is not None:
        if not ids:
            return {}
        argv.append(f"--jobs={','.join(ids)}")
    else:
        argv.append("--me")
    out = _run(argv, env, ok_errors=("Invalid job id",))
    states = dict(line.split("|", 1) for line in out.splitlines() if "|" in line)
    return {job: state for job, state in states.items() if ids is None or job in ids}


def scancel(
    job_id: str, *, profile: ClusterProfile | None = None, slurm_conf: str | Path | None = None
) -> None:
    """Cancel a job; cancelling a finished or unknown job is not an error."""
    env = slurm_environment(profile, slurm_conf)
    _run(["scancel", str(job_id)], env, ok_errors=("Invalid job id", "already completing"))


def sacct(
    job_ids: Iterable[str],
    *,
    profile: ClusterProfile | None = None,
    slurm_conf: str | Path | None = None,
) -> dict[str, JobRecord]:
    """Job id → :class:`JobRecord` (state, exit code, elapsed seconds) for known jobs."""
    ids = [str(j) for j in job_ids]
    if not ids:
        return {}
    env = slurm_environment(profile, slurm_conf)
    argv = [
        "sacct",
        "-X",
        "-n",
        "-P",
        "-o",
        "JobIDRaw,State,ExitCode,ElapsedRaw",
        f"--jobs={','.join(ids)}",
    ]
    try:
        out = _run(argv, env)
    except SlurmUnavailableError as exc:
        if "accounting storage is disabled" not in str(exc) and "database" not in str(exc):
            raise
        return _without_accounting(ids, env)
    records = {}
    for line in out.splitlines():
        job, state, exit_code, elapsed = [*line.split("|"), "", "", ""][:4]
        if job in ids:
            records[job] = JobRecord(_state(state), _exit(exit_code), float(elapsed or 0))
    return records


def _state(text: str) -> str:
    """``CANCELLED by 0`` → ``CANCELLED``."""
    words = text.split(maxsplit=1)
    return words[0] if words else "UNKNOWN"


def _exit(text: str) -> int:
    """SLURM's ``code:signal`` as one status (128 + signal for signalled scripts)."""
    code, _, signal = text.partition(":")
    try:
        return 128 + int(signal) if signal and int(signal) else int(code or 0)
    except ValueError:
        return -1


def _without_accounting(ids: list[str], env: dict[str, str]) -> dict[str, JobRecord]:
    """Records from the jobcomp file, then ``scontrol show job`` for jobs still in memory."""
    records: dict[str, JobRecord] = {}
    jobcomp = _config_value(env, "JobCompLoc")
    if jobcomp and Path(jobcomp).is_file():
        for line in Path(jobcomp).read_text(errors="replace").splitlines():
            fields = _key_values(line)
            job = fields.get("JobId", "")
            if job in ids:  # later lines win: a requeued job ends more than once
                records[job] = _record(fields)
    for job in ids:
        if job in records:
            continue
        out = _run(["scontrol", "-o", "show", "job", job], env, ok_errors=("Invalid job id",))
        if out.strip():
            records[job] = _record(_key_values(out.strip()))
    return records


def _config_value(env: dict[str, str], key: str) -> str | None:
    conf = env.get("SLURM_CONF", "/etc/slurm/slurm.conf")
    try:
        text = Path(conf).read_text()
    except OSError:
        return None
    match = re.search(rf"^\s*{key}\s*=\s*(\S+)", text, re.MULTILINE | re.IGNORECASE)
    return match.group(1) if match else None


def _key_values(line: str) -> dict[str, str]:
    """``Key=value`` pairs of a jobcomp or ``scontrol -o`` line; values never hold ' Key='."""
    pairs = re.findall(r"(?:^|\s)([A-Za-z:]+)=(.*?)(?=\s[A-Za-z:]+=|$)", line)
    return dict(pairs)


def _record(fields: dict[str, str]) -> JobRecord:
    elapsed = 0.0
    if "RunTime" in fields:  # scontrol: a running job's EndTime is only its time limit
        return JobRecord(
            _state(fields.get("JobState", "")),
            _exit(fields.get("ExitCode", "")),
            _duration(fields["RunTime"]),
        )
    try:
        start = datetime.fromisoformat(fields["StartTime"])
        end = datetime.fromisoformat(fields["EndTime"])
        elapsed = max(0.0, (end - start).total_seconds())
    except (KeyError, ValueError):
        pass
    return JobRecord(_state(fields.get("JobState", "")), _exit(fields.get("ExitCode", "")), elapsed)


def _duration(text: str) -> float:
    """``[D-]HH:MM:SS`` → seconds (0 when unreadable)."""
    days, _, clock = text.rpartition("-")
    try:
        hours, minutes, seconds = (int(x) for x in clock.split(":"))
        return float(int(days or 0) * 86400 + hours * 3600 + minutes * 60 + seconds)
    except ValueError:
        return 0.0
