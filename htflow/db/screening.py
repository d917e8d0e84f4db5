"""The ``screening`` collection: every candidate a campaign's funnel judged, kept or not.

One document per (campaign, candidate label), written by the agent when the screen job of a
funnel completes (``htflow.agent.funnel``). A candidate screened out is never dropped
silently: it stays here with its ML numbers and the reason. Materials built from the DFT
runs of a kept candidate carry the same numbers in their ``ml`` field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from collections.abc import Iterable

SCREENING_COLLECTION = "screening"


class ScreeningDoc(BaseModel):
    """One candidate's ML numbers and the funnel's decision."""

    campaign: str = Field(description="The campaign whose funnel judged the candidate.")
    label: str = Field(description="Candidate label within the campaign (c0000, c0001 …).")
    entry: str = Field(description="The campaign spec entry the candidate came from.")
    formula: str = Field(description="Reduced formula.")
    structure: dict[str, Any] = Field(
        description="The ML-relaxed structure (pymatgen dict, Å): where the DFT stage starts."
    )
    model: str = Field(description="ML potential, e.g. 'chgnet'.")
    model_version: str = Field(description="Package and weights, e.g. 'chgnet 0.4.2, 0.3.0'.")
    energy_per_atom: float | None = Field(
        None, description="ML energy per atom of the relaxed structure (eV/atom, model's scale)."
    )
    formation_energy_per_atom: float | None = Field(
        None, description="ML formation energy against the model's elemental references (eV/atom)."
    )
    energy_above_hull: float | None = Field(
        None, description="ML energy above the model's own hull (eV/atom)."
    )
    margin: float | None = Field(
        None, description="The screen's margin (eV/atom); None: no screen (pre-relaxation)."
    )
    kept: bool = Field(description="True when the candidate goes on to DFT.")
    reason: str = Field(description="Why it was kept or screened out, with numbers and units.")
    screen_job_uuid: str = Field(description="uuid of the screen job whose output this is.")
    dft_fw_ids: list[int] = Field(
        default_factory=list, description="fw_ids of the DFT Fireworks submitted for it."
    )
    dft_submitted: bool = Field(
        False, description="True once the agent has submitted (or found) its DFT flows."
    )
    screened_at: str = Field(description="When the agent recorded the decision (ISO 8601).")


def screening(db: Any) -> Any:
    """The screening collection of a pymongo-API database (``LaunchPad.db`` or
    ``htflow.db.open_database``)."""
    return db[SCREENING_COLLECTION]


def record_screening(db: Any, docs: Iterable[ScreeningDoc]) -> int:
    """Upsert ``docs`` keyed on (campaign, label); returns how many were written."""
    collection = screening(db)
    n = 0
    for doc in docs:
        key = {"campaign": doc.campaign, "label": doc.label}
        collection.replace_one(key, doc.model_dump(mode="json"), upsert=True)
        n += 1
    return n


def screening_docs(
    db: Any, campaign: str | None = None, kept: bool | None = None
) -> list[dict[str, Any]]:
    """Screening documents, optionally of one campaign and kept or not, in label order."""
    query: dict[str, Any] = {}
    if campaign is not None:
        query["campaign"] = campaign
    if kept is not None:
        query["kept"] = kept
    docs = [{k: v for k, v in d.items() if k != "_id"} for d in screening(db).find(query)]
    return sorted(docs, key=lambda d: (d["campaign"], d["label"]))


__all__ = [
    "SCREENING_COLLECTION",
    "ScreeningDoc",
    "record_screening",
    "screening",
    "screening_docs",
]
