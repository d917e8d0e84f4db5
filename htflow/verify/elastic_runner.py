"""Run the production elastic flow on a reference material and compare it with the reference.

The flow is exactly the one campaigns run: ``qe_flow(structure, "elastic", ...)``
(vc-relax, then atomate2's symmetry-reduced strain set, each strained cell relaxing its ions,
then pymatgen's fit). It runs in this process with jobflow's ``run_locally``; pw.x uses
``get_settings().mpi_ranks``. The k-point sampling is whatever the flow chooses: the result
reports the meshes the strained cells actually used, read from their task documents.

atomate2's symmetry reduction needs the crystal axes along the Cartesian axes, so each
reference structure is first put in pymatgen's standard primitive setting (an fcc-based cubic
cell then needs 6 strained cells instead of 20). Rotations leave the IEEE-frame tensor, which
is what is compared, unchanged.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from htflow.exceptions import InputError
from htflow.quality.schema import PropertyQuality
from htflow.settings import get_settings
from htflow.verify.elastic_metrics import (
    ACCEPTANCE,
    REFERENCE_CHECKS,
    ElasticAcceptance,
    ElasticComparison,
    compare_elastic,
    reference_checks,
)

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from htflow.qe.pseudos import PseudoFamily
    from htflow.verify.elastic_reference import ElasticReference


class ElasticVerifyResult(BaseModel):
    """The elastic check of one reference material with one family and protocol."""

    material_id: str = Field(description="Reference entry id, e.g. 'mp-134'.")
    formula: str = Field(description="Reduced formula.")
    status: Literal["compared", "skipped", "failed"] = Field(
        description="'compared'; 'skipped' (not run, see reason); 'failed' (ran, no tensor)."
    )
    reason: str | None = Field(None, description="Why the material was skipped or failed.")
    pseudo_family: str = Field(description="Pseudopotential family.")
    protocol: str = Field(description="Protocol of every pw.x run of the flow.")
    reference_file: str = Field(description="The reference file the entry comes from.")
    reference_tensor: list[list[float]] = Field(
        description="Reference elastic tensor, 6×6 Voigt, IEEE frame (GPa)."
    )
    elastic_tensor: list[list[float]] | None = Field(
        None, description="Computed elastic tensor, 6×6 Voigt, IEEE frame (GPa)."
    )
    comparison: ElasticComparison | None = Field(
        None, description="Components, max |ΔC_ij|, K_V and G_V (GPa), relative errors, verdict."
    )
    acceptance: ElasticAcceptance = Field(description="Thresholds the verdict used.")
    kpoints_meshes: list[tuple[int, int, int]] = Field(
        default_factory=list, description="Distinct Monkhorst-Pack meshes of the strained cells."
    )
    ecutwfc: float | None = Field(
        None, description="Wavefunction cutoff of the strained cells (Ry)."
    )
    ecutrho: float | None = Field(None, description="Density cutoff of the strained cells (Ry).")
    n_strained_cells: int = Field(0, description="Strained cells run (after symmetry reduction).")
    n_failed_cells: int = Field(0, description="Strained cells whose run failed.")
    n_pw_runs: int = Field(0, description="pw.x runs of the whole flow (bulk relax included).")
    fit_warnings: list[str] = Field(default_factory=list, description="atomate2's fit warnings.")
    quality: PropertyQuality | None = Field(
        None,
        description="The tensor's own self-checks, as the builder stores them on a material, "
        "plus K_V and G_V against the reference (k_voigt_vs_reference, g_voigt_vs_reference): "
        "checked, or suspect with the reasons; never 'verified': this is the measurement a "
        "verification record would come from.",
    )
    n_ranks: int = Field(description="MPI ranks per pw.x run.")
    core_seconds: float = Field(
        0.0,
        description="Σ over the flow's pw.x runs of CPU time × ranks (s); CPU, not wall, time so "
        "that a busy machine does not inflate it (wall time where CPU time is missing).",
    )
    elapsed_seconds: float = Field(0.0, description="Wall time of the whole flow (s).")
    workdir: str = Field(description="Directory holding the run directories.")


def standard_cell(structure: Structure) -> Structure:
    """``structure`` in pymatgen's standard primitive setting (axes along x, y, z as usual)."""
    return SpacegroupAnalyzer(structure).get_primitive_standard_structure()


def elastic_family(pseudo_family: str | None) -> PseudoFamily:
    """The pseudo family, after checking that it exists and is PBE (as the references are).

    Raises
    ------
    InputError, PseudoFamilyError
        An unknown or a non-PBE family.
    """
    from htflow.qe.pseudos import get_pseudo_family

    family = get_pseudo_family(pseudo_family)
    if family.functional.upper() != "PBE":
        raise InputError(
            f"pseudo family {family.name!r} is {family.functional}, the elastic references are "
            "PBE: choose a PBE family with --pseudo-family"
        )
    return family


def skip_reason(reference: ElasticReference, family: PseudoFamily) -> str | None:
    """Why ``reference`` cannot be run with ``family`` (elements it lacks), or None."""
    return family.missing(el.symbol for el in reference.structure.composition.elements)


def check_elastic_inputs(
    references: list[ElasticReference], protocol: str, pseudo_family: str | None
) -> dict[str, str | None]:
    """Check protocol, family and every material's first pw.x input; nothing runs.

    Returns
    -------
    The skip reason (None: will run) by material id.

    Raises
    ------
    InputError, PseudoFamilyError
        An unknown protocol or family, a non-PBE family, an input the generator rejects.
    """
    from htflow.qe.sets import PwInputGenerator
    from htflow.qe.sets.protocol import load_protocol

    load_protocol(protocol)
    family = elastic_family(pseudo_family)
    reasons: dict[str, str | None] = {}
    for ref in references:
        reasons[ref.material_id] = skip_reason(ref, family)
        if reasons[ref.material_id] is None:
            generator = PwInputGenerator(
                calculation="vc-relax", protocol=protocol, pseudo_family=family.name
            )
            generator.get_input(standard_cell(ref.structure))
    return reasons


def run_elastic_verify(
    reference: ElasticReference,
    workdir: str | Path,
    protocol: str = "balanced",
    pseudo_family: str | None = None,
    *,
    acceptance: ElasticAcceptance = ACCEPTANCE,
    reference_file: str | Path = "",
) -> ElasticVerifyResult:
    """Run the elastic flow on ``reference``'s structure and compare with its tensor.

    A material whose elements the family lacks is not run (status 'skipped'); a flow that ends
    without a tensor gives status 'failed' with the reason. Neither raises.

    Parameters
    ----------
    reference
        The reference entry (:meth:`ElasticReferenceSet.select`).
    workdir
        Directory for the run directories (created).
    protocol, pseudo_family
        As for :func:`htflow.qe.workflows.qe_flow`; None: the pseudo_family setting.
    acceptance
        Thresholds on |ΔK_V|/K_V and |ΔG_V|/G_V.
    reference_file
        Where ``reference`` was read, for the record.

    Raises
    ------
    InputError, PseudoFamilyError
        An unknown or non-PBE family, or a bad protocol.
    """
    from htflow.qe.workflows import qe_flow

    family = elastic_family(pseudo_family)
    root = Path(workdir).resolve()
    record: dict[str, Any] = {
        "material_id": reference.material_id,
        "formula": reference.formula,
        "pseudo_family": family.name,
        "protocol": protocol,
        "reference_file": str(reference_file),
        "reference_tensor": reference.elastic_tensor,
        "acceptance": acceptance,
        "n_ranks": get_settings().mpi_ranks,
        "workdir": str(root),
    }
    reason = skip_reason(reference, family)
    if reason is not None:
        return ElasticVerifyResult(status="skipped", reason=reason, **record)
    flow = qe_flow(standard_cell(reference.structure), "elastic", protocol, family.name)
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    outputs = _run(flow, root)
    record["elapsed_seconds"] = time.perf_counter() - started
    record.update(_costs(outputs, record["n_ranks"]))
    elastic = _elastic_document(outputs)
    if elastic is None or elastic.elastic_tensor is None:
        why = _failed_run(root)
        reason = f"the elastic flow in {root} gave no tensor: " + (
            why or "see the run directories' pw.out"
        )
        return ElasticVerifyResult(status="failed", reason=reason, **record)
    record.update(_strained_cells(outputs, elastic))
    tensor = [[float(c) for c in row] for row in elastic.elastic_tensor.ieee_format]
    result = ElasticVerifyResult(
        status="compared",
        elastic_tensor=tensor,
        comparison=compare_elastic(tensor, reference, elastic.structure, acceptance),
        fit_warnings=[str(w) for w in elastic.warnings or []],
        quality=tensor_quality(outputs, elastic),
        **record,
    )
    return flag_against_reference(result)


def flag_against_reference(result: ElasticVerifyResult) -> ElasticVerifyResult:
    """``result`` with K_V and G_V against the reference added to its quality checks.

    A modulus outside the acceptance makes the material ``suspect`` with that reason, beside
    any reason from the tensor's own checks. Idempotent: earlier reference checks are replaced,
    so results stored before these checks existed can be brought up to date.
    """
    from htflow.quality.levels import property_quality

    if result.comparison is None or result.quality is None:
        return result
    own = [c for c in result.quality.checks if c.name not in REFERENCE_CHECKS]
    against = reference_checks(result.comparison, result.material_id, result.acceptance)
    quality = property_quality("elastic", own + against, dict(result.quality.settings))
    return result.model_copy(update={"quality": quality})


def _run(flow: Any, root: Path) -> dict[str, Any]:
    from jobflow import run_locally

    cwd = os.getcwd()
    try:
        with warnings.catch_warnings():
            # jobflow's use of monty's deprecated cd(): noise on every job
            warnings.filterwarnings("ignore", category=FutureWarning, module="jobflow")
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="jobflow")
            responses = run_locally(flow, root_dir=root, create_folders=True, log=False)
    finally:
        os.chdir(cwd)  # run_locally leaves the process in the last job's directory
    return {uuid: by_index[max(by_index)].output for uuid, by_index in responses.items()}


def _failed_run(root: Path) -> str | None:
    """The one-line reason of the first run directory under ``root`` that ended in an error."""
    from htflow.qe.error_messages import explain
    from htflow.qe.errors import detect_errors

    for directory in sorted(p.parent for p in root.glob("*/pw.out")):
        if detect_errors(directory):
            return f"{directory.name}: {explain(directory)}"
    return None


def _elastic_document(outputs: dict[str, Any]) -> Any:
    from atomate2.common.schemas.elastic import ElasticDocument

    return next((o for o in outputs.values() if isinstance(o, ElasticDocument)), None)


def tensor_quality(outputs: dict[str, Any], elastic: Any) -> PropertyQuality:
    """The self-checks a material's elastic tensor gets, from the flow's in-memory outputs.

    The documents are serialized as jobflow stores them, so the checks see exactly what the
    builder sees: the ElasticDocument and the task documents of its strained cells.
    """
    from monty.json import jsanitize

    from htflow.quality.elastic import elastic_checks
    from htflow.quality.levels import property_quality

    def stored(doc: Any) -> dict[str, Any]:
        return jsanitize(doc, strict=True, enum_values=True, allow_bson=True)

    uuids = dict.fromkeys(elastic.fitting_data.uuids or [])
    strained = [stored(outputs[u]) for u in uuids if u in outputs]
    return property_quality("elastic", *elastic_checks(stored(elastic), strained))


def _costs(outputs: dict[str, Any], n_ranks: int) -> dict[str, Any]:
    from htflow.qe.schemas import PwTaskDoc

    docs = [o for o in outputs.values() if isinstance(o, PwTaskDoc)]
    seconds = sum(
        (d.output.cpu_time or d.output.wall_time or 0.0) * (d.nprocs or n_ranks) for d in docs
    )
    return {"core_seconds": seconds, "n_pw_runs": len(docs)}


def _strained_cells(outputs: dict[str, Any], elastic: Any) -> dict[str, Any]:
    fitting = elastic.fitting_data
    uuids = set(fitting.uuids or [])  # atomate2 repeats a uuid per symmetry-equivalent strain
    failed = set(fitting.failed_uuids or [])
    inputs = [outputs[u].input.pw_input for u in uuids if u in outputs]
    inputs = [i for i in inputs if i is not None]
    first = inputs[0].system if inputs else {}
    return {
        "n_strained_cells": len(uuids | failed),
        "n_failed_cells": len(failed),
        "kpoints_meshes": sorted({tuple(i.kpoints.mesh) for i in inputs}),
        "ecutwfc": float(first["ecutwfc"]) if "ecutwfc" in first else None,
        "ecutrho": float(first["ecutrho"]) if "ecutrho" in first else None,
    }


__all__ = [
    "ElasticVerifyResult",
    "check_elastic_inputs",
    "elastic_family",
    "flag_against_reference",
    "run_elastic_verify",
    "skip_reason",
    "standard_cell",
    "tensor_quality",
]
