"""Offline candidate sources: files (each format, globs) and prototypes × substitutions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from ase.io import write as ase_write
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.io.cif import CifWriter
from pymatgen.io.vasp import Poscar
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from htflow.campaign.sources import generate_candidates, structures_from_files, substitutions
from htflow.campaign.sources.prototypes import PROTOTYPE_SITES, prototype_structure
from htflow.campaign.sources.remote import from_materials_project, from_optimade, optimade_structure
from htflow.campaign.spec import OptimadeSource, PrototypeSource, Sources
from htflow.exceptions import InputError
from tests.campaign.conftest import rocksalt_nacl, silicon

if TYPE_CHECKING:
    from pathlib import Path


def write_structures(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    CifWriter(silicon()).write_file(directory / "Si.cif")
    CifWriter(rocksalt_nacl()).write_file(directory / "NaCl.cif")
    Poscar(silicon(5.5)).write_file(directory / "POSCAR_Si")
    Poscar(rocksalt_nacl()).write_file(directory / "nacl.vasp")
    frames = [AseAtomsAdaptor.get_atoms(silicon(a)) for a in (5.3, 5.4, 5.5)]
    ase_write(directory / "si_frames.extxyz", frames, format="extxyz")


def test_each_format_and_globs(tmp_path: Path) -> None:
    write_structures(tmp_path / "s")
    found = structures_from_files(["s/*.cif", "s/POSCAR_Si", "s/nacl.vasp", "s/*.extxyz"], tmp_path)
    formulas = [c.formula for c in found]
    assert formulas == ["NaCl", "Si", "Si", "NaCl", "Si", "Si", "Si"]
    assert found[0].entry == "sources.files[0] s/NaCl.cif"
    assert found[5].entry.endswith("si_frames.extxyz@1")
    assert {c.source for c in found} == {"files"}
    assert found[4].structure.lattice.a == pytest.approx(5.3 / 2**0.5, rel=1e-6)


def test_pattern_matching_nothing_names_the_entry(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"sources.files\[0\] 'nope/\*.cif' matches no file"):
        structures_from_files(["nope/*.cif"], tmp_path)


def test_unknown_format(tmp_path: Path) -> None:
    (tmp_path / "x.pdb").write_text("HETATM")
    with pytest.raises(InputError, match=r"x.pdb: unknown structure format"):
        structures_from_files(["x.pdb"], tmp_path)


def test_poscar_with_wrong_number_of_atoms(tmp_path: Path) -> None:
    text = Poscar(silicon()).get_str().splitlines()
    text[6] = "3"  # counts line: 3 declared, 2 positions
    (tmp_path / "POSCAR").write_text("\n".join(text) + "\n")
    with pytest.raises(InputError, match="declares 3 atoms but lists 2 positions"):
        structures_from_files(["POSCAR"], tmp_path)


@pytest.mark.parametrize(
    ("prototype", "sites", "count", "n_sites", "symbol"),
    [
        ("diamond", {"A": ["Si", "Ge", "C"]}, 3, 2, "Fd-3m"),
        ("fcc", {"A": ["Al", "Cu"]}, 2, 1, "Fm-3m"),
        ("bcc", {"A": ["W"]}, 1, 1, "Im-3m"),
        ("sc", {"A": ["Po"]}, 1, 1, "Pm-3m"),
        ("hcp", {"A": ["Mg", "Zn"]}, 2, 2, "P6_3/mmc"),
        ("rocksalt", {"A": ["Na", "K"], "B": ["Cl", "Br", "I"]}, 6, 2, "Fm-3m"),
        ("zincblende", {"A": ["Ga", "In"], "B": ["As", "P"]}, 4, 2, "F-43m"),
        ("wurtzite", {"A": ["Ga"], "B": ["N"]}, 1, 4, "P6_3mc"),
        ("cesium_chloride", {"A": ["Cs"], "B": ["Cl"]}, 1, 2, "Pm-3m"),
        ("perovskite", {"A": ["Sr", "Ba"], "B": ["Ti", "Zr"]}, 4, 5, "Pm-3m"),
    ],
)
def test_prototype_substitution_counts(
    prototype: str, sites: dict[str, list[str]], count: int, n_sites: int, symbol: str
) -> None:
    found = substitutions(PrototypeSource(prototype=prototype, sites=sites), 0)  # type: ignore[arg-type]
    assert len(found) == count
    for candidate in found:
        assert len(candidate.structure) == n_sites
        assert SpacegroupAnalyzer(candidate.structure).get_space_group_symbol() == symbol


def test_same_element_on_two_sites_is_skipped() -> None:
    entry = PrototypeSource(prototype="rocksalt", sites={"A": ["Na", "Cl"], "B": ["Cl"]})
    assert [c.formula for c in substitutions(entry, 0)] == ["NaCl"]


def test_prototype_sites_must_match() -> None:
    entry = PrototypeSource(prototype="rocksalt", sites={"A": ["Na"], "X": ["Cl"]})
    with pytest.raises(InputError, match=r"sources.prototypes\[2\] rocksalt: sites must be A, B"):
        substitutions(entry, 2)


def test_estimated_lattice_constants_are_close() -> None:
    # measured lattice constants (Å): the estimate is a starting point for vc-relax
    for prototype, elements, a in [
        ("fcc", ["Cu"], 3.61),
        ("fcc", ["Al"], 4.05),
        ("diamond", ["C"], 3.57),
        ("rocksalt", ["Na", "Cl"], 5.64),
        ("zincblende", ["Ga", "As"], 5.65),
    ]:
        s = prototype_structure(prototype, elements)
        conventional = SpacegroupAnalyzer(s).get_conventional_standard_structure()
        assert conventional.lattice.a == pytest.approx(a, rel=0.05), (prototype, elements)


def test_explicit_lattice_constant() -> None:
    s = prototype_structure("diamond", ["Si"], 5.47)
    assert s.lattice.a == pytest.approx(5.47 / 2**0.5)


def test_all_prototypes_listed() -> None:
    assert set(PROTOTYPE_SITES) >= {"rocksalt", "zincblende", "wurtzite", "perovskite"}


def test_remote_sources_skip_cleanly_offline() -> None:
    found, note = from_materials_project(["mp-149"], network=True)  # no MP_API_KEY
    assert found == [] and note is not None and "MP_API_KEY" in note
    query = OptimadeSource(provider="https://example.invalid", filter='elements HAS "Si"')
    found, note = from_optimade(query, 0, network=False)
    assert found == [] and note == "sources.optimade[0]: skipped (offline)"


def test_unreachable_optimade_provider_is_a_note() -> None:
    query = OptimadeSource(provider="http://127.0.0.1:9", filter='elements HAS "Si"')
    found, note = from_optimade(query, 3, network=True)
    assert found == [] and note is not None and note.startswith("sources.optimade[3]: skipped")


def test_optimade_structure_conversion() -> None:
    attributes = {
        "lattice_vectors": [[4, 0, 0], [0, 4, 0], [0, 0, 4]],
        "cartesian_site_positions": [[0, 0, 0], [2, 2, 2]],
        "species_at_sites": ["Cs", "Cl"],
        "species": [
            {"name": "Cs", "chemical_symbols": ["Cs"], "concentration": [1.0]},
            {"name": "Cl", "chemical_symbols": ["Cl"], "concentration": [1.0]},
        ],
    }
    s = optimade_structure(attributes)
    assert s is not None and s.composition.reduced_formula == "CsCl"
    attributes["species"][0] = {
        "name": "Cs",
        "chemical_symbols": ["Cs", "K"],
        "concentration": [0.5, 0.5],
    }
    assert optimade_structure(attributes) is None


def test_generate_candidates_mixes_sources(tmp_path: Path) -> None:
    write_structures(tmp_path / "s")
    sources = Sources(
        files=["s/Si.cif"],
        prototypes=[PrototypeSource(prototype="fcc", sites={"A": ["Al"]})],
        materials_project=["mp-149"],
    )
    found, notes = generate_candidates(sources, tmp_path, network=False)
    assert [c.formula for c in found] == ["Si", "Al"]
    assert notes == ["materials_project: 1 ids skipped (offline)"]
