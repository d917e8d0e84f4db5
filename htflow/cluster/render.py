"""Render SLURM job scripts from ``templates/`` with every inserted value shell-quoted.

The template engine is Jinja2 with a *finalize* hook that passes every ``{{ value }}``
through :func:`shlex.quote`, the shell's equivalent of HTML autoescaping: a template
author cannot forget to quote. Text that must reach the shell as code (the profile's
pre-commands, the already-quoted command line) is marked with the ``verbatim`` filter,
which only accepts :class:`ShellCode` built here.

``#SBATCH`` lines are read by sbatch, not by the shell, so quoting cannot protect them.
Values there are checked against a safe character set (:data:`~htflow.cluster.profile.SBATCH_SAFE`)
and the job name, which may come from campaign data, is reduced to safe characters; the
literal name is exported, quoted, as ``HTFLOW_JOB_NAME``.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from htflow.cluster.job_environment import DENIED_VARIABLES
from htflow.cluster.profile import TEMPLATE_DIR, check_sbatch_value, format_walltime
from htflow.exceptions import InputError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from htflow.cluster.profile import ClusterProfile, JobResources

JOB_SCRIPT_TEMPLATE = "slurm_job.sh"
JOB_SCRIPT_NAME = "htflow_job.sh"
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.+-]+")
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
MAX_JOB_NAME = 64


class ShellCode(str):
    """Text that is already valid shell and must be written as is."""

    __slots__ = ()


def _finalize(value: Any) -> str:
    if isinstance(value, ShellCode):
        return str(value)
    if value is None:
        raise InputError("a job-script template inserted an empty value: check the template")
    return shlex.quote(str(value))


def _verbatim(value: Any) -> ShellCode:
    if not isinstance(value, ShellCode):
        raise InputError("the verbatim filter only takes shell code built by htflow.cluster.render")
    return value


def slurm_job_name(text: str) -> str:
    """A job name safe for an ``#SBATCH`` line: unsafe runs become ``_``, at most 64 characters."""
    name = _UNSAFE_NAME_CHARS.sub("_", text).strip("_")[:MAX_JOB_NAME]
    return name or "htflow"


def shell_word_with_env(text: str) -> ShellCode:
    """One shell word for ``text``, expanding only ``$VAR``/``${VAR}`` and a leading ``~``.

    Literal pieces are single-quoted and variable references double-quoted, so a scratch
    directory such as ``$SCRATCH/htflow`` expands on the compute node while nothing else
    in the text (``;``, backquotes, ``$(...)``) can run.
    """
    parts: list[str] = []
    rest = text
    if rest == "~" or rest.startswith("~/"):
        parts.append('"${HOME}"')
        rest = rest[1:]
    position = 0
    for match in _ENV_REFERENCE.finditer(rest):
        if match.start() > position:
            parts.append(shlex.quote(rest[position : match.start()]))
        parts.append(f'"${{{match.group(1) or match.group(2)}}}"')
        position = match.end()
    if position < len(rest) or not parts:
        parts.append(shlex.quote(rest[position:]))
    return ShellCode("".join(parts))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # HTML escaping is meaningless here; finalize does shell quoting
    )
    env.filters["verbatim"] = _verbatim
    return env


def render_job_script(
    profile: ClusterProfile,
    command: Sequence[str],
    launch_dir: str | Path,
    job_name: str,
    *,
    resources: JobResources | None = None,
    job_type: str | None = None,
    template: str = JOB_SCRIPT_TEMPLATE,
) -> str:
    """The text of a SLURM batch script that runs ``command`` in ``launch_dir``.

    Parameters
    ----------
    profile
        The cluster profile: modules, pre-commands, launcher, executables, environment.
    command
        The worker's argv; each word is quoted, so no word is interpreted by the shell.
    launch_dir
        Absolute directory the job runs in; SLURM writes ``slurm-<id>.out/.err`` there.
    job_name
        Any text (e.g. a campaign or structure name). ``#SBATCH --job-name`` gets a
        safe reduction (:func:`slurm_job_name`); the literal is exported quoted as
        ``HTFLOW_JOB_NAME``.
    resources
        The allocation; default: ``profile.resources_for(job_type)``.
    job_type
        Job type routed through ``profile.routing`` when ``resources`` is not given.
    template
        File name in ``templates/``.

    Raises
    ------
    InputError
        An empty command, a relative launch directory, or a value that cannot stand in an
        ``#SBATCH`` line.
    """
    if not command:
        raise InputError("the job command is empty: give the worker's argv")
    res = resources if resources is not None else profile.resources_for(job_type)
    directory = Path(launch_dir)
    if not directory.is_absolute():
        raise InputError(f"launch directory {directory} must be absolute (SLURM needs --chdir)")
    launch = check_sbatch_value(str(directory), "launch directory")
    for what, value in (("partition", res.partition), ("account", res.account), ("qos", res.qos)):
        if value is not None:
            check_sbatch_value(value, what)
    for option in profile.extra_sbatch:
        check_sbatch_value(option, "extra_sbatch option")
    inherit_checks = [
        ShellCode(f': "${{{name}:?{name} must be set in the environment that submits the job}}"')
        for name in profile.inherit_environment
    ]
    context = {
        "login_flag": ShellCode(" -l" if profile.modules else ""),
        "profile_name": profile.name,
        "sbatch_job_name": slurm_job_name(job_name),
        "job_name": job_name,
        "partition": res.partition,
        "account": res.account,
        "qos": res.qos,
        "nodes": res.nodes,
        "tasks_per_node": res.tasks_per_node,
        "cpus_per_task": res.cpus_per_task,
        "memory_mb": res.memory_mb,
        "time": format_walltime(res.walltime),
        "walltime": res.walltime,
        "launch_dir": launch,
        "extra_sbatch": profile.extra_sbatch,
        "modules": profile.modules,
        "pre_commands": [ShellCode(line) for line in profile.pre_commands],
        "pw_cmd": profile.pw_cmd,
        "mpi_launcher": profile.mpi_launcher,
        "ranks_per_calculation": res.ranks_per_calculation,
        "mpi_extra_args_json": json.dumps(profile.mpi_extra_args),
        "walltime_margin": profile.walltime_margin,
        "idle_wait": profile.allocation_idle_wait,
        "scratch_dir": shell_word_with_env(profile.scratch_dir) if profile.scratch_dir else None,
        "vasp_cmd": profile.vasp_cmd,
        "vasp_gamma_cmd": profile.vasp_gamma_cmd,
        "local_cluster": profile.local_cluster,
        "environment": sorted(profile.environment.items()),
        "inherit_checks": inherit_checks,
        "command_line": ShellCode(shlex.join(command)),
        "denied_variables": DENIED_VARIABLES,
    }
    try:
        return _environment().get_template(template).render(context)
    except jinja2.TemplateNotFound as exc:
        raise InputError(f"job-script template {template} not found in {TEMPLATE_DIR}") from exc


def write_job_script(
    profile: ClusterProfile,
    command: Sequence[str],
    launch_dir: str | Path,
    job_name: str,
    *,
    resources: JobResources | None = None,
    job_type: str | None = None,
    filename: str = JOB_SCRIPT_NAME,
) -> Path:
    """Render the job script into ``launch_dir/filename`` (mode 0755) and return its path."""
    directory = Path(launch_dir)
    text = render_job_script(
        profile, command, directory, job_name, resources=resources, job_type=job_type
    )
    path = directory / filename
    path.write_text(text)
    path.chmod(0o755)
    return path
