"""Storage test fixtures: one URI per backend (embedded always, MongoDB when configured)."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

MONGODB_ENV = "HTFLOW_TEST_MONGODB_URI"


def _mongodb_uri(database: str) -> str:
    """The test server's URI with its database replaced by ``database``."""
    base = os.environ[MONGODB_ENV]
    scheme, rest = base.split("://", 1)
    hosts, _, tail = rest.partition("/")
    options = tail.partition("?")[2]
    return f"{scheme}://{hosts}/{database}" + (f"?{options}" if options else "")


@pytest.fixture(params=["embedded", "mongodb"])
def db_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URI: an embedded store under tmp_path, or a throwaway MongoDB database."""
    if request.param == "embedded":
        yield f"file://{tmp_path / 'db'}"
        return
    if not os.environ.get(MONGODB_ENV):
        pytest.skip(f"{MONGODB_ENV} is not set (no MongoDB server to test against)")
    database = f"htflow_test_{uuid.uuid4().hex[:12]}"
    uri = _mongodb_uri(database)
    yield uri
    import pymongo

    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(uri)
    client.drop_database(database)
    client.close()
