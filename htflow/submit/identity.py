"""What a calculation *is*, independent of uuids: structure, protocol, job type, code.

Every Firework htflow submits carries ``spec["htflow_identity"]`` (see
:class:`JobIdentity`). Two calculations are the same when their formula, protocol, task
label, code and Maker settings are equal and their structures match by pymatgen's
``StructureMatcher`` (default tolerances) at the same volume per atom.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobflow import Maker, OutputReference
from monty.json import jsanitize
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from htflow.launch.spec import IDENTITY_KEY, JOB_UUID_KEY

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from jobflow import Job


# StructureMatcher rescales volumes by default (scale=True), so a cell compressed by 10 %
# "matches" the relaxed one; for inputs of a calculation that is a different calculation
# (EOS points, strained cells), so volumes per atom must agree as well.
VOLUME_RTOL = 0.01


@dataclass(frozen=True)
class JobIdentity:
    """The identity of one calculation, stored in its Firework spec.

    Attributes
    ----------
    formula
        Reduced formula of the input structure (None for jobs without a structure).
    structure
        The input structure as a dict (for a job whose structure comes from an earlier job of
        the same flow: the structure that flow started from).
    volume_per_atom
        Volume per atom of ``structure`` (Å^3); a cheap fingerprint for display and filtering.
    n_sites
        Number of sites of ``structure``.
    protocol
        Protocol name of the Maker's input set generator, or None.
    task_label
        The job name (``static``, ``relax``, ``dos`` …): the job type that identifies it.
    maker
        Class name of the Maker (None for plain ``@job`` functions).
    code
        ``qe``, ``vasp`` or ``python``.
    settings_hash
        md5 of the Maker's settings (everything but the structure); equal Makers hash equal.
    """

    formula: str | None
    structure: dict[str, Any] | None
    volume_per_atom: float | None
    n_sites: int | None
    protocol: str | None
    task_label: str
    maker: str | None
    code: str
    settings_hash: str

    def as_spec(self) -> dict[str, Any]:
        """The dict stored as ``spec["htflow_identity"]``."""
        return {
            "formula": self.formula,
            "structure": self.structure,
            "volume_per_atom": self.volume_per_atom,
            "n_sites": self.n_sites,
            "protocol": self.protocol,
            "task_label": self.task_label,
            "maker": self.maker,
            "code": self.code,
            "settings_hash": self.settings_hash,
        }

    def prefilter(self) -> dict[str, Any]:
        """The database query (on indexed spec fields) that every identical job satisfies."""
        return {
            f"spec.{IDENTITY_KEY}.{name}": value
            for name, value in (
                ("formula", self.formula),
                ("protocol", self.protocol),
                ("task_label", self.task_label),
                ("code", self.code),
                ("settings_hash", self.settings_hash),
            )
        }

    @property
    def identifiable(self) -> bool:
        """Whether duplicate detection applies (only to calculations on a structure)."""
        return self.structure is not None


# Fields of spec.htflow_identity the prefilter queries: the storage layer indexes these.
IDENTITY_INDEX_FIELDS = tuple(
    f"spec.{IDENTITY_KEY}.{name}"
    for name in ("formula", "protocol", "task_label", "code", "settings_hash")
)


def identities_of(jobs: Iterable[Job]) -> dict[str, JobIdentity]:
    """Identities of ``jobs`` (in flow order: parents first), keyed by job uuid.

    A job whose structure is an output reference to an earlier job of the same flow inherits
    that job's input structure: the chain "relax → static → dos" on Si is identified by the Si
    it started from.
    """
    structures: dict[str, Structure | None] = {}
    identities: dict[str, JobIdentity] = {}
    for job in jobs:
        structure = _input_structure(job, structures)
        structures[job.uuid] = structure
        identities[job.uuid] = _identity(job, structure)
    return identities


def _input_structure(job: Job, known: Mapping[str, Structure | None]) -> Structure | None:
    candidates = [job.function_kwargs.get("structure"), *job.function_args]
    candidates += list(job.function_kwargs.values())
    for value in candidates:
        if isinstance(value, Structure):
            return value
        if isinstance(value, dict) and value.get("@class") == "Structure":
            return Structure.from_dict(value)
        if isinstance(value, OutputReference) and known.get(value.uuid) is not None:
            return known[value.uuid]
    return None


def _identity(job: Job, structure: Structure | None) -> JobIdentity:
    maker = job.maker
    generator = getattr(maker, "input_set_generator", None)
    protocol = getattr(generator, "protocol", None)
    return JobIdentity(
        formula=structure.composition.reduced_formula if structure is not None else None,
        structure=structure.as_dict() if structure is not None else None,
        volume_per_atom=round(structure.volume / len(structure), 6) if structure else None,
        n_sites=len(structure) if structure is not None else None,
        protocol=str(protocol) if protocol is not None else None,
        task_label=job.name,
        maker=type(maker).__name__ if maker is not None else None,
        code=_code_of(job, maker),
        settings_hash=_settings_hash(job, maker),
    )


def _code_of(job: Job, maker: Maker | None) -> str:
    module = (
        type(maker).__module__ if maker is not None else getattr(job.function, "__module__", "")
    )
    module = module or ""
    if module.startswith("htflow.qe"):
        return "qe"
    if "vasp" in module:
        return "vasp"
    return "python"


def _settings_hash(job: Job, maker: Maker | None) -> str:
    if maker is not None:
        settings: Any = maker.as_dict()
    else:
        function = job.function
        name = getattr(function, "__qualname__", repr(function))
        settings = {"function": f"{getattr(function, '__module__', '')}.{name}"}
    text = json.dumps(_strip_versions(jsanitize(settings, strict=False)), sort_keys=True)
    return hashlib.md5(text.encode()).hexdigest()


def _strip_versions(value: Any) -> Any:
    # "@version" changes with every release of a package; settings do not.
    if isinstance(value, dict):
        return {k: _strip_versions(v) for k, v in value.items() if k != "@version"}
    if isinstance(value, list):
        return [_strip_versions(v) for v in value]
    return value


def same_structure(a: Structure, b: Structure, matcher: StructureMatcher | None = None) -> bool:
    """Whether ``a`` and ``b`` are the same input structure (see the module docstring)."""
    va, vb = a.volume / len(a), b.volume / len(b)
    if abs(va - vb) > VOLUME_RTOL * max(va, vb):
        return False
    return (matcher or StructureMatcher()).fit(a, b)


def find_duplicates(
    fireworks_collection: Any, identity: JobIdentity, states: Iterable[str]
) -> list[dict[str, Any]]:
    """Fireworks in ``states`` identical to ``identity``: ``[{"fw_id", "state", "job_uuid"}, …]``.

    A query on the indexed identity fields finds the candidates; ``StructureMatcher`` decides.
    ``job_uuid`` is the matching Firework's jobflow uuid (None if it has none).
    """
    if not identity.identifiable or identity.structure is None:
        return []
    query = identity.prefilter() | {"state": {"$in": list(states)}}
    projection = {
        "fw_id": 1,
        "state": 1,
        f"spec.{IDENTITY_KEY}.structure": 1,
        f"spec.{JOB_UUID_KEY}": 1,
    }
    structure = Structure.from_dict(identity.structure)
    matcher = StructureMatcher()
    found = []
    for doc in fireworks_collection.find(query, projection):
        spec = doc.get("spec", {})
        other = spec.get(IDENTITY_KEY, {}).get("structure")
        if other and same_structure(structure, Structure.from_dict(other), matcher):
            match = {
                "fw_id": doc["fw_id"],
                "state": doc["state"],
                "job_uuid": spec.get(JOB_UUID_KEY),
            }
            found.append(match)
    return found


def same_identity(a: JobIdentity, b: JobIdentity, matcher: StructureMatcher | None = None) -> bool:
    """Whether ``a`` and ``b`` are the same calculation (the rule :func:`find_duplicates` applies
    against the database, for two jobs not yet submitted)."""
    if a.structure is None or b.structure is None or a.prefilter() != b.prefilter():
        return False
    return same_structure(
        Structure.from_dict(a.structure), Structure.from_dict(b.structure), matcher
    )
