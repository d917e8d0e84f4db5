"""The campaign spec: one YAML file, validated by pydantic, unknown keys rejected.

A campaign says *which structures* (``sources``), *which of them to keep* (``filters``,
``dedupe``) and *what to compute* (``workflow``, ``protocol``, ``code``) and *where*
(``cluster``, ``priority``). See docs/campaigns.md for the reference with examples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pymatgen.core import Element

from htflow.active.spec import ActiveSpec, check_objective
from htflow.campaign.funnel_spec import Funnel
from htflow.exceptions import HtflowError, InputError

WorkflowName = Literal["relax_static_dos", "band_structure", "elastic", "eos"]
CrystalSystem = Literal[
    "triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal", "cubic"
]
PrototypeName = Literal[
    "rocksalt",
    "zincblende",
    "wurtzite",
    "cesium_chloride",
    "perovskite",
    "fcc",
    "bcc",
    "diamond",
    "hcp",
    "sc",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_element(symbol: str) -> str:
    if not Element.is_valid_symbol(symbol):
        raise ValueError(f"{symbol!r} is not a chemical element symbol")
    return symbol


class PrototypeSource(_Strict):
    """A prototype crystal with lists of elements per site, enumerated combinatorially."""

    prototype: PrototypeName = Field(description="Prototype name (see docs/campaigns.md).")
    sites: dict[str, list[str]] = Field(
        description="Site label (A, B, X …, as the prototype names them) → element symbols."
    )
    lattice_constant: float | None = Field(
        None,
        gt=0,
        description="Cubic/hexagonal a (Å) for every substitution; None estimates it from radii.",
    )

    @field_validator("sites")
    @classmethod
    def _elements(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for symbols in value.values():
            if not symbols:
                raise ValueError("every site needs at least one element")
            for symbol in symbols:
                _check_element(symbol)
        return value


class OptimadeSource(_Strict):
    """Structures from an OPTIMADE provider (needs network access)."""

    provider: str = Field(
        description="Base URL of the provider, e.g. https://optimade.materialsproject.org."
    )
    filter: str = Field(description='OPTIMADE filter, e.g. elements HAS ALL "Ga","As".')
    max_results: int = Field(10, ge=1, le=1000, description="Most structures taken (count).")


class Sources(_Strict):
    """Where candidate structures come from. Every list may be empty."""

    files: list[str] = Field(
        default_factory=list,
        description="Paths or globs (CIF, POSCAR/CONTCAR/*.vasp, extxyz), relative to the spec.",
    )
    prototypes: list[PrototypeSource] = Field(
        default_factory=list, description="Prototypes × element substitutions."
    )
    materials_project: list[str] = Field(
        default_factory=list, description="Materials Project ids (mp-149 …); needs MP_API_KEY."
    )
    optimade: list[OptimadeSource] = Field(
        default_factory=list, description="OPTIMADE provider queries (need network access)."
    )

    @field_validator("materials_project")
    @classmethod
    def _mp_ids(cls, value: list[str]) -> list[str]:
        for mp_id in value:
            if not mp_id.startswith(("mp-", "mvc-")):
                raise ValueError(f"{mp_id!r} is not a Materials Project id like 'mp-149'")
        return value


class Filters(_Strict):
    """Which candidates to keep. A dropped candidate is counted, never an error."""

    max_sites: int | None = Field(None, ge=1, description="Most sites per cell (count).")
    min_distance: float | None = Field(
        None,
        gt=0,
        description="Smallest allowed interatomic distance (Å); closer than 0.5 Å is an error.",
    )
    missing_pseudo: Literal["error", "skip"] = Field(
        "error",
        description="An element without a pseudopotential: 'error' stops, 'skip' drops it.",
    )
    charge_neutral: bool = Field(
        False,
        description="Keep only compositions with a charge-neutral oxidation-state guess.",
    )


class Dedupe(_Strict):
    """Duplicate detection by StructureMatcher (htflow.submit.identity)."""

    within_campaign: bool = Field(True, description="Drop candidates matching earlier ones.")
    against_database: bool = Field(
        True, description="Drop candidates whose whole workflow is already done or queued."
    )


class WorkflowStep(_Strict):
    """One workflow, optionally restricted to some crystal systems."""

    name: WorkflowName = Field(description="The workflow.")
    crystal_systems: list[CrystalSystem] | None = Field(
        None, description="Run only on these crystal systems (None: on every candidate)."
    )


def _step(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class CampaignSpec(_Strict):
    """A whole campaign (``workflows/<name>.yaml``)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="Campaign name.")
    description: str = Field("", description="Free text.")
    code: Literal["qe", "vasp"] = Field("qe", description="DFT code.")
    protocol: Literal["fast", "balanced", "stringent"] = Field(
        "balanced", description="Input protocol for every calculation."
    )
    pseudo_family: str | None = Field(
        None, description="QE pseudopotential family; None: the pseudo_family setting."
    )
    cluster: str | None = Field(
        None, description="Cluster profile name or YAML path; None: the cluster_profile setting."
    )
    priority: int = Field(0, description="FireWorks priority (higher runs first).")
    strict: bool = Field(
        False,
        description="Refuse a protocol below what a workflow's property needs (k-points per "
        "reciprocal atom, smearing, thresholds; see docs/precision.md) instead of raising it.",
    )
    sources: Sources = Field(default_factory=Sources, description="Candidate sources.")
    filters: Filters = Field(default_factory=Filters, description="Candidate filters.")
    dedupe: Dedupe = Field(default_factory=Dedupe, description="Duplicate detection.")
    workflow: list[Annotated[WorkflowStep, Field()]] = Field(
        min_length=1, description="Workflows to run on every candidate (or some systems)."
    )
    funnel: Funnel | None = Field(
        None,
        description="ML stages before DFT: relax, screen by the ML hull, then the workflows "
        "from the ML-relaxed structures (see docs/funnel.md); None: straight to DFT.",
    )
    strategy: Literal["exhaustive", "active"] = Field(
        "exhaustive",
        description="'exhaustive': every candidate's workflows run; 'active': the agent runs "
        "rounds, each batch chosen by a surrogate from the results so far (docs/active_loop.md).",
    )
    active: ActiveSpec | None = Field(
        None,
        description="The active strategy (objective, constraints, surrogate, acquisition, "
        "initial, budget, stop; docs/active_learning.md); only with strategy: active.",
    )

    @field_validator("workflow", mode="before")
    @classmethod
    def _steps(cls, value: Any) -> Any:
        return [_step(v) for v in value] if isinstance(value, list) else value

    @field_validator("workflow")
    @classmethod
    def _unique(cls, value: list[WorkflowStep]) -> list[WorkflowStep]:
        names = [step.name for step in value]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"workflow {name!r} is listed twice")
        return value

    @model_validator(mode="after")
    def _strategy(self) -> CampaignSpec:
        if self.strategy == "active" and self.active is None:
            raise ValueError(
                "strategy: active needs an active: section (objective, budget …): add it "
                "(see docs/active_learning.md)"
            )
        if self.active is None:
            return self
        if self.strategy != "active":
            raise ValueError("an active: section needs strategy: active: add it, or remove active:")
        if self.funnel is not None:
            raise ValueError(
                "strategy: active with a funnel: is not supported yet: remove funnel: "
                "(or run the funnel as its own campaign)"
            )
        try:
            check_objective(self.active, [step.name for step in self.workflow])
        except HtflowError as exc:  # its one line names the field and the fix
            raise ValueError(str(exc)) from None
        return self


def load_campaign(path: str | Path) -> CampaignSpec:
    """Read and validate a campaign YAML file.

    Raises
    ------
    InputError
        Missing file, malformed YAML (with its line), a YAML tag that would build a Python
        object, an unknown key or a wrong type (with the key path): one line naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"campaign file {path} not found: give the path of a campaign YAML")
    try:
        # safe_load never constructs Python objects: a !!python/... tag is a YAML error here.
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "python/" in str(exc):
            problem = "Python object tags (!!python/...) are not allowed"
        raise InputError(f"{path}{where}: not valid YAML: {problem}: fix the file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the campaign file ({exc})") from exc
    return parse_campaign(data, source=str(path))


def parse_campaign(data: Any, source: str = "campaign") -> CampaignSpec:
    """Validate already-loaded campaign data; errors name ``source`` and the key path."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: a campaign must be a mapping of keys (name, sources …)")
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{source}: {_one_line(exc)}") from exc


def _one_line(exc: ValidationError) -> str:
    first = exc.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if not key:  # a rule across keys: its message names them
        return message
    if first["type"] == "extra_forbidden":
        return f"unknown key {key!r}: remove it or fix its spelling (see docs/campaigns.md)"
    if first["type"] == "missing":
        return f"key {key!r} is required: add it (see docs/campaigns.md)"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"key {key!r}: {message}{more}"
