"""The quality of a material's properties from the task documents behind them (pure).

The builder passes the tasks it chose for each property and, for the elastic tensor and the
EOS, the task documents of their strained cells and volume points (``members``, looked up in
the outputs collection). The formation energy's quality needs the references' energies, so
the builder adds it after the thermodynamics (:func:`formation_quality_fields`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from htflow.quality.band_gap import band_gap_checks
from htflow.quality.dos import dos_checks
from htflow.quality.elastic import elastic_checks
from htflow.quality.energy import energy_checks
from htflow.quality.eos import eos_checks
from htflow.quality.formation import formation_energy_quality
from htflow.quality.levels import Calculation, property_quality

if TYPE_CHECKING:
    from htflow.quality.schema import PropertyQuality

FORMATION = "formation_energy"


def material_quality(
    calculation: Calculation,
    energy: dict[str, Any],
    gap_source: dict[str, Any] | None,
    *,
    dos: dict[str, Any] | None = None,
    elastic: dict[str, Any] | None = None,
    eos: dict[str, Any] | None = None,
    members: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, PropertyQuality]:
    """Quality of each property a material has (formation energy excepted).

    Parameters
    ----------
    calculation
        Code, protocol and pseudo md5s of the material.
    energy
        The energy job document (``uuid``, ``index``, ``output``).
    gap_source
        The job document the band gap and E_F come from (None: no gap known).
    dos, elastic, eos
        The job documents of the DOS, the ElasticDocument and the EosDoc, when present.
    members
        ``uuid:index`` of an elastic or EOS job document → the task documents (job
        documents) of its strained cells or volume points.
    """
    members = members or {}
    out: dict[str, PropertyQuality] = {}
    out["energy"] = property_quality("energy", *energy_checks(energy["output"]), calculation)
    if gap_source is not None:
        found = band_gap_checks(gap_source["output"], from_dos=gap_source is dos)
        out["band_gap"] = property_quality("band_gap", *found, calculation)
    if dos is not None:
        out["dos"] = property_quality("dos", *dos_checks(dos["output"]), calculation)
    if elastic is not None:
        strained = [m["output"] for m in members.get(_task_id(elastic), [])]
        found = elastic_checks(elastic["output"], strained)
        out["elastic"] = property_quality("elastic", *found, calculation)
    if eos is not None:
        points = [m["output"] for m in members.get(_task_id(eos), [])]
        out["eos"] = property_quality("eos", *eos_checks(eos["output"], points), calculation)
    return out


def formation_quality_fields(
    doc: dict[str, Any], thermo: dict[str, Any], materials: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """``quality`` and ``checks`` of a material document with its formation energy's quality.

    Parameters
    ----------
    doc
        The material document (as stored) the thermodynamics were computed for.
    thermo
        Its new thermodynamic fields (``formation_energy_per_atom``, ``reference_ids`` …).
    materials
        material_id → document (at least ``quality`` and ``checks.energy``) of the references.

    Returns
    -------
    dict
        ``{"quality": …, "checks": …}``: without a formation energy the key is removed.
    """
    quality = dict(doc.get("quality") or {})
    checks = dict(doc.get("checks") or {})
    quality.pop(FORMATION, None)
    checks.pop(FORMATION, None)
    if thermo.get("formation_energy_per_atom") is not None:
        refs = {
            el: (ref_id, ((materials.get(ref_id) or {}).get("checks") or {}).get("energy"))
            for el, ref_id in (thermo.get("reference_ids") or {}).items()
        }
        provenance = doc.get("provenance") or {}
        calculation = Calculation(
            doc["code"], doc["protocol"], dict(provenance.get("pseudo_md5") or {})
        )
        found = formation_energy_quality(
            doc["material_id"], (doc.get("checks") or {}).get("energy"), refs, calculation
        )
        quality[FORMATION] = found.level
        checks[FORMATION] = found.model_dump()
    return {"quality": quality, "checks": checks}


def _task_id(job_doc: dict[str, Any]) -> str:
    return f"{job_doc['uuid']}:{job_doc.get('index', 1)}"
