"""The materials builder: task documents in the JobStore → materials documents.

Incremental: the builder keeps one small bookkeeping document per processed task
(``materials_builder_tasks``: ``_id`` = ``uuid:index``) and only reads tasks it has not
processed. It does not rely on ``completed_at`` alone, because the agent ingests offline
results after the fact: a task can arrive with an older ``completed_at`` than the newest
one already built. Idempotent: a material is re-assembled from all its tasks, formation
energies and hulls are recomputed for the affected chemical systems, and a document is
written only when it changed; a second run over the same tasks writes nothing.

A task that adds to a material (DOS, elastic tensor, EOS) but matches none yet stays
unprocessed and is tried again on the next run.

Each property also gets its quality (:mod:`htflow.builders.quality`): the elastic tensor's
and the EOS's checks read the task documents of their strained cells and volume points, the
formation energy's reads the references' energy quality. When the materials schema changes
(``SCHEMA_VERSION``), the next run re-assembles every material once from its tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pymatgen.analysis.structure_matcher import StructureMatcher

from htflow.builders.assemble import (
    assemble_material,
    output_class,
    task_id,
    task_role,
    task_structure,
)
from htflow.builders.identity import CalcIdentity, task_identity
from htflow.builders.ml_numbers import ml_numbers
from htflow.builders.quality import FORMATION, formation_quality_fields
from htflow.builders.references import missing_references
from htflow.builders.thermo import thermo_fields
from htflow.db.backends import DATA_STORE_NAME, DOCS_COLLECTION
from htflow.db.collections import open_database
from htflow.db.indexes import ensure_indexes_on
from htflow.db.materials import (
    BUILDER_TASKS_COLLECTION,
    MATERIALS_COLLECTION,
    material_id_for,
)

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from htflow.db.uri import DbTarget

BATCH = 200
THERMO_FIELDS = ("formation_energy_per_atom", "energy_above_hull", "is_stable", "reference_ids")
LIGHT = [
    "material_id",
    "formula",
    "elements",
    "energy_per_atom",
    "code",
    "protocol",
    "pseudo_family",
    *THERMO_FIELDS,
    "quality",
    "checks.energy",
    f"checks.{FORMATION}",
    "provenance.pseudo_md5",
]
# What the quality checks read from the strained cells and volume points.
MEMBER_FIELDS = [
    "uuid",
    "index",
    "output.@class",
    "output.calculation",
    "output.task_type",
    "output.nsites",
    "output.input",
    "output.output",
]
# Bump when assemble_material's output changes: the next run re-assembles every material.
SCHEMA_VERSION = 2
SCHEMA_MARK = "_materials_schema"


@dataclass
class BuildReport:
    """What one builder run did."""

    new_tasks: int = 0
    processed: int = 0
    pending: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    missing_references: list[str] = field(default_factory=list)


def build_materials(uri: str | None = None, matcher: StructureMatcher | None = None) -> BuildReport:
    """Build or update the materials collection from the task documents not yet processed.

    Parameters
    ----------
    uri
        As for :func:`htflow.db.get_jobstore`. The caller must be the single writer.
    matcher
        Groups structures into materials (default: pymatgen's ``StructureMatcher()``).

    Returns
    -------
    BuildReport
        Counts and ids; ``missing_references`` lists elements that lack an elemental
        reference of the same identity (add calculations of ``reference_structures``).
    """
    from htflow.db.backends import get_jobstore

    with open_database(uri) as (db, target):
        ensure_indexes_on(db, gridfs=target.kind == "mongodb")
        jobstore = get_jobstore(uri)
        jobstore.connect()
        try:
            return _Builder(db, target, jobstore, matcher or StructureMatcher()).run()
        finally:
            jobstore.close()


class _Builder:
    def __init__(self, db: Any, target: DbTarget, jobstore: Any, matcher: StructureMatcher) -> None:
        self.db = db
        self.outputs = db[DOCS_COLLECTION]
        self.materials = db[MATERIALS_COLLECTION]
        self.done = db[BUILDER_TASKS_COLLECTION]
        self.target = target
        self.data = jobstore.additional_stores[DATA_STORE_NAME]
        self.matcher = matcher
        self.report = BuildReport()
        self._candidates: dict[tuple[CalcIdentity, str], list[tuple[str, Structure]]] = {}
        self.affected: dict[str, tuple[CalcIdentity, set[str]]] = {}

    def run(self) -> BuildReport:
        schema = self.done.find_one({"_id": SCHEMA_MARK}) or {}
        if schema.get("version") != SCHEMA_VERSION:
            self._reassemble_all()
        done = {d["_id"] for d in self.done.find({}, {"_id": 1})}
        keys = [
            k
            for k in self.outputs.find({}, {"uuid": 1, "index": 1, "completed_at": 1, "_id": 0})
            if task_id(k) not in done
        ]
        keys.sort(key=lambda k: (k.get("completed_at") or "", task_id(k)))
        self.report.new_tasks = len(keys)
        new_docs = self._load([task_id(k) for k in keys])
        # energy tasks first, so a DOS or an elastic tensor finds the material made from the
        # static run it belongs to in the same batch
        ordered = sorted(new_docs, key=lambda d: task_role(d) != "energy")
        marks: list[dict[str, Any]] = []
        for doc in ordered:
            role = task_role(doc)
            mid = self._place(doc, role) if role else None
            if role and mid is None:
                self.report.pending.append(task_id(doc))
                continue
            marks.append(
                {"_id": task_id(doc), "material_id": mid, "completed_at": doc.get("completed_at")}
            )
        self._write_materials()
        for mark in marks:
            self.done.replace_one({"_id": mark["_id"]}, mark, upsert=True)
        if schema.get("version") != SCHEMA_VERSION:
            mark = {"_id": SCHEMA_MARK, "version": SCHEMA_VERSION}
            self.done.replace_one({"_id": SCHEMA_MARK}, mark, upsert=True)
        self.report.processed = len(marks)
        return self.report

    def _reassemble_all(self) -> None:
        """Every material, built by an older schema, is re-assembled from its tasks."""
        fields = {"material_id": 1, "code": 1, "protocol": 1, "pseudo_family": 1, "_id": 0}
        for m in self.materials.find({}, fields):
            identity = CalcIdentity(m["code"], m["protocol"], m["pseudo_family"])
            self.affected.setdefault(m["material_id"], (identity, set()))

    # ---- loading
    def _load(self, ids: list[str]) -> list[dict[str, Any]]:
        wanted = set(ids)
        docs = []
        uuids = sorted({i.rsplit(":", 1)[0] for i in ids})
        for start in range(0, len(uuids), BATCH):
            chunk = uuids[start : start + BATCH]
            for doc in self.outputs.find({"uuid": {"$in": chunk}}, {"_id": 0}):
                if task_id(doc) in wanted:
                    docs.append(doc)
        order = {i: n for n, i in enumerate(ids)}
        return sorted(docs, key=lambda d: order[task_id(d)])

    def _members(self, tasks: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """The strained cells of each elastic tensor and the volume points of each EOS."""
        projection = {f: 1 for f in MEMBER_FIELDS} | {"_id": 0}
        out: dict[str, list[dict[str, Any]]] = {}
        for t in tasks:
            role = task_role(t)
            if role == "elastic":
                uuids = sorted(set((t["output"].get("fitting_data") or {}).get("uuids") or []))
                found = self.outputs.find({"uuid": {"$in": uuids}}, projection)
            elif role == "eos":
                dirs = sorted(t["output"].get("dir_names") or [])
                found = self.outputs.find({"output.dir_name": {"$in": dirs}}, projection)
            else:
                continue
            last: dict[str, dict[str, Any]] = {}
            for doc in found:  # the last index of each job is its final output
                if doc.get("index", 1) >= last.get(doc["uuid"], {}).get("index", 1):
                    last[doc["uuid"]] = doc
            out[task_id(t)] = [
                last[u] for u in sorted(last) if isinstance(last[u].get("output"), dict)
            ]
        return out

    def _load_dos(self, job_doc: dict[str, Any]) -> Any:
        from pymatgen.electronic_structure.dos import CompleteDos, Dos

        raw = job_doc["output"]["dos"]
        if isinstance(raw, dict) and "blob_uuid" in raw:
            blob = self.data.query_one({"blob_uuid": raw["blob_uuid"]})
            raw = blob["data"] if blob else None
        if not isinstance(raw, dict):
            return None
        return (CompleteDos if "pdos" in raw or "structure" in raw else Dos).from_dict(raw)

    # ---- grouping
    def _identity_and_structure(
        self, doc: dict[str, Any], role: str
    ) -> tuple[CalcIdentity, Structure] | None:
        out = doc["output"]
        if role in ("energy", "dos"):
            structure = task_structure(doc)
            return (task_identity(out, doc.get("metadata")), structure) if structure else None
        if role == "elastic":
            uuids = (out.get("fitting_data") or {}).get("uuids") or []
            member = next(iter(self.outputs.find({"uuid": {"$in": uuids[:1]}}, {"_id": 0})), None)
            structure = task_structure(doc)
            if member is None or structure is None or output_class(member) != "PwTaskDoc":
                return None
            return task_identity(member["output"], member.get("metadata")), structure
        dirs = out.get("dir_names") or []
        member = next(iter(self.outputs.find({"output.dir_name": {"$in": dirs}}, {"_id": 0})), None)
        if member is None or (structure := task_structure(member)) is None:
            return None
        return task_identity(member["output"], member.get("metadata")), structure

    def _place(self, doc: dict[str, Any], role: str) -> str | None:
        found = self._identity_and_structure(doc, role)
        if found is None:
            return None
        identity, structure = found
        key = (identity, structure.composition.reduced_formula)
        candidates = self._group(key)
        mid = next((m for m, s in candidates if self.matcher.fit(structure, s)), None)
        if mid is None:
            if role != "energy":
                return None
            mid = material_id_for(
                identity.code, identity.protocol, identity.pseudo_family, task_id(doc)
            )
            candidates.append((mid, structure))
            self.report.created.append(mid)
        self.affected.setdefault(mid, (identity, set()))[1].add(task_id(doc))
        return mid

    def _group(self, key: tuple[CalcIdentity, str]) -> list[tuple[str, Structure]]:
        from pymatgen.core import Structure

        if key not in self._candidates:
            identity, formula = key
            criteria = {
                "formula_reduced": formula,
                "code": identity.code,
                "protocol": identity.protocol,
                "pseudo_family": identity.pseudo_family,
            }
            self._candidates[key] = [
                (m["material_id"], Structure.from_dict(m["structure"]))
                for m in self.materials.find(criteria, {"material_id": 1, "structure": 1, "_id": 0})
            ]
        return self._candidates[key]

    # ---- writing
    def _write_materials(self) -> None:
        from htflow.db.summary import upsert_summary

        new_docs: dict[str, dict[str, Any]] = {}
        old_docs: dict[str, dict[str, Any] | None] = {}
        for mid, (identity, added) in sorted(self.affected.items()):
            old = self.materials.find_one({"_id": mid})
            old_docs[mid] = old
            ids = set(added) | set(((old or {}).get("provenance") or {}).get("task_ids") or [])
            tasks = self._load(sorted(ids))
            material = assemble_material(mid, identity, tasks, self._load_dos, self._members(tasks))
            if material is None:
                continue
            doc = {"_id": mid, **material.model_dump()}
            doc["ml"] = ml_numbers(self.db, doc, self.matcher)
            for name in THERMO_FIELDS:  # kept until recomputed below
                if old is not None and name in old:
                    doc[name] = old[name]
            for part in ("quality", "checks"):  # the formation energy's, likewise
                if FORMATION in ((old or {}).get(part) or {}):
                    doc[part][FORMATION] = old[part][FORMATION]
            new_docs[mid] = doc
        self._update_thermo(new_docs)
        changed = [d for mid, d in new_docs.items() if d != old_docs.get(mid)]
        for doc in changed:
            self.materials.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        if self.target.kind == "embedded":
            upsert_summary(self.target, changed)
        self.report.written = sorted(d["_id"] for d in changed)

    def _update_thermo(self, new_docs: dict[str, dict[str, Any]]) -> None:
        identities = {(d["code"], d["protocol"], d["pseudo_family"]) for d in new_docs.values()}
        for code, protocol, family in sorted(identities):
            criteria = {"code": code, "protocol": protocol, "pseudo_family": family}
            light = {
                m["material_id"]: m for m in self.materials.find(criteria, {k: 1 for k in LIGHT})
            }
            for mid, d in new_docs.items():
                if (d["code"], d["protocol"], d["pseudo_family"]) == (code, protocol, family):
                    light[mid] = d
            touched = {el for d in new_docs.values() for el in d["elements"]}
            affected = {mid for mid, m in light.items() if touched & set(m["elements"])}
            everything = list(light.values())
            self.report.missing_references = sorted(
                set(self.report.missing_references) | set(missing_references(everything))
            )
            for mid, values in thermo_fields(everything, affected).items():
                if mid in new_docs:
                    new_docs[mid].update(values)
                    new_docs[mid].update(formation_quality_fields(new_docs[mid], values, light))
                    continue
                quality = formation_quality_fields(light[mid], values, light)
                if any(light[mid].get(k) != v for k, v in values.items()) or _formation(
                    light[mid]
                ) != _formation(quality):
                    doc = self.materials.find_one({"_id": mid})
                    if doc is not None:
                        doc.update(values)
                        doc.update(formation_quality_fields(doc, values, light))
                        new_docs[mid] = doc


def _formation(doc: dict[str, Any]) -> tuple[Any, Any]:
    """The formation energy's quality label and evidence in a materials document."""
    return (
        (doc.get("quality") or {}).get(FORMATION),
        (doc.get("checks") or {}).get(FORMATION),
    )
