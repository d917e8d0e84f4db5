"""The JobStore a compute job sees: JSON files inside its launch directory.

Every Firework htflow submits runs its jobflow job against :func:`launch_jobstore`, a
``JobStore`` of file-writable ``JSONStore`` s with *relative* paths. ``JobFiretask`` connects
the store in the launch directory (its working directory), so:

- before launch, the agent **seeds** the files with the outputs the job references
  (:func:`seed_references`): jobflow resolves ``OutputReference`` s from them exactly as it
  would from the real store, and the compute node needs no database;
- after the run, the agent **harvests** the job's own outputs from the files into its real
  JobStore (:func:`harvest_outputs`).

Nothing in these files names a database: they hold documents only.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobflow import JobStore
from maggma.core import Store
from maggma.stores import JSONStore

from htflow.exceptions import HtflowError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from jobflow import Job

logger = logging.getLogger(__name__)

DOCS_FILE = "jobstore.json"
SEED_MANIFEST = "htflow_seed.json"
DEFAULT_ADDITIONAL_STORES = ("data",)


def additional_store_file(name: str) -> str:
    """File name of the additional store ``name`` (e.g. the ``data`` store for DOS)."""
    return f"jobstore_{name}.json"


def launch_jobstore(
    additional_stores: Sequence[str] = DEFAULT_ADDITIONAL_STORES, directory: Path | None = None
) -> JobStore:
    """The launch-directory JobStore.

    Parameters
    ----------
    additional_stores
        Names of the additional stores; they must match the agent's JobStore (``data``).
    directory
        None for relative paths (what is serialized into a Firework; resolved in the launch
        directory at run time); a directory to open the same files from elsewhere (the agent).
    """

    def path(name: str) -> str:
        return name if directory is None else str(Path(directory) / name)

    # One document per key in each file: a launch directory holds one run of one job, plus the
    # last output of each job it references (which is all jobflow's resolution reads).
    docs = JSONStore(path(DOCS_FILE), read_only=False, key="uuid")
    extra: dict[str, Store] = {
        name: JSONStore(path(additional_store_file(name)), read_only=False, key="blob_uuid")
        for name in additional_stores
    }
    return JobStore(docs, additional_stores=extra)


def additional_stores_of(jobstore: JobStore) -> dict[str, Store]:
    """``jobstore.additional_stores`` (jobflow leaves the attribute's type to inference)."""
    stores: dict[str, Store] = vars(jobstore)["additional_stores"]
    return stores


def _clean(doc: dict[str, Any]) -> dict[str, Any]:
    doc = dict(doc)
    doc.pop("_id", None)
    return doc


def seed_references(job: Job, jobstore: JobStore, launch_dir: Path) -> list[str]:
    """Copy the outputs ``job`` references from ``jobstore`` into ``launch_dir``'s files.

    References are followed transitively: an output that itself holds references (e.g. a
    job replaced by a flow whose output lists its children's outputs, as the EOS and elastic
    flows do) brings the outputs it points at too, since jobflow resolves them all at run time.

    Returns the uuids seeded. Writes :data:`SEED_MANIFEST` so that ingestion can tell the
    seeded documents from the job's own. A reference whose output is missing is logged and
    left out: jobflow then applies the job's ``on_missing_references`` policy at run time.
    """
    pending = sorted(set(job.input_uuids))
    seen: set[str] = set()
    local = launch_jobstore(tuple(additional_stores_of(jobstore)), directory=launch_dir)
    local.connect()
    seeded = []
    while pending:
        uuid = pending.pop(0)
        if uuid in seen:
            continue
        seen.add(uuid)
        docs = list(jobstore.docs_store.query({"uuid": uuid}, sort={"index": -1}, limit=1))
        if not docs:
            logger.warning("job %s references %s, whose output is not in the store", job.uuid, uuid)
            continue
        doc = _clean(docs[0])
        local.docs_store.update(doc, key="uuid")
        for name, store in additional_stores_of(jobstore).items():
            blobs = [_clean(b) for b in store.query({"job_uuid": uuid, "job_index": doc["index"]})]
            if blobs:
                additional_stores_of(local)[name].update(blobs, key="blob_uuid")
        seeded.append(uuid)
        pending += sorted(referenced_uuids(doc.get("output")) - seen)
    (launch_dir / SEED_MANIFEST).write_text(json.dumps({"job": job.uuid, "seeded": seeded}))
    return seeded


def referenced_uuids(value: object) -> set[str]:
    """uuids of the serialized ``OutputReference``s anywhere inside ``value``."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("@class") == "OutputReference" and isinstance(item.get("uuid"), str):
                found.add(item["uuid"])
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return found


def harvest_outputs(launch_dir: Path, jobstore: JobStore, job_uuids: Iterable[str]) -> int:
    """Upsert the outputs of ``job_uuids`` found in ``launch_dir``'s files into ``jobstore``.

    Upserts keyed on (uuid, index) and blob_uuid make this idempotent. Returns the number of
    output documents copied. Blobs go first, so a document never points at a missing blob.
    """
    if not (launch_dir / DOCS_FILE).exists():
        return 0
    wanted = sorted(set(job_uuids))
    local = _read_only_store(launch_dir, tuple(additional_stores_of(jobstore)))
    docs = [_clean(d) for d in local.docs_store.query({"uuid": {"$in": wanted}})]
    for name, store in additional_stores_of(local).items():
        target = additional_stores_of(jobstore).get(name)
        if target is None:
            raise HtflowError(
                f"{launch_dir} holds outputs for an additional store {name!r} that the agent's "
                f"JobStore lacks: configure a {name!r} store"
            )
        blobs = [_clean(b) for b in store.query({"job_uuid": {"$in": wanted}})]
        if blobs:
            target.update(blobs, key="blob_uuid")
    if docs:
        jobstore.docs_store.update(docs, key=["uuid", "index"])
    return len(docs)


def _read_only_store(launch_dir: Path, names: Sequence[str]) -> JobStore:
    docs = JSONStore(str(launch_dir / DOCS_FILE), read_only=True, key="uuid")
    extra: dict[str, Store] = {}
    for name in names:
        path = launch_dir / additional_store_file(name)
        if path.exists():
            extra[name] = JSONStore(str(path), read_only=True, key="blob_uuid")
    store = JobStore(docs, additional_stores=extra)
    store.connect()
    return store
