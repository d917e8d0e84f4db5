"""jobflow JobStore on both backends: outputs in the docs store, large objects in "data"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from jobflow import Flow, JobStore, job, run_locally

from htflow.db import get_jobstore

# 2.6 M float64 = 21 MB as an array: above MongoDB's 16 MB document limit.
BIG = 2_600_000


@job(data="values")
def make_big(n: int) -> dict[str, object]:
    """A result with one large array (goes to the data store) and small fields."""
    return {"n": n, "values": np.linspace(0.0, 1.0, n), "label": "big"}


@job
def consume(values: list[float]) -> float:
    """Reads the large array back through a reference."""
    return float(values[-1] + len(values))


def test_jobstore_layout(db_uri: str) -> None:
    store = get_jobstore(db_uri)
    assert isinstance(store, JobStore)
    assert set(store.additional_stores) == {"data"}
    # the store serialises (jobflow sends it to other processes) and reopens the same data
    again = JobStore.from_dict(store.as_dict())
    assert again.docs_store.name == store.docs_store.name


def test_run_locally_round_trip_with_large_object(db_uri: str, tmp_path: Path) -> None:
    store = get_jobstore(db_uri)
    big = make_big(BIG)
    use = consume(big.output["values"])
    responses = run_locally(
        Flow([big, use]), store=store, root_dir=tmp_path, ensure_success=True, log=False
    )
    assert responses[use.uuid][1].output == pytest.approx(1.0 + BIG)

    # a fresh JobStore (as a reader process would open it) resolves the blob back
    reader = get_jobstore(db_uri)
    reader.connect()
    doc = reader.query_one({"uuid": big.uuid}, load=False)
    assert doc is not None
    blob_ref = doc["output"]["values"]
    assert blob_ref["@class"] == "np.ndarray" or "blob_uuid" in blob_ref
    data = reader.additional_stores["data"]
    assert data.count({"job_uuid": big.uuid}) == 1
    out = reader.get_output(big.uuid, load=True)
    assert out["n"] == BIG
    assert len(out["values"]) == BIG
    assert out["values"][-1] == pytest.approx(1.0)
    reader.close()
