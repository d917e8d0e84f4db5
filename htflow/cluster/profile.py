"""Cluster profiles: where and how compute jobs run, as validated YAML (``cluster_configs/``).

A profile says which partition, account and QOS to use, how large an allocation is, which
modules and commands prepare a job, how MPI starts, how many jobs may wait in the queue
and how many calculations share one allocation. Job types are routed to named resource
classes (``small`` statics versus ``large`` relaxations) that override the defaults.

``cluster_configs/`` and ``templates/`` live at the repository root, next to the package:
htflow is installed editable (``pip install -e .``), so they are found as
``Path(__file__).parents[2]`` both from a checkout and from the installed package.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from htflow.exceptions import InputError

REPO_ROOT = Path(__file__).resolve().parents[2]
PROFILE_DIR = REPO_ROOT / "cluster_configs"
TEMPLATE_DIR = REPO_ROOT / "templates"

# Characters SLURM options may hold in an ``#SBATCH`` line. The shell never parses those
# lines, so quoting cannot protect them: values are restricted instead. The set is a subset
# of what shlex.quote leaves unquoted.
SBATCH_SAFE = re.compile(r"^[A-Za-z0-9_.,:@+=/-]+$")
# Names of variables whose values would be secrets: no profile may set or pass them, and
# they never reach a compute job (htflow.cluster.job_environment).
SECRET_NAME = re.compile(
    r"PASS|SECRET|TOKEN|CREDENTIAL|DB_URI|MONGO|API_?KEY|ACCESS_KEY|PRIVATE_KEY", re.IGNORECASE
)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WALLTIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def parse_walltime(value: int | float | str) -> int:
    """Seconds from a SLURM time: minutes (a number) or ``[D-]HH:MM:SS`` and its short forms.

    SLURM's forms are ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M`` and ``D-H:M:S``; a bare
    number means minutes, as in ``sbatch --time``.
    """
    if isinstance(value, bool):
        raise ValueError("walltime must be minutes or 'HH:MM:SS', not a boolean")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError("walltime must be positive")
        return round(value * 60)
    match = _WALLTIME.match(value.strip())
    if match is None:
        raise ValueError(f"walltime {value!r} is not minutes or [D-]HH:MM:SS")
    days, first, second, third = match.groups()
    parts = [int(p) for p in (first, second, third) if p is not None]
    if days is not None:  # D-H, D-H:M, D-H:M:S
        hours, minutes, seconds = [*parts, 0, 0][:3]
        total = int(days) * 86400 + hours * 3600 + minutes * 60 + seconds
    elif len(parts) == 1:
        total = parts[0] * 60
    elif len(parts) == 2:
        total = parts[0] * 60 + parts[1]
    else:
        total = parts[0] * 3600 + parts[1] * 60 + parts[2]
    if total <= 0:
        raise ValueError("walltime must be positive")
    return total


def format_walltime(seconds: int) -> str:
    """``D-HH:MM:SS`` for ``sbatch --time`` (whole seconds, rounded up to a minute's second)."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"


def check_sbatch_value(value: str, what: str) -> str:
    """Return ``value`` if it can stand unquoted in an ``#SBATCH`` line, else raise InputError."""
    if not SBATCH_SAFE.match(value):
        raise InputError(
            f"{what} {value!r} cannot go into an #SBATCH line: "
            "use only letters, digits and . _ , : @ + = / -"
        )
    return value


class ResourceSpec(BaseModel):
    """Overrides of the profile's allocation for one class of jobs; None keeps the default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    partition: str | None = Field(None, description="SLURM partition (sbatch --partition).")
    qos: str | None = Field(None, description="SLURM quality of service (sbatch --qos).")
    nodes: int | None = Field(None, ge=1, description="Nodes per allocation (count).")
    tasks_per_node: int | None = Field(None, ge=1, description="MPI tasks per node (count).")
    cpus_per_task: int | None = Field(None, ge=1, description="CPU cores per MPI task (count).")
    memory_mb: int | None = Field(None, ge=1, description="Memory per node (MB, sbatch --mem).")
    walltime: int | None = Field(
        None, description="Allocation time limit (s); YAML takes minutes or [D-]HH:MM:SS."
    )
    ranks_per_calculation: int | None = Field(
        None, ge=1, description="MPI ranks of one calculation; packed calculations share nodes."
    )
    calculations_per_allocation: int | None = Field(
        None, ge=1, description="Most calculations packed into one allocation (count)."
    )

    @field_validator("walltime", mode="before")
    @classmethod
    def _walltime(cls, value: Any) -> Any:
        return None if value is None else parse_walltime(value)

    @field_serializer("walltime")
    def _dump_walltime(self, value: int | None) -> str | None:
        return None if value is None else format_walltime(value)


class JobResources(BaseModel):
    """The resolved allocation for one job type: profile defaults merged with its class."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resource_class: str = Field(description="Name of the resource class used ('default' if none).")
    partition: str | None = Field(description="SLURM partition; None uses the site default.")
    account: str | None = Field(description="SLURM account; None uses the user's default.")
    qos: str | None = Field(description="SLURM QOS; None uses the default.")
    nodes: int = Field(ge=1, description="Nodes per allocation (count).")
    tasks_per_node: int = Field(ge=1, description="MPI tasks per node (count).")
    cpus_per_task: int = Field(ge=1, description="CPU cores per MPI task (count).")
    memory_mb: int | None = Field(description="Memory per node (MB); None is the site default.")
    walltime: int = Field(gt=0, description="Allocation time limit (s).")
    ranks_per_calculation: int = Field(ge=1, description="MPI ranks of one calculation (count).")
    calculations_per_allocation: int = Field(
        ge=1, description="Most calculations packed into one allocation (count)."
    )

    @property
    def total_tasks(self) -> int:
        """MPI tasks in the whole allocation (count)."""
        return self.nodes * self.tasks_per_node


class ClusterProfile(BaseModel):
    """How compute jobs run on one cluster. Loaded from ``cluster_configs/<name>.yaml``.

    Values that reach a job script are shell-quoted there; values that reach ``#SBATCH``
    lines are restricted to safe characters because no quoting can protect those lines.
    ``pre_commands`` are shell by design and are written verbatim: they come from the
    profile an administrator wrote, never from campaign data.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Profile name, shown in job names and task provenance.")
    description: str = Field("", description="One line on what the cluster is.")
    scheduler: Literal["slurm"] = Field("slurm", description="Batch scheduler (only SLURM).")
    local_cluster: bool = Field(
        False,
        description="True for the single-node SLURM of `htflow cluster up`: clients use its "
        "slurm.conf and jobs may run mpirun as root.",
    )
    partition: str | None = Field(None, description="SLURM partition; None is the site default.")
    account: str | None = Field(None, description="SLURM account to charge; None is the default.")
    core_hour_budget: float | None = Field(
        None,
        ge=0,
        description="Core-hours the allocation account may spend on htflow jobs (core-h); "
        "None: no budget, 'left' is not shown.",
    )
    qos: str | None = Field(None, description="SLURM quality of service; None is the default.")
    nodes: int = Field(1, ge=1, description="Nodes per allocation (count).")
    tasks_per_node: int = Field(1, ge=1, description="MPI tasks per node (count).")
    cpus_per_task: int = Field(1, ge=1, description="CPU cores per MPI task, OpenMP threads.")
    memory_mb: int | None = Field(
        None, ge=1, description="Memory per node (MB, sbatch --mem); None is the site default."
    )
    walltime: int = Field(
        3600, description="Allocation time limit (s); YAML takes minutes or [D-]HH:MM:SS."
    )
    extra_sbatch: list[str] = Field(
        default_factory=list,
        description="Further sbatch options, one per #SBATCH line, e.g. '--constraint=cpu'.",
    )
    modules: list[str] = Field(
        default_factory=list, description="Environment modules loaded before the run, in order."
    )
    pre_commands: list[str] = Field(
        default_factory=list,
        description="Shell lines run after the module loads (written verbatim, not quoted).",
    )
    mpi_launcher: Literal["mpirun", "srun"] = Field(
        "mpirun", description="How MPI programs start inside the allocation."
    )
    mpi_extra_args: list[str] = Field(
        default_factory=list, description="Extra launcher arguments, e.g. ['--cpu-bind=cores']."
    )
    pw_cmd: str = Field("pw.x", description="pw.x executable (name on PATH or absolute path).")
    vasp_cmd: str | None = Field(None, description="VASP standard executable; None: no VASP.")
    vasp_gamma_cmd: str | None = Field(None, description="VASP gamma-only executable.")
    scratch_dir: str | None = Field(
        None,
        description="Scratch directory for large files; may use $VAR and ~, expanded on the "
        "compute node (e.g. '$SCRATCH/htflow').",
    )
    max_jobs_in_queue: int = Field(
        10, ge=1, description="Most htflow jobs pending or running in the queue at once (count)."
    )
    calculations_per_allocation: int = Field(
        1, ge=1, description="Most calculations packed into one allocation (count)."
    )
    walltime_margin: float = Field(
        300.0,
        ge=0,
        description="Time kept free at the end of an allocation for a clean stop and for "
        "packing decisions (s).",
    )
    ranks_per_calculation: int | None = Field(
        None,
        ge=1,
        description="MPI ranks of one calculation (count); None: all tasks of one node.",
    )
    allocation_idle_wait: float = Field(
        0.0,
        ge=0,
        description="Most time a packed allocation whose work ran out waits for the agent to "
        "feed it more, while Fireworks wait on running parents (s); 0: it ends at once.",
    )
    resources: dict[str, ResourceSpec] = Field(
        default_factory=dict,
        description="Named resource classes overriding the defaults, e.g. 'small', 'large'.",
    )
    routing: dict[str, str] = Field(
        default_factory=dict,
        description="Job type (e.g. 'static', 'relax') → resource class name in `resources`.",
    )
    environment: dict[str, str] = Field(
        default_factory=dict,
        description="Non-secret variables exported in job scripts (values written to disk).",
    )
    inherit_environment: list[str] = Field(
        default_factory=list,
        description="Names of further variables the job takes from the submitting environment "
        "(e.g. a licence server); their values are never written. Secret-looking names are "
        "refused.",
    )

    @field_validator("walltime", mode="before")
    @classmethod
    def _walltime(cls, value: Any) -> Any:
        return parse_walltime(value)

    @field_serializer("walltime")
    def _dump_walltime(self, value: int) -> str:
        return format_walltime(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9_.-]+$", value):
            raise ValueError("name may hold only letters, digits, '.', '_' and '-'")
        return value

    @field_validator("partition", "account", "qos")
    @classmethod
    def _sbatch_word(cls, value: str | None) -> str | None:
        if value is not None and not SBATCH_SAFE.match(value):
            raise ValueError(f"{value!r} may hold only letters, digits and . _ , : @ + = / -")
        return value

    @field_validator("extra_sbatch")
    @classmethod
    def _extra_sbatch(cls, value: list[str]) -> list[str]:
        for option in value:
            if not option.startswith("--") or not SBATCH_SAFE.match(option):
                raise ValueError(f"{option!r} must be one '--option[=value]' of safe characters")
        return value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            if not ENV_NAME.match(key):
                raise ValueError(f"{key!r} is not a shell variable name")
            if SECRET_NAME.search(key) or re.search(r"://[^/\s]*:[^/\s]*@", text):
                raise ValueError(f"{key!r} looks like a secret: secrets never reach compute jobs")
        return value

    @field_validator("inherit_environment")
    @classmethod
    def _inherit(cls, value: list[str]) -> list[str]:
        for key in value:
            if not ENV_NAME.match(key):
                raise ValueError(f"{key!r} is not a shell variable name")
            if SECRET_NAME.search(key):
                raise ValueError(f"{key!r} looks like a secret: secrets never reach compute jobs")
        return value

    @model_validator(mode="after")
    def _routing_targets_exist(self) -> ClusterProfile:
        for job_type, target in self.routing.items():
            if target not in self.resources:
                raise ValueError(
                    f"routing sends {job_type!r} to {target!r}, which is not in resources"
                )
        return self

    def resources_for(self, job_type: str | None = None) -> JobResources:
        """The allocation for ``job_type``: its routed class (or the class so named) over defaults.

        Unknown job types get the profile defaults, so a new job type never blocks submission.
        """
        name = self.routing.get(job_type or "", job_type or "")
        spec = self.resources.get(name)
        if spec is None:
            name, spec = "default", ResourceSpec()
        nodes = spec.nodes or self.nodes
        tasks = spec.tasks_per_node or self.tasks_per_node
        return JobResources(
            resource_class=name,
            partition=spec.partition or self.partition,
            account=self.account,
            qos=spec.qos or self.qos,
            nodes=nodes,
            tasks_per_node=tasks,
            cpus_per_task=spec.cpus_per_task or self.cpus_per_task,
            memory_mb=spec.memory_mb or self.memory_mb,
            walltime=spec.walltime or self.walltime,
            ranks_per_calculation=spec.ranks_per_calculation or self.ranks_per_calculation or tasks,
            calculations_per_allocation=spec.calculations_per_allocation
            or self.calculations_per_allocation,
        )


def available_profiles() -> list[str]:
    """Names of the profiles shipped in ``cluster_configs/``, sorted."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def profile_path(name_or_path: str | Path) -> Path:
    """The YAML file for a profile name (``cluster_configs/<name>.yaml``) or a path."""
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        return Path(text).expanduser()
    return PROFILE_DIR / f"{text}.yaml"


def load_profile(name_or_path: str | Path | None = None) -> ClusterProfile:
    """Load and validate a cluster profile.

    Parameters
    ----------
    name_or_path
        A shipped profile name (``local``), or a path to a YAML file; default: the
        ``cluster_profile`` setting.

    Raises
    ------
    InputError
        Missing file, bad YAML, an unknown key or a wrong type, in one line naming the
        file and the key.
    """
    if name_or_path is None:
        from htflow.settings import get_settings

        name_or_path = get_settings().cluster_profile
    path = profile_path(name_or_path)
    if not path.is_file():
        known = ", ".join(available_profiles()) or "none"
        raise InputError(f"cluster profile {path} not found: use a path or one of {known}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: a cluster profile must be a mapping of keys to values")
    data.setdefault("name", path.stem)
    try:
        return ClusterProfile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "profile"
        message = first["msg"].removeprefix("Value error, ")
        raise InputError(f"{path}: key {key!r}: {message}") from exc
