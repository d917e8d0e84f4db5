"""Elastic references: the shipped copy, file checks, selection, orientation, comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from atomate2.common.jobs.elastic import generate_elastic_deformations
from pymatgen.analysis.elasticity import ElasticTensor
from pymatgen.core import Lattice, Structure

from htflow.exceptions import InputError
from htflow.verify.elastic_metrics import (
    ElasticAcceptance,
    born_stable,
    compare_elastic,
    symmetry_distinct_components,
)
from htflow.verify.elastic_reference import DATA_FILE, load_elastic_references
from htflow.verify.elastic_runner import standard_cell

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "elastic"

CUBIC_AL = [
    [104.0, 73.0, 73.0, 0.0, 0.0, 0.0],
    [73.0, 104.0, 73.0, 0.0, 0.0, 0.0],
    [73.0, 73.0, 104.0, 0.0, 0.0, 0.0],
    [0.0, 0.0, 0.0, 32.0, 0.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, 32.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, 0.0, 32.0],
]


def al_cif() -> str:
    # fcc Al as the Materials Project stores it: primitive, a along x, 60° angles
    lattice = Lattice.from_parameters(2.856, 2.856, 2.856, 60, 60, 60)
    return str(Structure(lattice, ["Al"], [[0, 0, 0]]).to(fmt="cif"))


def al_entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "formula": "Al",
        "crystal_system": "cubic",
        "nsites": 1,
        "elastic_tensor_voigt_GPa": CUBIC_AL,
        "K_Voigt_GPa": 83,
        "G_Voigt_GPa": 25,
        "poisson_ratio": 0.37,
        "cif": al_cif(),
    }
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not None}


def write_reference(path: Path, materials: dict[str, Any], **top: Any) -> Path:
    data = {"citation": "test citation", "description": "test", "materials": materials, **top}
    path.write_text(json.dumps(data))
    return path


@pytest.mark.shared
def test_shipped_copy_is_verbatim() -> None:
    shared = SHARED / "mp_elastic_dev.json"
    if not shared.is_file():
        pytest.skip(f"{shared} is missing (the shared reference directory is not mounted)")
    assert DATA_FILE.read_bytes() == shared.read_bytes()


def test_shipped_references_load_with_their_citation() -> None:
    refs = load_elastic_references()
    assert refs.path == DATA_FILE
    assert "Sci. Data 2, 150009 (2015)" in refs.citation
    assert set(refs.materials) == {"mp-134", "mp-2534", "mp-1087", "mp-11229", "mp-2469"}
    for ref in refs.materials.values():
        assert ref.structure.composition.reduced_formula == ref.formula
        # the file's K_V and G_V are the Voigt averages of its tensor, rounded to 1 GPa
        tensor = ElasticTensor.from_voigt(ref.elastic_tensor)
        assert tensor.k_voigt == pytest.approx(ref.k_voigt, abs=0.7)
        assert tensor.g_voigt == pytest.approx(ref.g_voigt, abs=0.7)


def test_selection_by_id_or_formula() -> None:
    refs = load_elastic_references()
    assert [r.material_id for r in refs.select(["mp-134", "GaAs"])] == ["mp-134", "mp-2534"]
    assert [r.material_id for r in refs.select(["MP-134", "AsGa", "Al"])] == ["mp-134", "mp-2534"]
    assert len(refs.select(None)) == len(refs.select([])) == 5
    with pytest.raises(InputError, match=r"no elastic reference for 'Cu' .*mp-134 Al"):
        refs.select(["Cu"])


@pytest.mark.parametrize("material_id", ["mp-134", "mp-2534", "mp-1087", "mp-2469"])
def test_standard_cell_gives_six_deformations_for_fcc_cells(material_id: str) -> None:
    structure = load_elastic_references().materials[material_id].structure
    # as stored (a along x, 60°) the symmetry reduction fails: all 20 strains
    assert len(generate_elastic_deformations.original(structure)) == 20
    standard = standard_cell(structure)
    assert len(generate_elastic_deformations.original(standard)) == 6
    assert standard.volume == pytest.approx(structure.volume)
    assert standard.composition == structure.composition


@pytest.mark.parametrize(
    ("materials", "message"),
    [
        ({"mp-134": al_entry(K_Voigt_GPa=None)}, "material 'mp-134': field 'K_Voigt_GPa' missing"),
        ({"mp-134": al_entry(cif=None)}, "material 'mp-134': field 'cif' missing"),
        ({"x-1": al_entry(cif="not a cif")}, "material 'x-1': field 'cif' does not parse"),
        (
            {"mp-134": al_entry(elastic_tensor_voigt_GPa=[[1.0] * 6] * 5)},
            "field 'elastic_tensor_voigt_GPa' invalid",
        ),
        ({"mp-134": al_entry(G_Voigt_GPa=-3)}, "field 'G_Voigt_GPa' invalid"),
        ({"mp-134": al_entry(formula="Cu")}, "field 'formula' is 'Cu' but the CIF holds Al"),
        ({}, "field 'materials' must map"),
    ],
)
def test_malformed_files_name_file_material_and_field(
    tmp_path: Path, materials: dict[str, Any], message: str
) -> None:
    path = write_reference(tmp_path / "ref.json", materials)
    with pytest.raises(InputError, match="fix the file") as info:
        load_elastic_references(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_missing_citation_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "ref.json"
    path.write_text(json.dumps({"materials": {"mp-134": al_entry()}}))
    with pytest.raises(InputError, match="field 'citation' missing"):
        load_elastic_references(path)
    with pytest.raises(InputError, match=r"nope\.json not found"):
        load_elastic_references(tmp_path / "nope.json")


def test_symmetry_distinct_components_follow_the_crystal() -> None:
    al = load_elastic_references().materials["mp-134"].structure
    assert symmetry_distinct_components(al) == [
        [(0, 0), (1, 1), (2, 2)],
        [(0, 1), (0, 2), (1, 2)],
        [(3, 3), (4, 4), (5, 5)],
    ]
    zn = Structure(
        Lattice.hexagonal(2.66, 4.95), ["Zn", "Zn"], [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]
    )
    labels = [group[0] for group in symmetry_distinct_components(zn)]
    # C11, C12, C13, C33, C44 and C66 (= (C11 - C12)/2, a dependent one)
    assert labels == [(0, 0), (0, 1), (0, 2), (2, 2), (3, 3), (5, 5)]


def test_compare_identical_and_scaled_tensors() -> None:
    ref = load_elastic_references().materials["mp-134"]
    same = compare_elastic(ref.elastic_tensor, ref, ref.structure)
    assert [(c.label, c.computed, c.reference) for c in same.components] == [
        ("C11", 104.0, 104.0),
        ("C12", 73.0, 73.0),
        ("C44", 32.0, 32.0),
    ]
    assert same.max_abs_delta_cij == 0.0
    assert same.k_voigt == pytest.approx((104 + 2 * 73) / 3)
    assert same.g_voigt == pytest.approx((104 - 73 + 3 * 32) / 5)
    assert same.verdict == "within"
    assert same.born_stable

    # 12 % stiffer: K off by ~13 % (> 10 %), G by ~14 % (< 15 %)
    stiffer = compare_elastic(np.array(ref.elastic_tensor) * 1.12, ref, ref.structure)
    assert stiffer.max_abs_delta_cij == pytest.approx(104 * 0.12)
    assert stiffer.k_relative_error == pytest.approx(abs(83.33 * 1.12 - 83) / 83, rel=1e-3)
    assert stiffer.verdict == "outside"
    loose = ElasticAcceptance(bulk_relative=0.2, shear_relative=0.2)
    assert compare_elastic(
        np.array(ref.elastic_tensor) * 1.12, ref, ref.structure, loose
    ).verdict == ("within")


def test_born_stability() -> None:
    assert born_stable(CUBIC_AL)
    unstable = np.array(CUBIC_AL)
    unstable[0, 1] = unstable[1, 0] = 110.0  # C12 > C11: the tetragonal shear mode is soft
    assert not born_stable(unstable)
