"""The dashboard serves the FireWorks web GUI over the embedded store, with optional auth."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fireworks import Firework, ScriptTask, Workflow

from htflow.dashboard import check_bind, create_app
from htflow.db import get_launchpad
from htflow.exceptions import InputError


@pytest.fixture
def db_uri(tmp_path: Path) -> str:
    uri = f"file://{tmp_path}/db"
    lp = get_launchpad(uri)
    fw = Firework(ScriptTask.from_str("echo hi"), name="si-static")
    lp.add_wf(Workflow([fw], name="campaign-demo"))
    return uri


def test_index_lists_the_workflow(db_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTFLOW_DASHBOARD_PASSWORD", raising=False)
    client = create_app(db_uri).test_client()
    page = client.get("/")
    assert page.status_code == 200
    assert b"campaign-demo" in page.data


def test_password_turns_on_basic_auth(db_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTFLOW_DASHBOARD_PASSWORD", "s3cret")
    client = create_app(db_uri).test_client()
    assert client.get("/").status_code == 401
    token = base64.b64encode(b"htflow:s3cret").decode()
    assert client.get("/", headers={"Authorization": f"Basic {token}"}).status_code == 200
    wrong = base64.b64encode(b"htflow:nope").decode()
    assert client.get("/", headers={"Authorization": f"Basic {wrong}"}).status_code == 401


def test_public_bind_needs_a_password() -> None:
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "pw")
    with pytest.raises(InputError, match="without a password"):
        check_bind("0.0.0.0", None)
    with pytest.raises(InputError, match="not an IP address"):
        check_bind("example", None)


@pytest.fixture
def with_materials(db_uri: str) -> list[dict[str, object]]:
    """Two materials next to the workflow: one with a suspect elastic tensor."""
    import random

    from htflow.db.collections import open_database
    from htflow.db.materials import MATERIALS_COLLECTION
    from htflow.db.synthetic import synthetic_material

    rng = random.Random(3)
    docs = [synthetic_material(i, rng) for i in range(2)]
    reason = "strained cells on 2 meshes (4×4×4: 5, 5×4×4: 1): the stress jumps"
    for doc, level in zip(docs, ("suspect", "checked"), strict=True):
        doc["k_vrh"] = 90.0
        doc["quality"] = {"energy": "checked", "elastic": level}
        doc["checks"] = {
            "energy": {"level": "checked", "reasons": [], "checks": [], "settings": {}},
            "elastic": {
                "level": level,
                "reasons": [reason] if level == "suspect" else [],
                "checks": [],
                "settings": {},
            },
        }
    with open_database(db_uri) as (db, _):
        db[MATERIALS_COLLECTION].insert_many(docs)
    return docs


def test_materials_page_shows_quality_and_reasons(
    db_uri: str, with_materials: list[dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HTFLOW_DASHBOARD_PASSWORD", raising=False)
    client = create_app(db_uri).test_client()
    page = client.get("/htflow/materials")
    assert page.status_code == 200
    html = page.data.decode()
    for doc in with_materials:
        assert doc["material_id"] in html
    assert "K_VRH (GPa)" in html and "q elastic" in html
    assert "strained cells on 2 meshes (4×4×4: 5, 5×4×4: 1)" in html
    assert html.count(">suspect</b>") >= 2  # the legend and the suspect tensor
    one = client.get(f"/htflow/materials?campaign={with_materials[1]['material_id']}")
    assert "strained cells on 2 meshes" not in one.data.decode()
    missing = client.get("/htflow/materials?campaign=htf-0000000000")
    assert missing.status_code == 200
    assert "no material &#39;htf-0000000000&#39;" in missing.data.decode()


def test_materials_page_needs_the_password(
    db_uri: str, with_materials: list[dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTFLOW_DASHBOARD_PASSWORD", "s3cret")
    client = create_app(db_uri).test_client()
    assert client.get("/htflow/materials").status_code == 401
    token = base64.b64encode(b"htflow:s3cret").decode()
    page = client.get("/htflow/materials", headers={"Authorization": f"Basic {token}"})
    assert page.status_code == 200
    assert str(with_materials[0]["material_id"]) in page.data.decode()
