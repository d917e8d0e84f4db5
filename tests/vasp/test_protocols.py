"""VASP protocols: YAML data mapped onto atomate2 generator settings."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from htflow.exceptions import InputError
from htflow.vasp.flows import potcar_symbols, vasp_makers
from htflow.vasp.protocol import available_protocols, load_protocol

pytestmark = pytest.mark.filterwarnings("ignore")


def nacl() -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0] * 3, [0.5] * 3]
    )


def _incar(protocol: str, role: str, structure: Structure) -> dict:
    maker = vasp_makers(load_protocol(protocol), lambda _t: {})[role]
    return dict(maker.input_set_generator.get_input_set(structure, potcar_spec=True).incar)


def _kpoints(protocol: str, role: str, structure: Structure) -> int:
    maker = vasp_makers(load_protocol(protocol), lambda _t: {})[role]
    kpts = maker.input_set_generator.get_input_set(structure, potcar_spec=True).kpoints
    return kpts.kpts[0][0] * kpts.kpts[0][1] * kpts.kpts[0][2]


def test_shipped_protocols() -> None:
    assert available_protocols() == ["balanced", "fast", "stringent"]
    for name in available_protocols():
        protocol = load_protocol(name)
        assert protocol.input_set == "mp_gga"
        assert protocol.description


def test_balanced_is_materials_project_gga() -> None:
    structure = nacl()  # 8 atoms in the conventional cell
    incar = _incar("balanced", "relax1", structure)
    assert incar["ENCUT"] == 520
    assert incar["EDIFF"] == pytest.approx(5e-5 * len(structure))
    assert (incar["ISIF"], incar["NSW"], incar["EDIFFG"]) == (3, 99, -0.05)
    assert "GGA" not in incar  # PBE, not atomate2's PBEsol base
    assert potcar_symbols(load_protocol("balanced"), structure) == ("PBE", ["Na_pv", "Cl"])
    static = _incar("balanced", "static", structure)
    assert (static["NSW"], static["ISMEAR"]) == (0, -5)


def test_precision_increases_fast_to_stringent() -> None:
    structure = nacl()
    ediff = [_incar(p, "static", structure)["EDIFF"] for p in ("fast", "balanced", "stringent")]
    kpts = [_kpoints(p, "static", structure) for p in ("fast", "balanced", "stringent")]
    assert ediff[0] > ediff[1] > ediff[2]
    assert kpts[0] < kpts[1] < kpts[2]
    assert not load_protocol("fast").double_relax
    assert load_protocol("stringent").double_relax


def test_elastic_keeps_its_fixed_cell_settings() -> None:
    incar = _incar("balanced", "elastic_relax", nacl())
    assert (incar["ISIF"], incar["IBRION"], incar["ENCUT"], incar["EDIFF"]) == (2, 2, 700, 1e-7)


def test_nscf_densities_from_protocol() -> None:
    maker = vasp_makers(load_protocol("stringent"), lambda _t: {})["nscf_uniform"]
    assert maker.input_set_generator.reciprocal_density == 1000
    assert maker.input_set_generator.line_density == 40


def test_unknown_protocol_is_one_line() -> None:
    with pytest.raises(InputError, match="unknown VASP protocol 'precise': use one of balanced"):
        load_protocol("precise")
