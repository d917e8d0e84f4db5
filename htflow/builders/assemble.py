"""One materials document from the task documents that belong to it (a pure function).

A material is a function of its tasks: the builder re-assembles it from all of them
whenever one is added, which is what makes the build idempotent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pymatgen.core import Structure

from htflow.builders.quality import material_quality
from htflow.db.materials import DosRef, DosSummary, MaterialDoc, Provenance
from htflow.quality.levels import Calculation

if TYPE_CHECKING:
    from collections.abc import Callable

    from pymatgen.electronic_structure.dos import CompleteDos, Dos

    from htflow.builders.identity import CalcIdentity

PW_TASK = "PwTaskDoc"
# atomate2/emmet's VASP task document (emmet.core.tasks.TaskDoc)
VASP_TASK = "TaskDoc"
VASP_ENERGY_TASK_TYPES = ("Structure Optimization", "Static")
ELASTIC_DOC = "ElasticDocument"
EOS_DOC = "EosDoc"
ENERGY_CALCULATIONS = ("scf", "vc-relax")
# Jobs whose cells are deliberately strained, or whose sampling is a property's (the elastic
# reference SCF, at a metal's elastic smearing width): never a material's energy or structure.
STRAINED_LABEL_PREFIXES = ("eos static", "elastic relax", "elastic reference")
# atomate2's VASP EOS and elastic cells (htflow.vasp names them "EOS fixed-volume relax …")
VASP_STRAINED_LABEL_PREFIXES = ("eos", "elastic relax", "elastic deformation")


def task_id(job_doc: dict[str, Any]) -> str:
    """``uuid:index`` of a job document in the outputs collection."""
    return f"{job_doc['uuid']}:{job_doc.get('index', 1)}"


def output_class(job_doc: dict[str, Any]) -> str | None:
    """The ``@class`` of a job's output (None for non-document outputs)."""
    out = job_doc.get("output")
    return out.get("@class") if isinstance(out, dict) else None


def task_role(job_doc: dict[str, Any]) -> str | None:
    """What a job document contributes: 'energy', 'dos', 'elastic', 'eos' or None."""
    cls = output_class(job_doc)
    out = job_doc.get("output") or {}
    if cls == ELASTIC_DOC:
        return "elastic" if out.get("elastic_tensor") else None
    if cls == EOS_DOC:
        return "eos"
    if cls == VASP_TASK:
        return _vasp_role(job_doc)
    if cls != PW_TASK or out.get("state") != "successful":
        return None
    label = str(out.get("task_label") or job_doc.get("name") or "")
    calculation = out.get("calculation")
    if calculation == "nscf" and out.get("dos") is not None:
        return "dos"
    if calculation in ENERGY_CALCULATIONS and not label.startswith(STRAINED_LABEL_PREFIXES):
        return "energy"
    return None


def _vasp_role(job_doc: dict[str, Any]) -> str | None:
    """A VASP TaskDoc gives a material's energy when it is a relaxation or a static run of an
    unstrained cell (the non-SCF band-structure runs add nothing to the materials document)."""
    out = job_doc.get("output") or {}
    if out.get("state") != "successful":
        return None
    label = str(out.get("task_label") or job_doc.get("name") or "").lower()
    if label.startswith(VASP_STRAINED_LABEL_PREFIXES):
        return None
    return "energy" if out.get("task_type") in VASP_ENERGY_TASK_TYPES else None


def is_static(job_doc: dict[str, Any]) -> bool:
    """Whether an energy task is a static (SCF) run rather than a relaxation."""
    out = job_doc["output"]
    if output_class(job_doc) == VASP_TASK:
        return out.get("task_type") == "Static"
    return out.get("calculation") == "scf"


def electronic_summary(out: dict[str, Any]) -> dict[str, Any]:
    """Band gap (eV), metallicity, Fermi level (eV) and total magnetization (μB) of a task."""
    if out.get("@class") == VASP_TASK or "calcs_reversed" in out:
        last = ((out.get("calcs_reversed") or [{}])[0].get("output")) or {}
        gap = (out.get("output") or {}).get("bandgap", last.get("bandgap"))
        return {
            "band_gap": gap,
            "is_metal": last.get("is_metal", None if gap is None else gap <= 0),
            "efermi": last.get("efermi"),
            "total_magnetization": (last.get("outcar") or {}).get("total_magnetization"),
        }
    electronic = out["output"]
    return {
        "band_gap": electronic.get("band_gap"),
        "is_metal": electronic.get("is_metal"),
        "efermi": electronic.get("efermi"),
        "total_magnetization": electronic.get("total_magnetization"),
    }


def task_structure(job_doc: dict[str, Any]) -> Structure | None:
    """The structure a job document is about (final structure; the bulk for elastic)."""
    out = job_doc.get("output") or {}
    raw = out.get("structure") or (out.get("output") or {}).get("structure")
    return Structure.from_dict(raw) if isinstance(raw, dict) else None


def assemble_material(
    material_id: str,
    identity: CalcIdentity,
    tasks: list[dict[str, Any]],
    load_dos: Callable[[dict[str, Any]], CompleteDos | Dos | None],
    members: dict[str, list[dict[str, Any]]] | None = None,
) -> MaterialDoc | None:
    """Build the materials document from its job documents; None when none gives an energy.

    Parameters
    ----------
    material_id
        The material's id.
    identity
        Code, protocol and pseudo family shared by the tasks.
    tasks
        Job documents (``uuid``, ``index``, ``completed_at``, ``output``) of the material.
    load_dos
        Loads the DOS of a dos job document (from the data store).
    members
        ``uuid:index`` of an elastic or EOS job document → the job documents of its strained
        cells or volume points, for the quality checks (missing: those checks are skipped).
    """
    by_role: dict[str, list[dict[str, Any]]] = {}
    for t in tasks:
        role = task_role(t)
        if role:
            by_role.setdefault(role, []).append(t)
    energy_tasks = by_role.get("energy", [])
    if not energy_tasks:
        return None

    def latest(ts: list[dict[str, Any]]) -> dict[str, Any] | None:
        return max(ts, key=lambda t: (t.get("completed_at") or "", task_id(t)), default=None)

    # a static SCF of the relaxed cell beats the relaxation's own last step
    energy = max(
        energy_tasks,
        key=lambda t: (
            is_static(t),
            t.get("completed_at") or "",
            task_id(t),
        ),
    )
    out = energy["output"]
    structure = task_structure(energy)
    assert structure is not None
    comp = structure.composition
    elements = sorted(el.symbol for el in comp.elements)
    fields: dict[str, Any] = {
        "material_id": material_id,
        "formula": comp.alphabetical_formula.replace(" ", ""),
        "formula_reduced": comp.reduced_formula,
        "chemsys": "-".join(elements),
        "elements": elements,
        "nelements": len(elements),
        "nsites": len(structure),
        "volume": float(structure.volume),
        "volume_per_atom": float(structure.volume / len(structure)),
        "density": float(structure.density),
        "structure": structure,
        "code": identity.code,
        "protocol": identity.protocol,
        "pseudo_family": identity.pseudo_family,
        "energy_per_atom": float(out["output"]["energy_per_atom"]),
    }
    electronic = electronic_summary(out)
    gap_source = energy
    dos_task = latest(by_role.get("dos", []))
    if dos_task is not None:
        # the DOS run's denser grid gives the better gap and Fermi level
        electronic = electronic_summary(dos_task["output"])
        gap_source = dos_task
        dos = load_dos(dos_task)
        ref = dos_task["output"]["dos"]
        fields["dos_ref"] = DosRef(
            task_uuid=dos_task["uuid"],
            task_index=dos_task.get("index", 1),
            blob_uuid=ref.get("blob_uuid") if isinstance(ref, dict) else None,
        )
        fields["dos"] = dos_summary(dos) if dos is not None else None
    fields["band_gap"] = electronic.get("band_gap")
    fields["is_metal"] = electronic.get("is_metal")
    fields["efermi"] = electronic.get("efermi")
    fields["total_magnetization"] = electronic_summary(out)["total_magnetization"]

    elastic = latest(by_role.get("elastic", []))
    if elastic is not None:
        doc = elastic["output"]
        props = doc.get("derived_properties") or {}
        fields["elastic_tensor"] = [
            [float(x) for x in row] for row in doc["elastic_tensor"]["ieee_format"]
        ]
        fields["k_vrh"] = props.get("k_vrh")
        fields["g_vrh"] = props.get("g_vrh")
        fields["poisson_ratio"] = props.get("homogeneous_poisson")
        fields["universal_anisotropy"] = props.get("universal_anisotropy")
    eos = latest(by_role.get("eos", []))
    if eos is not None:
        fields["eos_v0"] = eos["output"]["v0"]
        fields["eos_b0"] = eos["output"]["b0"]
        fields["eos_b1"] = eos["output"]["b1"]

    provenance = _provenance(tasks, energy, dos_task, elastic, eos)
    fields["provenance"] = provenance
    checks = material_quality(
        Calculation(identity.code, identity.protocol, provenance.pseudo_md5),
        energy,
        gap_source if fields["band_gap"] is not None or fields["is_metal"] is not None else None,
        dos=dos_task,
        elastic=elastic,
        eos=eos,
        members=members,
    )
    fields["checks"] = checks
    fields["quality"] = {name: q.level for name, q in checks.items()}
    return MaterialDoc(**fields)


def _provenance(
    tasks: list[dict[str, Any]],
    energy: dict[str, Any],
    dos: dict[str, Any] | None,
    elastic: dict[str, Any] | None,
    eos: dict[str, Any] | None,
) -> Provenance:
    versions = sorted(
        {str(t["output"]["qe_version"]) for t in tasks if _pw(t) and t["output"].get("qe_version")}
        | {f"VASP {v}" for t in tasks if _vasp(t) and (v := _vasp_version(t))}
    )
    md5 = {
        p["element"]: p["md5"]
        for p in (energy["output"].get("input") or {}).get("pseudos") or []
        if p.get("md5")
    }
    if _vasp(energy):  # POTCAR hashes (None when VASP did not record them)
        for spec in (energy["output"].get("input") or {}).get("potcar_spec") or []:
            titel = str(spec.get("titel") or "").split()
            if len(titel) > 1 and spec.get("hash"):
                md5[titel[1].split("_")[0]] = spec["hash"]
    corrections = [
        {"task_id": task_id(t), **c}
        for t in sorted(tasks, key=task_id)
        if _pw(t)
        for c in t["output"].get("custodian") or []
    ]
    # atomate2 keeps one custodian document per run, each with its corrections
    corrections += [
        {"task_id": task_id(t), **c}
        for t in sorted(tasks, key=task_id)
        if _vasp(t)
        for run in t["output"].get("custodian") or []
        for c in run.get("corrections") or []
    ]
    stamps = sorted(t.get("completed_at") or "" for t in tasks)
    return Provenance(
        task_ids=sorted(task_id(t) for t in tasks),
        energy_task_id=task_id(energy),
        dos_task_id=task_id(dos) if dos else None,
        elastic_task_id=task_id(elastic) if elastic else None,
        eos_task_id=task_id(eos) if eos else None,
        code_versions=versions,
        pseudo_md5=md5,
        custodian_corrections=corrections,
        created_at=stamps[0] or None,
        last_updated=stamps[-1] or None,
    )


def _pw(t: dict[str, Any]) -> bool:
    return output_class(t) == PW_TASK


def _vasp(t: dict[str, Any]) -> bool:
    return output_class(t) == VASP_TASK


def _vasp_version(t: dict[str, Any]) -> str | None:
    version = t["output"].get("vasp_version")
    if not version:
        calcs = t["output"].get("calcs_reversed") or [{}]
        version = calcs[0].get("vasp_version")
    return str(version) if version else None


def dos_summary(dos: CompleteDos | Dos) -> DosSummary:
    """Fermi-level DOS, band edges and grid of a DOS (eV; states/eV/cell)."""
    energies = np.asarray(dos.energies, dtype=float)
    total = np.asarray(dos.get_densities(), dtype=float)
    at_ef = float(np.interp(dos.efermi, energies, total))
    gap = float(dos.get_gap())
    vbm = cbm = None
    if gap > 0:
        cbm_, vbm_ = dos.get_cbm_vbm()
        vbm, cbm = float(vbm_), float(cbm_)
    pdos = getattr(dos, "pdos", None) or {}
    return DosSummary(
        efermi=float(dos.efermi),
        dos_at_efermi=at_ef,
        vbm=vbm,
        cbm=cbm,
        gap=gap,
        n_energies=len(energies),
        energy_min=float(energies.min()),
        energy_max=float(energies.max()),
        n_projected_sites=len(pdos),
    )
