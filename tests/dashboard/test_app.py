"""What the old dashboard did and the new one keeps: FireWorks' GUI over the embedded store,
the legacy password, and the materials page with the quality of each property."""

from __future__ import annotations

import base64
import shutil
from typing import TYPE_CHECKING

import pytest

from htflow.dashboard import create_app
from htflow.exceptions import InputError
from tests.dashboard.conftest import ADMIN, login

if TYPE_CHECKING:
    from pathlib import Path

    from flask import Flask

    from htflow.dashboard.users import UserStore


def basic(name: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_fireworks_gui_lists_the_workflows_under_fireworks(app: Flask) -> None:
    client = app.test_client()
    login(client, *ADMIN)
    page = client.get("/fireworks/")
    assert page.status_code == 200
    assert b"alpha GaAs relax_static" in page.data
    # FireWorks' links and static files are under the mount point
    assert b'href="/fireworks/' in page.data
    assert client.get("/fireworks/fw/3").status_code == 200


def test_no_users_and_no_password_refuses_to_start(campaign_db: str) -> None:
    with pytest.raises(InputError, match="users add NAME --role admin"):
        create_app(campaign_db)


def test_legacy_password_is_one_admin_with_basic_auth(
    campaign_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTFLOW_DASHBOARD_PASSWORD", "s3cret")
    client = create_app(campaign_db).test_client()
    assert client.get("/").status_code == 401
    assert client.get("/", headers=basic("htflow", "s3cret")).status_code == 200
    assert client.get("/", headers=basic("htflow", "nope")).status_code == 401
    assert client.get("/fireworks/", headers=basic("htflow", "s3cret")).status_code == 200
    page = client.get("/campaign/alpha", headers=basic("htflow", "s3cret")).get_data(as_text=True)
    assert "htflow (admin)" in page and 'id="pause"' in page


def test_the_default_users_file_wins_over_the_legacy_password(
    campaign_db: str, users_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from htflow.dashboard.users import default_users_file

    monkeypatch.setenv("HTFLOW_DASHBOARD_PASSWORD", "s3cret")
    default_users_file().parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(users_file, default_users_file())
    client = create_app(campaign_db).test_client()
    assert client.get("/", headers=basic("htflow", "s3cret")).status_code == 401
    assert client.get("/", headers=basic(*ADMIN)).status_code == 200


@pytest.fixture
def with_materials(campaign_db: str) -> list[dict[str, object]]:
    """Two materials next to the workflows: one with a suspect elastic tensor."""
    import random

    from htflow.db.collections import open_database
    from htflow.db.materials import MATERIALS_COLLECTION
    from htflow.db.synthetic import synthetic_material

    rng = random.Random(3)
    docs = [synthetic_material(i, rng) for i in range(2)]
    reason = "strained cells on 2 meshes (4×4×4: 5, 5×4×4: 1): the stress jumps"
    for doc, level in zip(docs, ("suspect", "checked"), strict=True):
        doc["k_vrh"] = 90.0
        doc["g_vrh"] = 40.0
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
    with open_database(campaign_db) as (db, _):
        db[MATERIALS_COLLECTION].insert_many(docs)
    return docs


def test_materials_page_shows_quality_reasons_and_plot_links(
    app: Flask, with_materials: list[dict[str, object]]
) -> None:
    client = app.test_client()
    login(client, *ADMIN)
    page = client.get("/htflow/materials")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for doc in with_materials:
        assert doc["material_id"] in html
        for kind in ("dos", "eos", "elastic"):
            assert f'href="/plot/{doc["material_id"]}/{kind}.png"' in html
    assert "K_VRH (GPa)" in html and "q elastic" in html
    assert "strained cells on 2 meshes (4×4×4: 5, 5×4×4: 1)" in html
    assert html.count('class="suspect">suspect</b>') >= 2  # the legend and the suspect tensor
    one = client.get(f"/htflow/materials?campaign={with_materials[1]['material_id']}")
    assert "strained cells on 2 meshes" not in one.get_data(as_text=True)
    missing = client.get("/htflow/materials?campaign=htf-0000000000")
    assert missing.status_code == 200
    assert "no material &#39;htf-0000000000&#39;" in missing.get_data(as_text=True)


def test_plots_render_on_demand(app: Flask, with_materials: list[dict[str, object]]) -> None:
    client = app.test_client()
    login(client, *ADMIN)
    material_id = with_materials[0]["material_id"]
    png = client.get(f"/plot/{material_id}/elastic.png")
    assert png.status_code == 200
    assert png.mimetype == "image/png" and png.data.startswith(b"\x89PNG")
    no_dos = client.get(f"/plot/{material_id}/dos.png")  # the synthetic DOS is not stored
    assert no_dos.status_code == 404
    assert client.get(f"/plot/{material_id}/bands.png").status_code == 404
    assert client.get("/plot/not-an-id/dos.png").status_code == 404


def test_materials_page_needs_sign_in(app: Flask, with_materials: list[dict[str, object]]) -> None:
    client = app.test_client()
    assert client.get("/htflow/materials").status_code == 401
    page = client.get("/htflow/materials", headers=basic(*ADMIN))
    assert page.status_code == 200
    assert str(with_materials[0]["material_id"]) in page.get_data(as_text=True)


def test_campaign_materials_page(app: Flask, users: UserStore) -> None:
    client = app.test_client()
    login(client, *ADMIN)
    page = client.get("/campaign/alpha/materials")
    assert page.status_code == 200
    assert "Materials: alpha (0)" in page.get_data(as_text=True)
